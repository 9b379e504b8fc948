// migration-api process: HTTP over PostgreSQL.
import { Pool } from 'pg';
import { apiConfig } from '../common/config';
import { buildApi } from './app';
import { migrate } from './db';

async function main(): Promise<void> {
  const config = apiConfig();
  const db = new Pool({ connectionString: config.databaseUrl, max: 10 });
  const { applied } = await migrate(db);
  if (applied.length) console.log(`migration-api: applied database migrations ${applied.join(', ')}`);
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
