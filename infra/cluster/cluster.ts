import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { nodeLifecycleWorkflowId } from '../../common/names';
import { controlTaskQueue } from '../../common/config';
import { ClusterConfig, REPO_ROOT } from './config';
import { deleteNamespaces, listNamespaces, runCommands } from './netns';
import { claimNamespaces, classifyNamespaces, otherLivePrefixes, releaseNamespaces } from './netns-owners';
import { ensureDataDir } from './private-dir';
import { ClusterPlan, lanCommands, planCluster, plannedNamespaces } from './plan';
import {
  ensureDatabase,
  initPostgres,
  PostgresInstance,
  postgresBinDir,
  postgresUrl,
  startPostgres,
  writePgpass,
  PG_DATABASE,
} from './postgres';
import { hostRelayArgv, inNamespace, namespaceRelayArgv } from './relays';
import {
  GUEST_SERVICE_HOST,
  ensureGuestDisk,
  guestKernel,
  hostCpuFlags,
  installedGuestMedia,
  prepareGuestPc,
  prepareInstalledGuest,
  qemuArgv,
  virtiofsdArgv,
} from './guest-pcs';
import { isRunning, logTail, ProcessRecord, spawnDetached, stopProcess } from './processes';
import { ClusterSecrets, ensureClusterSecrets, writeNodeCredential } from './secrets';
import { certFingerprint, CertPair, ensureCa, GATE_SERVER_NAME, issueCert, Pki } from './pki';
import { nodeIdentity } from '../../domain/gate-admission';
import { ClusterState, readState, removeState, writeState } from './state';
import { activityPollers, clusterTemporal, connectTemporal, withTemporalClient } from './temporal-client';
import {
  ensureNamespace,
  setUpTemporalSchema,
  temporalServerFiles,
  writeTemporalServerConfig,
} from './temporal-server';
import { tcpOpen, waitFor } from './wait';
import execa from 'execa';
import { Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';

export type Log = (line: string) => void;

/** Containers get addresses of the upper half of the LAN (PCs have .11 and up, the user host .9). */
const containerPool = (config: ClusterConfig): string =>
  process.env.ZANSHIN_CONTAINER_POOL ?? `${config.lanSubnet}.128/25`;

/** Containers' network namespaces are named <this>-<pc>-<container>, so a cluster's own are told apart. */
export const containerNetnsPrefix = (config: ClusterConfig): string => `${config.namePrefix}c`;

export const REBALANCE_SCHEDULE_ID = 'zanshin-rebalance';

/** The cluster's recurring work, each a Temporal Schedule starting a workflow on the control queue. */
export function clusterSchedules(
  config: ClusterConfig,
): { id: string; every: `${number}m`; workflowType: string; args: unknown[] }[] {
  return [
    { id: REBALANCE_SCHEDULE_ID, every: `${config.rebalanceMinutes}m`, workflowType: 'rebalance', args: [{}] },
    // Every minute: the planner's lead times count one interval (domain/lecture-evacuation.ts).
    { id: 'zanshin-lecture-evacuation', every: '1m' as const, workflowType: 'lectureEvacuations', args: [{}] },
    {
      id: 'zanshin-safety-checkpoints',
      every: `${config.safetyCheckpointMinutes}m`,
      workflowType: 'safetyCheckpoints',
      args: [{}],
    },
    {
      id: 'zanshin-crash-recovery',
      every: '1m' as const,
      workflowType: 'recoverCrashedNodes',
      args: [{ offlineAfterSeconds: config.recoveryAfterSeconds }],
    },
    { id: 'zanshin-remnant-gc', every: '60m' as const, workflowType: 'collectRemnants', args: [{}] },
  ];
}

/** Creates each schedule, or leaves an existing one as it is. */
export async function ensureSchedules(client: Client, config: ClusterConfig): Promise<void> {
  for (const s of clusterSchedules(config)) {
    try {
      await client.schedule.create({
        scheduleId: s.id,
        spec: { intervals: [{ every: s.every }] },
        action: { type: 'startWorkflow', workflowType: s.workflowType, taskQueue: controlTaskQueue(), args: s.args },
        // A run still going when the next is due is not doubled; missed runs are not made up after an outage.
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m' },
        state: {
          paused: config.schedulesPaused,
          ...(config.schedulesPaused ? { note: 'created paused (ZANSHIN_SCHEDULES=paused)' } : {}),
        },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    }
  }
}

/** Lease and margin, the same for every PC, their fences and the control plane (domain/fencing.ts). */
const fencingEnv = (config: ClusterConfig): Record<string, string> => ({
  ZANSHIN_LEASE_SECONDS: String(config.leaseSeconds),
  ZANSHIN_FENCE_MARGIN_SECONDS: String(config.fenceMarginSeconds),
});

/** Continuous protection's settings, the same on every PC (node/protection.ts). */
const protectionEnv = (config: ClusterConfig): Record<string, string> => ({
  ZANSHIN_PROTECT_SECONDS: String(config.protectSeconds),
  ZANSHIN_PROTECT_FREEZE_PERCENT: String(config.protectFreezePercent),
});

/** A compiled entry point: the launched processes run the build, not the sources. */
export const dist = (...parts: string[]): string => path.join(REPO_ROOT, 'dist', ...parts);

export interface PartStatus {
  part: string;
  up: boolean;
  detail: string;
}

/** A PC as its own reports to migration-api describe it (null fields: it has not reported). */
export interface PcStatus {
  id: string;
  kind: 'pc' | 'vm';
  /** How it dumps: `kernel` (dirty tracking, differential) or `content` (hashing). */
  strategy: 'kernel' | 'content' | null;
  criuVersion: string | null;
}

export interface ClusterStatus {
  running: boolean;
  parts: PartStatus[];
  /** Each PC's dump strategy, so that a user sees at a glance whether guest PCs take the kernel path. */
  pcs: PcStatus[];
  webUi: string;
  apiUrl: string;
}

function postgresInstance(config: ClusterConfig, plan: ClusterPlan, secrets: ClusterSecrets): PostgresInstance {
  return {
    dataDir: plan.paths.postgres,
    socketDir: plan.paths.postgresSocket,
    port: config.postgresPort,
    password: secrets.postgresPassword,
  };
}

/**
 * The configuration of the cluster running from `requested`'s data directory (its PCs as started, guest PCs
 * included), or `requested` itself when none runs there: status, probe and stop look at what runs, whatever the
 * environment says now.
 */
export function runningConfig(requested: ClusterConfig): ClusterConfig {
  return readState(planCluster(requested).paths.state)?.config ?? requested;
}

/** The settings in which two cluster configurations differ, as "vmNodes 0 -> 2" (empty: the same cluster). */
export function configDifferences(running: ClusterConfig, asked: ClusterConfig): string[] {
  return (Object.keys(asked) as (keyof ClusterConfig)[])
    .filter((k) => JSON.stringify(running[k]) !== JSON.stringify(asked[k]))
    .map((k) => `${k} ${JSON.stringify(running[k])} -> ${JSON.stringify(asked[k])}`);
}

/** Fails early, naming what is missing and how to get it. */
async function preflight(config: ClusterConfig, log: Log): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error('the cluster launcher must run as root (it creates network namespaces)');
  if (!existsSync(config.temporalBin)) {
    throw new Error(
      `Temporal CLI not found at ${config.temporalBin}: run infra/provision.sh, or set ZANSHIN_TEMPORAL_BIN`,
    );
  }
  if (!existsSync(config.criuBin))
    throw new Error(`CRIU not found at ${config.criuBin}: run infra/provision.sh, or set ZANSHIN_CRIU`);
  for (const tool of ['socat', 'ip', 'tc', 'setpriv', 'nsenter', 'runc']) {
    const found = await execa('sh', ['-c', `command -v ${tool}`], { reject: false });
    if (found.exitCode !== 0) throw new Error(`${tool} is not installed: run infra/provision.sh`);
  }
  for (const entry of [
    'workers/node-worker.js',
    'workers/fence-watchdog.js',
    'workers/control-worker.js',
    'api/main.js',
  ]) {
    if (!existsSync(dist(entry))) throw new Error(`dist/${entry} is missing: build first (npm run build)`);
  }
  if (config.temporal === 'server') {
    temporalServerFiles(config.temporalServerDir); // says what to do when missing
    if (!existsSync(config.temporalUiBin))
      throw new Error(
        `the Temporal Web UI (${config.temporalUiBin}) is missing: run infra/provision.sh (it builds it once)`,
      );
  }
  const ports = [config.temporalPort, config.temporalUiPort, config.apiPort, config.postgresPort];
  if (config.temporal === 'server') ports.push(...config.temporalServicePorts, config.apiTlsPort);
  const taken = await Promise.all(ports.map(async (port) => ((await tcpOpen('127.0.0.1', port)) ? port : null)));
  const busy = taken.filter((p) => p !== null);
  if (busy.length)
    throw new Error(
      `port(s) ${busy.join(', ')} on 127.0.0.1 already in use: stop what uses them or choose other ports (see README, Configuration)`,
    );
  const present = new Set(await listNamespaces());
  const plan = planCluster(config);
  const clash = plannedNamespaces(plan).filter((ns) => present.has(ns));
  const claims = classifyNamespaces(clash, plan.paths.state);
  if (claims.others.length)
    throw new Error(
      `network namespace(s) ${claims.others.map((o) => o.name).join(', ')} belong to the cluster running from ` +
        `${claims.others[0]!.dataDir}: stop it (ZANSHIN_DATA_DIR=${claims.others[0]!.dataDir} npm run cluster -- stop) ` +
        'or give this one another ZANSHIN_NS_PREFIX',
    );
  if (claims.unknown.length)
    throw new Error(
      `network namespace(s) ${claims.unknown.join(', ')} already exist and no cluster recorded making them: ` +
        `remove them if they are leftovers (ip netns delete ${claims.unknown.join(' ')}) or set ZANSHIN_NS_PREFIX`,
    );
  // Left by an earlier start of this very cluster (or of one whose data directory is gone): made anew.
  if (claims.ours.length) {
    log(`removing namespace(s) left by an earlier cluster here: ${claims.ours.join(', ')}`);
    releaseNamespaces(await deleteNamespaces(claims.ours));
  }
}

/** Starts one process and records it before anything else can fail. */
class Launcher {
  constructor(
    private readonly state: ClusterState,
    private readonly stateFile: string,
    private readonly logs: string,
  ) {}

  launch(
    name: string,
    argv: string[],
    env: Record<string, string> = {},
    stopSignal: NodeJS.Signals = 'SIGTERM',
  ): ProcessRecord {
    const log = path.join(this.logs, `${name.replace('/', '-')}.log`);
    const rec = spawnDetached(name, argv, { log, env, stopSignal });
    this.state.processes.push(rec);
    writeState(this.stateFile, this.state);
    return rec;
  }

  adopt(rec: ProcessRecord): ProcessRecord {
    this.state.processes.push(rec);
    writeState(this.stateFile, this.state);
    return rec;
  }

  /** Waits for a health check, failing fast (with its log) if the process dies meanwhile. */
  async healthy(rec: ProcessRecord, what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    await waitFor(what, check, timeoutMs, () =>
      isRunning(rec) ? null : `${rec.name} exited during start; last lines of ${rec.log}:\n${logTail(rec.log)}`,
    );
  }
}

/**
 * Temporal's own server (`--temporal server`): its schema set up in the cluster's PostgreSQL with Temporal's SQL tool,
 * then the server with mutual TLS on ZANSHIN_TEMPORAL_PORT and the `default` namespace registered. Its services call
 * each other with one certificate (CN temporal-system, which Zanshin's authorizer treats as the control plane's).
 */
async function startTemporalServer(
  config: ClusterConfig,
  plan: ClusterPlan,
  pg: PostgresInstance,
  pki: Pki,
  launcher: Launcher,
  log: Log,
): Promise<void> {
  const files = temporalServerFiles(config.temporalServerDir);
  await setUpTemporalSchema(pg, files, log);
  const pkiDir = path.join(plan.paths.secrets, 'pki');
  const peer = await issueCert(pki, pkiDir, 'temporal-server', { commonName: 'temporal-system', usage: 'peer' });
  const configFile = path.join(plan.paths.run, 'temporal-server.yaml');
  writeTemporalServerConfig(configFile, {
    frontendPort: config.temporalPort,
    host: '127.0.0.1',
    servicePorts: config.temporalServicePorts,
    pg,
    tls: { ca: pki.ca, peer, systemWorker: peer },
  });
  log(`Temporal server (PostgreSQL, mutual TLS, Zanshin's authorizer) on 127.0.0.1:${config.temporalPort}`);
  const server = launcher.launch(
    'temporal',
    [files.server, '--config-file', configFile, '--control-task-queue', controlTaskQueue()],
    {
      ZANSHIN_TEMPORAL_PG_PASSWORD: pg.password,
      ZANSHIN_DATABASE_URL: postgresUrl(pg, PG_DATABASE, false),
      PGPASSFILE: path.join(plan.paths.secrets, 'pgpass'),
    },
  );
  // Up when it answers the administrator with the namespace registered (its services join within seconds).
  await launcher.healthy(
    server,
    'the Temporal server',
    async () => {
      const connection = await connectTemporal(clusterTemporal(config));
      try {
        await ensureNamespace(connection, 'default');
        return true;
      } finally {
        await connection.close();
      }
    },
    120_000,
  );
}

/**
 * Has migration-api issue a secret for a PC, shown once: its credential (`credential`, bound to its certificate) or a
 * join token for a PC that installs and enrolls itself (`join-token`, single use, expiring).
 */
async function issueNodeSecret(
  config: ClusterConfig,
  adminToken: string,
  nodeId: string,
  kind: 'credential' | 'join-token',
  body: Record<string, string> = {},
): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${config.apiPort}/v1/nodes/${nodeId}/${kind}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`migration-api refused a ${kind} for ${nodeId}: ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** Each PC's strategy and CRIU as migration-api has them from its reports (empty when the API does not answer). */
async function reportedPcs(
  config: ClusterConfig,
  token: string,
): Promise<Map<string, { strategy: PcStatus['strategy']; criuVersion: string }>> {
  const res = await fetch(`http://127.0.0.1:${config.apiPort}/v1/nodes`, {
    headers: { authorization: `Bearer ${token}` },
  }).catch(() => null);
  if (!res?.ok) return new Map();
  const { nodes } = (await res.json()) as {
    nodes: { id: string; strategy: PcStatus['strategy']; dirtyTracking: boolean; criuVersion: string }[];
  };
  return new Map(
    nodes.map((n) => [
      n.id,
      { strategy: n.strategy ?? (n.dirtyTracking ? 'kernel' : 'content'), criuVersion: n.criuVersion },
    ]),
  );
}

