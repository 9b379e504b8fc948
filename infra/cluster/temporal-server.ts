// Temporal's own server for the cluster (`--temporal server`, issue 32): built from its Go module with Zanshin's
// authorizer (infra/temporal-server/, provisioned by infra/lib/temporal-server.sh), its schema set up with Temporal's
// SQL tool in the cluster's PostgreSQL, mutual TLS with the cluster's PKI on every connection, the control plane's
// and the PCs' included.
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import execa from 'execa';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { GATE_SERVER_NAME } from './pki';
import { PG_USER, PostgresInstance, postgresUrl } from './postgres';

/** What infra/lib/temporal-server.sh leaves in its directory. */
export function temporalServerFiles(dir: string): { server: string; sqlTool: string; schema: string } {
  const files = {
    server: path.join(dir, 'zanshin-temporal'),
    sqlTool: path.join(dir, 'temporal-sql-tool'),
    schema: path.join(dir, 'schema', 'postgresql', 'v12'),
  };
  for (const [what, file] of Object.entries(files))
    if (!existsSync(file))
      throw new Error(`the Temporal server's ${what} (${file}) is missing: run infra/provision.sh (it builds it once)`);
  return files;
}

/** Temporal's two databases in the cluster's PostgreSQL. */
export const TEMPORAL_DATABASES = { main: 'temporal', visibility: 'temporal_visibility' } as const;

/**
 * Creates Temporal's databases and brings their schema to the version the server expects, with Temporal's own SQL
 * tool (setup once, then update-schema: a cluster started again, or a newer server, applies only what is missing).
 */
export async function setUpTemporalSchema(
  pg: PostgresInstance,
  files: { sqlTool: string; schema: string },
  log: (line: string) => void,
): Promise<void> {
  const env = { SQL_PASSWORD: pg.password };
  for (const [kind, database] of Object.entries(TEMPORAL_DATABASES)) {
    const tool = (...args: string[]) =>
      execa(
        files.sqlTool,
        [
          '--plugin',
          'postgres12',
          '--ep',
          '127.0.0.1',
          '-p',
          String(pg.port),
          '-u',
          PG_USER,
          '--db',
          database,
          ...args,
        ],
        { env, all: true },
      ).catch((err: execa.ExecaError) => {
        throw new Error(`temporal-sql-tool ${args[0]} of ${database} failed: ${err.all ?? err.message}`);
      });
    if (!(await databaseExists(pg, database))) await tool('create-database');
    if (!(await hasSchemaVersion(pg, database))) await tool('setup-schema', '-v', '0.0');
    const versioned = path.join(files.schema, kind === 'main' ? 'temporal' : 'visibility', 'versioned');
    await tool('update-schema', '-d', versioned);
    log(`Temporal ${kind} schema ready in database ${database}`);
  }
}

async function withPg<T>(pg: PostgresInstance, database: string, fn: (c: PgClient) => Promise<T>): Promise<T> {
  const client = new PgClient({ connectionString: postgresUrl(pg, database) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const databaseExists = (pg: PostgresInstance, name: string) =>
  withPg(
    pg,
    'postgres',
    async (c) => !!(await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount,
  );

const hasSchemaVersion = (pg: PostgresInstance, database: string) =>
  withPg(pg, database, async (c) => {
    const { rows } = await c.query<{ t: string | null }>("SELECT to_regclass('schema_version')::text AS t");
    return rows[0]?.t !== null;
  });

export interface TemporalServerLayout {
  /** The frontend's gRPC port (mutual TLS), on `host`. */
  frontendPort: number;
  host: string;
  /** Frontend membership; history, matching, worker gRPC and membership (loopback). */
  servicePorts: number[];
  pg: PostgresInstance;
  tls: {
    ca: string;
    /** The services' own certificate (server and client: they call each other with it). */
    peer: { crt: string; key: string };
    /** The system worker's client certificate (CN temporal-system). */
    systemWorker: { crt: string; key: string };
  };
}

/**
 * The server's configuration. Written as JSON, which Temporal's YAML loader reads as it is (no YAML library for one
 * file). The PostgreSQL password comes from the environment (ZANSHIN_TEMPORAL_PG_PASSWORD), not the file.
 */
export function temporalServerConfig(o: TemporalServerLayout): Record<string, unknown> {
  const [
    frontendMembership,
    historyGrpc,
    historyMembership,
    matchingGrpc,
    matchingMembership,
    workerGrpc,
    workerMembership,
  ] = o.servicePorts;
  const store = (database: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName: database,
      connectAddr: `127.0.0.1:${o.pg.port}`,
      connectProtocol: 'tcp',
      user: PG_USER,
      password: '{{ env `ZANSHIN_TEMPORAL_PG_PASSWORD` }}', // a raw string: JSON would escape quotes
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const serverTls = {
    certFile: o.tls.peer.crt,
    keyFile: o.tls.peer.key,
    requireClientAuth: true,
    clientCaFiles: [o.tls.ca],
  };
  const clientTls = { serverName: GATE_SERVER_NAME, rootCaFiles: [o.tls.ca] };
  const rpc = (grpcPort: number | undefined, membershipPort: number | undefined) => ({
    rpc: { grpcPort, membershipPort, bindOnIP: o.host },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'zanshin-default',
      visibilityStore: 'zanshin-visibility',
      numHistoryShards: 4,
      datastores: {
        'zanshin-default': store(TEMPORAL_DATABASES.main, 20),
        'zanshin-visibility': store(TEMPORAL_DATABASES.visibility, 4),
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: o.host },
      tls: {
        internode: { server: serverTls, client: clientTls },
        frontend: { server: serverTls, client: clientTls },
        systemWorker: { certFile: o.tls.systemWorker.crt, keyFile: o.tls.systemWorker.key, client: clientTls },
        // Certificates replaced on disk are taken up within this (rotation without a restart).
        refreshInterval: '30s',
      },
    },
    services: {
      frontend: rpc(o.frontendPort, frontendMembership),
      history: rpc(historyGrpc, historyMembership),
      matching: rpc(matchingGrpc, matchingMembership),
      worker: rpc(workerGrpc, workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `${o.host}:${o.frontendPort}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
  };
}

export function writeTemporalServerConfig(file: string, layout: TemporalServerLayout): void {
  // The comment turns on Temporal's config templates (the password's {{ env }}); JSON after it is YAML as well.
  writeFileSync(file, `# enable-template\n${JSON.stringify(temporalServerConfig(layout), null, 2)}\n`, { mode: 0o600 });
}

/** Registers the namespace the cluster works in (the dev server makes `default` itself; the full server does not). */
export async function ensureNamespace(connection: Connection, namespace: string, retentionDays = 3): Promise<void> {
  const known = await connection.workflowService
    .describeNamespace({ namespace })
    .then(() => true)
    .catch((err: { code?: number }) => {
      if (err.code === 5) return false; // NOT_FOUND
      throw err;
    });
  if (known) return;
  await connection.workflowService.registerNamespace({
    namespace,
    workflowExecutionRetentionPeriod: msToTs(`${retentionDays} days`),
  });
}
