import execa from 'execa';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkdirPrivate } from './private-dir';
import { Client } from 'pg';
import { ProcessRecord, spawnDetached, stopProcess } from './processes';
import { freePort, waitFor } from './wait';

/** The OS user PostgreSQL runs as (it refuses to run as root). Created by Debian's postgresql package. */
const PG_OS_USER = 'postgres';
/** The database superuser the cluster creates, and the application database. */
export const PG_USER = 'zanshin';
export const PG_DATABASE = 'zanshin';

/** The newest PostgreSQL server installed under /usr/lib/postgresql, unless ZANSHIN_PG_BINDIR names one. */
export function postgresBinDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ZANSHIN_PG_BINDIR) return env.ZANSHIN_PG_BINDIR;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'postgres')))
    : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) {
    throw new Error(
      "no PostgreSQL server found under /usr/lib/postgresql: run infra/provision.sh (installs Debian's postgresql) or set ZANSHIN_PG_BINDIR",
    );
  }
  return path.join(root, versions[0]!, 'bin');
}

async function pgUserIds(): Promise<{ uid: number; gid: number }> {
  const uid = await execa('id', ['-u', PG_OS_USER], { reject: false });
  const gid = await execa('id', ['-g', PG_OS_USER], { reject: false });
  if (uid.exitCode !== 0)
    throw new Error(`the OS user "${PG_OS_USER}" is missing: install Debian's postgresql package (infra/provision.sh)`);
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

const asPostgres = (argv: string[]): string[] => [
  'setpriv',
  `--reuid=${PG_OS_USER}`,
  `--regid=${PG_OS_USER}`,
  '--init-groups',
  ...argv,
];

export interface PostgresInstance {
  dataDir: string;
  socketDir: string;
  port: number;
  password: string;
}

/** Creates the database cluster once (scram-sha-256 everywhere); later calls keep the existing one. */
export async function initPostgres(pg: PostgresInstance, binDir: string): Promise<'created' | 'existing'> {
  if (existsSync(path.join(pg.dataDir, 'PG_VERSION'))) return 'existing';
  const { uid, gid } = await pgUserIds();
  for (const dir of [pg.dataDir, pg.socketDir]) {
    mkdirPrivate(dir);
    chownSync(dir, uid, gid);
  }
  const pwfile = path.join(pg.dataDir, '..', `.pwfile-${process.pid}`);
  writeFileSync(pwfile, pg.password + '\n', { mode: 0o600 });
  chownSync(pwfile, uid, gid);
  try {
    const [cmd, ...args] = asPostgres([
      path.join(binDir, 'initdb'),
      '-D',
      pg.dataDir,
      '-U',
      PG_USER,
      `--pwfile=${pwfile}`,
      '--auth=scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C',
    ]);
    const result = await execa(cmd!, args, { reject: false, all: true });
    if (result.exitCode !== 0) {
      throw new Error(
        `initdb failed (is ${path.dirname(pg.dataDir)} reachable by the "${PG_OS_USER}" user?): ${result.all ?? ''}`,
      );
    }
  } finally {
    rmSync(pwfile, { force: true });
  }
  return 'created';
}

/** Starts the postmaster as the postgres user, listening on 127.0.0.1 only. */
export function startPostgres(pg: PostgresInstance, binDir: string, log: string): ProcessRecord {
  return spawnDetached(
    'postgres',
    asPostgres([
      path.join(binDir, 'postgres'),
      '-D',
      pg.dataDir,
      '-p',
      String(pg.port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${pg.socketDir}`,
    ]),
    { log, stopSignal: 'SIGINT' },
  );
}

export function postgresUrl(pg: PostgresInstance, database = PG_DATABASE, withPassword = true): string {
  const auth = withPassword ? `${PG_USER}:${encodeURIComponent(pg.password)}` : PG_USER;
  return `postgres://${auth}@127.0.0.1:${pg.port}/${database}`;
}

/** Waits until PostgreSQL accepts logins, then creates the application database if it is missing. */
export async function ensureDatabase(pg: PostgresInstance, timeoutMs = 30_000): Promise<void> {
  const admin = (): Client => new Client({ connectionString: postgresUrl(pg, 'postgres') });
  await waitFor(
    `PostgreSQL on 127.0.0.1:${pg.port}`,
    async () => {
      const client = admin();
      try {
        await client.connect();
        return true;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    timeoutMs,
  );
  const client = admin();
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [PG_DATABASE]);
    if (!rowCount) await client.query(`CREATE DATABASE ${PG_DATABASE}`);
  } finally {
    await client.end();
  }
}

/** A libpq password file, so processes get the password without it appearing in their environment. */
export function writePgpass(file: string, pg: PostgresInstance): void {
  writeFileSync(file, `127.0.0.1:${pg.port}:*:${PG_USER}:${pg.password.replace(/([:\\])/g, '\\$1')}\n`, {
    mode: 0o600,
  });
}

export interface ScratchPostgres {
  url: string;
  instance: PostgresInstance;
  process: ProcessRecord;
  stop(): Promise<void>;
}

/** A real PostgreSQL server in a temporary directory on a free port (tests, benches); stop() removes it all. */
export async function startScratchPostgres(): Promise<ScratchPostgres> {
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
