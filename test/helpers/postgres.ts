import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ensureDatabase,
  initPostgres,
  PostgresInstance,
  postgresBinDir,
  postgresUrl,
  startPostgres,
} from '../../infra/cluster/postgres';
import { ProcessRecord, stopProcess } from '../../infra/cluster/processes';
import { freePort } from '../../infra/cluster/wait';

export interface TestPostgres {
  url: string;
  instance: PostgresInstance;
  process: ProcessRecord;
  stop(): Promise<void>;
}

/** A real PostgreSQL server in a temporary directory on a free port; stop() removes it all. */
export async function startTestPostgres(): Promise<TestPostgres> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-pg-'));
  chmodSync(dir, 0o755); // the postgres OS user must reach its data dir
  const instance: PostgresInstance = {
    dataDir: path.join(dir, 'data'),
    socketDir: path.join(dir, 'socket'),
    port: await freePort(),
    password: 'test-only-password',
  };
  const binDir = postgresBinDir();
  await initPostgres(instance, binDir);
  const proc = startPostgres(instance, binDir, path.join(dir, 'postgres.log'));
  const stop = async (): Promise<void> => {
    await stopProcess(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await ensureDatabase(instance);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: postgresUrl(instance), instance, process: proc, stop };
}