async function apiHealthy(config: ClusterConfig, token: string): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${config.apiPort}/health`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return res.status === 200;
}

/**
 * Brings the whole local cluster up: PostgreSQL, Temporal dev server (SQLite, Web UI), the LAN of PC
 * namespaces, migration-api, the control worker and one node worker per PC. Idempotent: a running
 * cluster is left as it is. On failure everything started so far is stopped again.
 */
export async function startCluster(config: ClusterConfig, log: Log = console.log): Promise<ClusterStatus> {
  const plan = planCluster(config);
  const running = readState(plan.paths.state);
  if (running) {
    const differs = configDifferences(running.config, config);
    const status = await clusterStatus(config);
    if (status.running && !differs.length) {
      log('cluster already running');
      return status;
    }
    log(
      differs.length
        ? `the running cluster differs from the one asked for (${differs.join('; ')}): stopping it first`
        : 'a previous cluster is partly down: stopping what is left of it first',
    );
    await stopCluster(config, log);
  }
  ensureDataDir(config.dataDir, log);
  await preflight(config, log);
  for (const dir of [plan.paths.run, plan.paths.logs, plan.paths.sockets, ...plan.nodes.map((n) => n.dataDir)]) {
    mkdirSync(dir, { recursive: true });
  }
  const secrets = ensureClusterSecrets(plan.paths.secrets);
  const pgpass = path.join(plan.paths.secrets, 'pgpass');
  const state: ClusterState = {
    version: 1,
    startedAt: new Date().toISOString(),
    config,
    processes: [],
    namespaces: [],
  };
  writeState(plan.paths.state, state);
  const launcher = new Launcher(state, plan.paths.state, plan.paths.logs);
  const sock = (name: string): string => path.join(plan.paths.sockets, `${name}.sock`);
  try {
    log(`PostgreSQL on 127.0.0.1:${config.postgresPort} (data in ${plan.paths.postgres})`);
    const pg = postgresInstance(config, plan, secrets);
    const binDir = postgresBinDir();
    await initPostgres(pg, binDir);
    const postgres = launcher.adopt(startPostgres(pg, binDir, path.join(plan.paths.logs, 'postgres.log')));
    await launcher.healthy(
      postgres,
      'PostgreSQL',
      async () => {
        await ensureDatabase(pg, 2_000);
        return true;
      },
      30_000,
    );
    writePgpass(pgpass, pg);

    // The cluster CA and its certificates: the gate's, the control plane's, an administrator's, and (below) each PC's.
    const pkiDir = path.join(plan.paths.secrets, 'pki');
    const pki = await ensureCa(pkiDir);
    const controlCert = await issueCert(pki, pkiDir, 'control', { commonName: 'control', usage: 'client' });
    if (!existsSync(path.join(pkiDir, 'admin.crt')))
      await issueCert(pki, pkiDir, 'admin', { commonName: 'admin', usage: 'client' });

    if (config.temporal === 'server') {
      await startTemporalServer(config, plan, pg, pki, launcher, log);
    } else {
      log(
        `Temporal dev server on 127.0.0.1:${config.temporalPort}, Web UI on http://127.0.0.1:${config.temporalUiPort}`,
      );
      const temporal = launcher.launch('temporal', [
        config.temporalBin,
        'server',
        'start-dev',
        '--db-filename',
        plan.paths.temporalDb,
        '--ip',
        '127.0.0.1',
        '--port',
        String(config.temporalPort),
        '--ui-port',
        String(config.temporalUiPort),
        // The Web UI shows the encrypted payloads through the codec server (started just below).
        '--ui-codec-endpoint',
        `http://127.0.0.1:${config.codecPort}`,
        '--log-level',
        'warn',
      ]);
      await launcher.healthy(temporal, 'the Temporal server', () => tcpOpen('127.0.0.1', config.temporalPort));
    }

    const codec = launcher.launch('codec-server', [process.execPath, dist('infra', 'gate', 'codec-main.js')], {
      ZANSHIN_CODEC_LISTEN: `127.0.0.1:${config.codecPort}`,
      ZANSHIN_PAYLOAD_KEY_FILE: secrets.payloadKeyFile,
      ZANSHIN_CODEC_UI_ORIGIN: `http://127.0.0.1:${config.temporalUiPort}`,
    });
    await launcher.healthy(codec, 'the codec server', () => tcpOpen('127.0.0.1', config.codecPort));
    if (config.temporal === 'server') {
      // The full server has no UI of its own: Temporal's ui-server beside it, as the administrator (mutual TLS).
      log(`Temporal Web UI on http://127.0.0.1:${config.temporalUiPort}`);
      const ui = launcher.launch('temporal-ui', [
        config.temporalUiBin,
        '--port',
        String(config.temporalUiPort),
        '--frontend',
        `127.0.0.1:${config.temporalPort}`,
        '--tls-ca',
        pki.ca,
        '--tls-cert',
        path.join(pkiDir, 'admin.crt'),
        '--tls-key',
        path.join(pkiDir, 'admin.key'),
        '--codec-endpoint',
        `http://127.0.0.1:${config.codecPort}`,
      ]);
      await launcher.healthy(ui, 'the Temporal Web UI', () => tcpOpen('127.0.0.1', config.temporalUiPort));
    }

    // PCs reach Temporal only with mutual TLS: through the gate (dev server), or the full server's own frontend.
    const temporalTlsPort = config.temporal === 'server' ? config.temporalPort : config.gatePort;
    launcher.launch('relay-temporal', hostRelayArgv(sock('temporal'), temporalTlsPort));
    launcher.launch('relay-api', hostRelayArgv(sock('api'), config.apiPort));

    log(
      `LAN: ${plan.nodes.map((n) => `${n.id}=${n.address}`).join(' ')} user=${plan.user.address}${config.linkRate ? `, links shaped to ${config.linkRate}` : ''}`,
    );
    state.namespaces = plannedNamespaces(plan);
    writeState(plan.paths.state, state);
    claimNamespaces(state.namespaces, plan.paths.state);
    await runCommands(lanCommands(plan, config.linkRate));

    const viaGate = (cert: CertPair) => ({
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalTlsPort}`,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TLS_CA: pki.ca,
      TEMPORAL_TLS_CERT: cert.crt,
      TEMPORAL_TLS_KEY: cert.key,
    });
    log(`migration-api on http://127.0.0.1:${config.apiPort}`);
    const apiEnv = {
      ZANSHIN_API_HOST: '127.0.0.1',
      ZANSHIN_API_PORT: String(config.apiPort),
      ZANSHIN_DATABASE_URL: postgresUrl(pg, PG_DATABASE, false),
      PGPASSFILE: pgpass,
      ZANSHIN_ADMIN_TOKEN_FILE: secrets.adminTokenFile,
      ZANSHIN_CONTAINER_POOL: containerPool(config),
      ZANSHIN_PAYLOAD_KEY_FILE: secrets.payloadKeyFile,
      // PCs enroll with a join token: their certificates are signed with the cluster CA.
      ZANSHIN_CA_CERT: pki.ca,
      ZANSHIN_CA_KEY: pki.caKey,
      ...viaGate(controlCert),
    };
    const api = launcher.launch('migration-api', [process.execPath, dist('api', 'main.js')], apiEnv);
    await launcher.healthy(api, 'migration-api /health', () => apiHealthy(config, secrets.adminToken));
    if (config.temporal === 'server') {
      // As on a campus: a second instance on the same PostgreSQL, over HTTPS, where PCs on the LAN enroll and report.
      const httpsCert = await issueCert(pki, pkiDir, 'migration-api', {
        commonName: 'migration-api',
        usage: { kind: 'https', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', GUEST_SERVICE_HOST] },
      });
      log(`migration-api over HTTPS on 127.0.0.1:${config.apiTlsPort} (${GUEST_SERVICE_HOST} for guest PCs)`);
      const apiTls = launcher.launch('migration-api-tls', [process.execPath, dist('api', 'main.js')], {
        ...apiEnv,
        ZANSHIN_API_PORT: String(config.apiTlsPort),
        ZANSHIN_API_TLS_CERT: httpsCert.crt,
        ZANSHIN_API_TLS_KEY: httpsCert.key,
      });
      await launcher.healthy(apiTls, 'migration-api over HTTPS', () => tcpOpen('127.0.0.1', config.apiTlsPort));
    }

    // The gate checks each PC's certificate against the credentials migration-api keeps (its tables exist now).
    if (config.temporal === 'dev') {
      const gateCert = await issueCert(pki, pkiDir, 'gate', { commonName: GATE_SERVER_NAME, usage: 'server' });
      log(`Temporal gate (mutual TLS) on 127.0.0.1:${config.gatePort}`);
      const gate = launcher.launch('temporal-gate', [process.execPath, dist('infra', 'gate', 'main.js')], {
        ZANSHIN_GATE_LISTEN: `127.0.0.1:${config.gatePort}`,
        TEMPORAL_ADDRESS: `127.0.0.1:${config.temporalPort}`,
        ZANSHIN_GATE_CERT: gateCert.crt,
        ZANSHIN_GATE_KEY: gateCert.key,
        ZANSHIN_GATE_CA: pki.ca,
        ZANSHIN_DATABASE_URL: postgresUrl(pg, PG_DATABASE, false),
        PGPASSFILE: pgpass,
      });
      await launcher.healthy(gate, 'the Temporal gate', () => tcpOpen('127.0.0.1', config.gatePort));
    }

    log(`control worker on task queue ${controlTaskQueue()}`);
    launcher.launch('control-worker', [process.execPath, dist('workers', 'control-worker.js')], {
      ...viaGate(controlCert),
      ...fencingEnv(config),
      ZANSHIN_PAYLOAD_KEY_FILE: secrets.payloadKeyFile,
      ZANSHIN_DATABASE_URL: postgresUrl(pg, PG_DATABASE, false),
      PGPASSFILE: pgpass,
    });

    const guests = plan.nodes.filter((n) => n.kind === 'vm');
    const kernel = guests.length ? await guestKernel() : null;
    if (kernel) log(`guest PCs boot Debian's kernel ${kernel.version} under ${kernel.accel.toUpperCase()}`);
    let media: { imageRoot: string; bundle: string } | null = null;
    for (const node of plan.nodes) {
      if (node.kind === 'vm' && config.vmInstall) {
        // Installed the documented way: its own key and certificate come from enrolling with a join token.
        media ??= await installedGuestMedia();
        const files = await ensureGuestDisk(config, node);
        const setupDir = prepareInstalledGuest(node, {
          bundle: media.bundle,
          caFile: pki.ca,
          joinToken: await issueNodeSecret(config, secrets.adminToken, node.id, 'join-token'),
          temporalAddress: `${GUEST_SERVICE_HOST}:${config.temporalPort}`,
          apiUrl: `https://${GUEST_SERVICE_HOST}:${config.apiTlsPort}`,
          pool: containerPool(config),
          settings: {
            ZANSHIN_NETNS_PREFIX: containerNetnsPrefix(config),
            ZANSHIN_LOAD_REPORT_SECONDS: String(config.loadReportSeconds),
            // Students' files may come on the "USB stick" (the rig has no registry the guest reaches).
            ZANSHIN_ROOTFS_ROOTS: '/media/setup',
            ...fencingEnv(config),
            ...protectionEnv(config),
            ZANSHIN_SEAT_IDLE_SECONDS: String(config.seatIdleSeconds),
          },
        });
        const setupSocket = path.join(node.dataDir, 'setup.sock');
        const shares = [];
        for (const [name, socket, source] of [
          ['virtiofsd', files.vfsSocket, media.imageRoot],
          ['setup-virtiofsd', setupSocket, setupDir],
        ] as const) {
          const vfs = launcher.launch(`${node.id}/${name}`, virtiofsdArgv(socket, source));
          await launcher.healthy(vfs, `${node.id}'s ${name}`, () => Promise.resolve(existsSync(socket)), 10_000);
          shares.push(vfs);
        }
        const boot = {
          kind: 'installed',
          setupSocket,
          ports: { temporal: config.temporalPort, api: config.apiTlsPort },
          hostNetnsPid: shares[0]!.pid,
        } as const;
        launcher.launch(
          `${node.id}/guest`,
          inNamespace(node.namespace, qemuArgv(config, node, kernel!, files, boot, hostCpuFlags())),
        );
        continue;
      }
      const nodeCert = await issueCert(pki, path.join(pkiDir, 'nodes'), node.id, {
        commonName: nodeIdentity(node.id),
        usage: 'client',
      });
      const workerEnv = {
        ZANSHIN_NODE_ID: node.id,
        ZANSHIN_NODE_DATA_DIR: node.dataDir,
        ZANSHIN_NODE_ADDRESS: node.address,
        ZANSHIN_NETNS_PREFIX: containerNetnsPrefix(config),
        ZANSHIN_CONTAINER_POOL: containerPool(config),
        ZANSHIN_CRIU: config.criuBin,
        ZANSHIN_LOAD_REPORT_SECONDS: String(config.loadReportSeconds),
        ...fencingEnv(config),
        ...protectionEnv(config),
        // Simulated PCs share this machine: its logind's sessions (if any) are nobody's seat at them.
        ZANSHIN_SEAT_WATCH: 'off',
        // Each PC its own credential and certificate, issued afresh at each start (the previous ones stop working).
        ZANSHIN_NODE_TOKEN_FILE: writeNodeCredential(
          plan.paths.secrets,
          node.id,
          await issueNodeSecret(config, secrets.adminToken, node.id, 'credential', {
            certificateSha256: certFingerprint(nodeCert.crt),
          }),
        ),
        TEMPORAL_TLS_CA: pki.ca,
        TEMPORAL_TLS_CERT: nodeCert.crt,
        TEMPORAL_TLS_KEY: nodeCert.key,
        ZANSHIN_PAYLOAD_KEY_FILE: secrets.payloadKeyFile,
      };
      if (node.kind === 'vm') {
        // The guest's node worker reaches Temporal and the API through its user-networking card (guest-pcs.ts).
        const files = await prepareGuestPc(config, node, {
          ...workerEnv,
          TEMPORAL_ADDRESS: `${GUEST_SERVICE_HOST}:${config.temporalPort}`,
          TEMPORAL_NAMESPACE: 'default',
          ZANSHIN_API_URL: `http://${GUEST_SERVICE_HOST}:${config.apiPort}`,
        });
        const vfs = launcher.launch(`${node.id}/virtiofsd`, virtiofsdArgv(files.vfsSocket));
        await launcher.healthy(
          vfs,
          `${node.id}'s virtiofsd`,
          () => Promise.resolve(existsSync(files.vfsSocket)),
          10_000,
        );
        launcher.launch(
          `${node.id}/guest`,
          inNamespace(
            node.namespace,
            qemuArgv(
              config,
              node,
              kernel!,
              files,
              { kind: 'shared', sockets: { temporal: sock('temporal'), api: sock('api') } },
              hostCpuFlags(),
            ),
          ),
        );
        continue;
      }
      launcher.launch(
        `${node.id}/relay-temporal`,
        namespaceRelayArgv(node.namespace, config.temporalPort, sock('temporal')),
      );
      launcher.launch(`${node.id}/relay-api`, namespaceRelayArgv(node.namespace, config.apiPort, sock('api')));
      // The fence of the PC: a process of its own, so that a dead or wedged worker still leaves it fenced.
      launcher.launch(
        `${node.id}/fence`,
        inNamespace(node.namespace, [process.execPath, dist('workers', 'fence-watchdog.js')]),
        workerEnv,
      );
      launcher.launch(`${node.id}/node-worker`, inNamespace(node.namespace, nodeWorkerArgv()), {
        // Inside the PC's namespace its relay listens on the Temporal port and leads to the gate.
        TEMPORAL_ADDRESS: `127.0.0.1:${config.temporalPort}`,
        TEMPORAL_NAMESPACE: 'default',
        ...workerEnv,
        ZANSHIN_API_URL: `http://127.0.0.1:${config.apiPort}`,
      });
    }
    log(`waiting for ${plan.nodes.length} node worker(s) to poll their task queues`);
    await withTemporalClient(clusterTemporal(config), async (client) => {
      for (const node of plan.nodes) {
        // A guest PC's worker runs inside its QEMU: booting and loading the SDK under emulation takes a while.
        const guest = node.kind === 'vm';
        const worker = state.processes.find((p) => p.name === `${node.id}/${guest ? 'guest' : 'node-worker'}`)!;
        await launcher.healthy(
          worker,
          `${node.id}'s worker polling ${node.taskQueue}`,
          async () => (await activityPollers(client, node.taskQueue)) > 0,
          guest ? (config.vmInstall ? 480_000 : 240_000) : 60_000,
        );
      }
      await ensureSchedules(client, config);
      // Each PC's lifecycle workflow waits for its shutdown or lecture signal (kept if it already runs).
      for (const node of plan.nodes) {
        await client.workflow.start('nodeLifecycle', {
          taskQueue: controlTaskQueue(),
          workflowId: nodeLifecycleWorkflowId(node.id),
          args: [{ nodeId: node.id }],
          workflowIdConflictPolicy: 'USE_EXISTING',
        });
      }
    });
  } catch (err) {
    log(`start failed: ${(err as Error).message}`);
    log('stopping what was started');
    await stopCluster(config, () => undefined);
    throw err;
  }
  const status = await clusterStatus(config);
  log(`cluster up: ${plan.nodes.length} PC(s), Web UI ${status.webUi}`);
  return status;
}

