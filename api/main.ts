// migration-api process: HTTP over PostgreSQL.
import { Pool } from 'pg';
import { apiConfig } from '../common/config';
import { buildApi } from './app';

async function main(): Promise<void> {
  const config = apiConfig();
  const db = new Pool({ connectionString: config.databaseUrl, max: 10 });
  const app = buildApi({ db, adminToken: config.adminToken, nodeToken: config.nodeToken, logger: true });
  const shutdown = async (): Promise<void> => {
    await app.close();
    await db.end();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
  await app.listen({ host: config.host, port: config.port });
}

main().catch((err: unknown) => {
  console.error(`migration-api: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