/**
 * How a node worker is started. A 1-MiB young generation: a transfer allocates little on the heap, so with the
 * default 16 MiB the dead buffers of socket reads (64 KiB each) waited tens of MiB for a collection (1 GiB move:
 * peak resident 257 vs 226 MiB, transfer time unchanged).
 */
export function nodeWorkerArgv(): string[] {
  return [process.execPath, '--max-semi-space-size=1', dist('workers', 'node-worker.js')];
}

/**
 * Stops exactly the processes the cluster of `requested`'s data directory started (newest first) and removes its
 * namespaces: its PCs as it was started (guest PCs included), whatever the environment says now; never another
 * running cluster's.
 */
export async function stopCluster(requested: ClusterConfig, log: Log = console.log): Promise<void> {
  const config = runningConfig(requested);
  const plan = planCluster(config);
  const state = readState(plan.paths.state);
  if (!state) log(`no cluster state in ${config.dataDir}: removing leftover namespaces of its own only`);
  for (const rec of [...(state?.processes ?? [])].reverse()) {
    const how = await stopProcess(rec);
    log(`${rec.name} (pid ${rec.pid}): ${how}`);
  }
  // Containers still running on the PCs, and their network namespaces, go with the cluster (a guest PC's went with
  // its QEMU).
  for (const node of plan.nodes.filter((n) => n.kind === 'pc')) {
    const root = path.join(node.dataDir, 'runc');
    const listed = await execa('runc', ['--root', root, 'list', '-q'], { reject: false });
    for (const id of listed.exitCode === 0 ? listed.stdout.split('\n').filter(Boolean) : []) {
      await execa('runc', ['--root', root, 'delete', '--force', id], { reject: false });
      log(`container ${id} on ${node.id} removed`);
    }
  }
  const present = new Set(await listNamespaces());
  const claims = classifyNamespaces(
    [...new Set([...(state?.namespaces ?? []), ...plannedNamespaces(plan)])].filter((n) => present.has(n)),
    plan.paths.state,
  );
  // Namespaces the state lists without a record were made by a version that kept none: this cluster's all the same.
  const mine = [...claims.ours, ...claims.unknown.filter((n) => state?.namespaces.includes(n))];
  for (const o of claims.others)
    log(`namespace ${o.name} belongs to the cluster running from ${o.dataDir}: left alone`);
  const unclaimed = claims.unknown.filter((n) => !mine.includes(n));
  if (unclaimed.length)
    log(
      `namespace(s) ${unclaimed.join(', ')} have no record of their cluster: left alone (ip netns delete removes them)`,
    );
  // Containers' namespaces carry the cluster's prefix; only one running cluster can have it.
  const sharer = otherLivePrefixes(plan.paths.state).get(config.namePrefix);
  if (sharer)
    log(`containers' namespaces ${containerNetnsPrefix(config)}-* belong to the cluster running from ${sharer}`);
  const containerNamespaces = sharer
    ? []
    : [...present].filter((n) => n.startsWith(`${containerNetnsPrefix(config)}-`));
  const deleted = await deleteNamespaces([...containerNamespaces, ...mine]);
  releaseNamespaces(mine);
  if (deleted.length) log(`namespaces removed: ${deleted.join(', ')}`);
  rmSync(plan.paths.sockets, { recursive: true, force: true });
  removeState(plan.paths.state);
  log('cluster stopped');
}

/**
 * Stops one part of the running cluster (`pc2/node-worker`, `temporal`, `migration-api`, ...) if it runs, and starts
 * it again as it was started (same command, same settings): a restart after a crash, or an operator's.
 */
export async function restartPart(
  requested: ClusterConfig,
  name: string,
  log: Log = console.log,
): Promise<ProcessRecord> {
  const plan = planCluster(runningConfig(requested));
  const state = readState(plan.paths.state);
  if (!state) throw new Error(`no cluster runs from ${requested.dataDir}`);
  const at = state.processes.findIndex((p) => p.name === name);
  if (at < 0)
    throw new Error(`the cluster has no part ${name} (parts: ${state.processes.map((p) => p.name).join(', ')})`);
  const old = state.processes[at]!;
  log(`${name} (pid ${old.pid}): ${await stopProcess(old)}`);
  const rec = spawnDetached(name, old.argv, {
    log: old.log,
    stopSignal: old.stopSignal,
    ...(old.env ? { env: old.env } : {}),
  });
  // Read again: another part may have been restarted meanwhile.
  const now = readState(plan.paths.state) ?? state;
  now.processes = now.processes.map((p) => (p.name === name ? rec : p));
  writeState(plan.paths.state, now);
  log(`${name} started again (pid ${rec.pid})`);
  return rec;
}

/** Each part up or down: processes by PID, namespaces, the API's health and each PC's live pollers. */
export async function clusterStatus(requested: ClusterConfig): Promise<ClusterStatus> {
  const config = runningConfig(requested);
  const plan = planCluster(config);
  const state = readState(plan.paths.state);
  const webUi = `http://127.0.0.1:${config.temporalUiPort}`;
  const apiUrl = `http://127.0.0.1:${config.apiPort}`;
  if (!state)
    return { running: false, parts: [{ part: 'cluster', up: false, detail: 'not started' }], pcs: [], webUi, apiUrl };
  const parts: PartStatus[] = state.processes.map((rec) => ({
    part: rec.name,
    up: isRunning(rec),
    detail: isRunning(rec) ? `pid ${rec.pid}` : `exited (log: ${rec.log})`,
  }));
  const present = new Set(await listNamespaces());
  for (const ns of state.namespaces)
    parts.push({ part: `netns ${ns}`, up: present.has(ns), detail: present.has(ns) ? 'present' : 'missing' });
  const secrets = ensureClusterSecrets(plan.paths.secrets);
  const apiUp = await apiHealthy(config, secrets.adminToken).catch(() => false);
  parts.push({ part: 'migration-api /health', up: apiUp, detail: apiUp ? 'ok (database answered)' : 'no answer' });
  const pollers = await withTemporalClient(clusterTemporal(config), async (client) =>
    Promise.all(plan.nodes.map((n) => activityPollers(client, n.taskQueue))),
  ).catch(() => null);
  const reported = apiUp ? await reportedPcs(config, secrets.adminToken) : new Map<string, never>();
  const pcs: PcStatus[] = plan.nodes.map((n) => ({
    id: n.id,
    kind: n.kind,
    strategy: reported.get(n.id)?.strategy ?? null,
    criuVersion: reported.get(n.id)?.criuVersion ?? null,
  }));
  plan.nodes.forEach((node, i) => {
    const count = pollers?.[i] ?? 0;
    const strategy = pcs[i]!.strategy;
    parts.push({
      part: `${node.id} task queue ${node.taskQueue}`,
      up: count > 0,
      detail:
        (pollers ? `${count} live poller(s)` : 'Temporal unreachable') +
        (strategy ? `, dumps: ${strategy}` : ', not reported yet'),
    });
  });
  return { running: parts.every((p) => p.up), parts, pcs, webUi, apiUrl };
}
