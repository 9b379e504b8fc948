import { existsSync } from 'node:fs';
import path from 'node:path';
import { Env, envInt, envRequired, envSecret, envString } from './env';
import { DataPlaneLimits, DEFAULT_DATA_PLANE_LIMITS as defaults, MIN_STREAM_MIB } from './data-plane-limits';

const MiB = 2 ** 20;
const mib = (bytes: number): number => bytes / MiB;
import { REPO_ROOT } from './paths';
import {
  CONTROL_TASK_QUEUE,
  DEFAULT_FENCE_MARGIN_SECONDS,
  DEFAULT_LEASE_SECONDS,
  DEFAULT_HISTORY_DAYS,
  DEFAULT_LECTURE_WINDOW_DAYS,
  DEFAULT_OFFLINE_AFTER_SECONDS,
  isValidNodeId,
  NODE_ID_RULE,
  nodeTaskQueue,
} from './names';
import { ConfigError } from './errors';
import { DEFAULT_PROTECTION, ProtectionSettings } from './protection-settings';
import { DEFAULT_SEAT, SeatSettings } from './seat-settings';

export interface TemporalConfig {
  /** TEMPORAL_ADDRESS, host:port of the Temporal frontend. @default 127.0.0.1:7233 */
  address: string;
  /** TEMPORAL_NAMESPACE. @default default */
  namespace: string;
  /** ZANSHIN_CONTROL_TASK_QUEUE, where workflows and control activities run. @default zanshin-control */
  controlTaskQueue: string;
  /**
   * TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY (files) and TEMPORAL_TLS_SERVER_NAME (@default
   * temporal.zanshin): mutual TLS through the Temporal gate. Unset: plain (the dev server on this host's loopback).
   */
  tls: TemporalTls | null;
}

export interface TemporalTls {
  ca: string;
  cert: string;
  key: string;
  serverName: string;
}

function temporalTls(env: Env): TemporalTls | null {
  const files = ['TEMPORAL_TLS_CA', 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY'].map((name) => [name, env[name] ?? '']);
  const given = files.filter(([, v]) => v);
  if (!given.length) return null;
  const missing = files.filter(([, v]) => !v).map(([n]) => n);
  if (missing.length) throw new ConfigError(`mutual TLS to Temporal needs ${missing.join(' and ')} as well`);
  for (const [name, file] of files) if (!existsSync(file!)) throw new ConfigError(`${name}=${file}: no such file`);
  return {
    ca: files[0]![1]!,
    cert: files[1]![1]!,
    key: files[2]![1]!,
    serverName: envString(env, 'TEMPORAL_TLS_SERVER_NAME', 'temporal.zanshin'),
  };
}

/** The control task queue every part uses: workers poll it, the API, the CLI and the launcher start workflows on it. */
export function controlTaskQueue(env: Env = process.env): string {
  return envString(env, 'ZANSHIN_CONTROL_TASK_QUEUE', CONTROL_TASK_QUEUE);
}

export function temporalConfig(env: Env = process.env): TemporalConfig {
  return {
    address: envString(env, 'TEMPORAL_ADDRESS', '127.0.0.1:7233'),
    namespace: envString(env, 'TEMPORAL_NAMESPACE', 'default'),
    controlTaskQueue: controlTaskQueue(env),
    tls: temporalTls(env),
  };
}

export interface NodeWorkerConfig {
  temporal: TemporalConfig;
  /** ZANSHIN_NODE_ID, this PC's id; its task queue is node-<id>. Required. */
  nodeId: string;
  taskQueue: string;
  /** ZANSHIN_NODE_DATA_DIR: remnant store and runc state of this PC. @default /var/lib/zanshin/<node id> */
  dataDir: string;
  /** ZANSHIN_NODE_ADDRESS: this PC's LAN address, where its data plane listens. @default 127.0.0.1 */
  address: string;
  /** ZANSHIN_DATA_PORT: data plane port. @default 7070 */
  dataPort: number;
  /**
   * ZANSHIN_DATAPLANE_TLS: `on`, the data plane speaks TLS with a certificate the PC makes at each start (sources learn
   * it with each transfer, through Temporal); `off`, plain HTTP (memory images cross the LAN readable). @default on
   */
  dataPlaneTls: boolean;
  /** ZANSHIN_CRIU: the CRIU binary. @default /var/cache/zanshin/bin/criu */
  criu: string;
  /**
   * ZANSHIN_HELPERS_DIR: where zanshin-init, zanshin-nothp and zanshin-hold are (an installed PC has them in
   * /opt/zanshin/current/libexec). @default /var/cache/zanshin/bin (where infra/provision.sh builds them)
   */
  helpersDir: string;
  /** ZANSHIN_REMNANT_RETENTION_HOURS: how long a remnant is kept after its container left. @default 24 */
  remnantRetentionMs: number;
  /** ZANSHIN_KEEP_GENERATIONS: checkpoints kept per container. @default 2 */
  keepGenerations: number;
  /**
   * ZANSHIN_STORE_RESERVE_MIB: free space the store keeps for checkpoints and receives; under it, the remnants that
   * left longest ago go first. @default 10 % of the store's disk, 256 MiB to 2 GiB
   */
  storeReserveBytes?: number;
  /** ZANSHIN_LAZY_RESTORE: restore with CRIU's lazy-pages daemon (memory copied in after resuming). @default true */
  lazyRestore: boolean;
  /** ZANSHIN_LAZY_RESTORE_MIN_MIB: images with less memory are restored plainly (lazy does not pay). @default 128 */
  lazyRestoreMinBytes: number;
  /**
   * ZANSHIN_DIRTY_STRATEGY: auto (kernel where CRIU confirms soft-dirty tracking, else content), content, or kernel
   * (refused at start where the kernel cannot track). @default auto
   */
  dirtyStrategy: 'auto' | 'content' | 'kernel';
  /** ZANSHIN_CHAIN_MERGE_THRESHOLD: a restored chain of differential checkpoints longer than this is merged. @default 3 */
  chainMergeThreshold: number;
  /** ZANSHIN_API_URL: migration-api, for load reports; none are sent when unset. */
  apiUrl: string | null;
  /** ZANSHIN_LOAD_REPORT_SECONDS: interval of load reports. @default 10 */
  loadReportMs: number;
  /** ZANSHIN_NETNS_PREFIX: containers' network namespaces are /run/netns/<prefix>-<node>-<container>. @default zc */
  netnsPrefix: string;
  /** ZANSHIN_CONTAINER_POOL: containers' addresses; this PC refuses all traffic from them. @default none */
  containerPool: string | null;
  /**
   * ZANSHIN_NODE_TOKEN or ZANSHIN_NODE_TOKEN_FILE: this PC's own credential for migration-api (issued by an
   * administrator: `zanshin node <id> credential`). Required with ZANSHIN_API_URL.
   */
  nodeToken: string | null;
  /**
   * ZANSHIN_ROOTFS_ROOTS: directories (colon-separated) that new containers' rootfs sources must lie in; nothing
   * else on the PC can become a container's filesystem. @default <ZANSHIN_CACHE_DIR or /var/cache/zanshin>/images
   */
  rootfsRoots: string[];
  /**
   * What the data plane takes from one sender: ZANSHIN_DATAPLANE_MAX_MANIFEST_MIB (a manifest request's body,
   * @default 64: an image of about 6 GiB), ZANSHIN_DATAPLANE_MAX_STREAM_MIB (a chunk request once decompressed,
   * @default 640; sources send at most 512 MiB per request), ZANSHIN_DATAPLANE_MAX_CONNECTIONS (@default 64).
   */
  dataPlaneLimits: DataPlaneLimits;
  /** ZANSHIN_LEASE_SECONDS: fencing (domain/fencing.ts). @default DEFAULT_LEASE_SECONDS (20) */
  leaseSeconds: number;
  /**
   * ZANSHIN_INSECURE_REGISTRIES: registries (host[:port], comma-separated) whose images this PC pulls without
   * checking their TLS certificate (a campus registry with a self-signed one). @default none
   */
  insecureRegistries: string[];
  /**
   * Continuous protection (domain/protection.ts): ZANSHIN_PROTECT_SECONDS, the interval of each running container's
   * safety checkpoint, kept on another PC (@default 15; 0 turns it off); ZANSHIN_PROTECT_FREEZE_PERCENT, the share of
   * wall time their freezes may take, the interval lengthened to keep it (@default 2); ZANSHIN_PROTECT_MAX_SECONDS,
   * the longest interval that rule may choose (@default 600).
   */
  protection: ProtectionSettings;
  /**
   * Login detection (node/seat-watch.ts): ZANSHIN_SEAT_WATCH `auto` (where logind answers), `off`;
   * ZANSHIN_SEAT (@default seat0); ZANSHIN_SEAT_REMOTE `on` counts ssh sessions as use (@default off);
   * ZANSHIN_SEAT_IDLE_SECONDS, how long after the last logout the PC is offered again (@default 600).
   */
  seat: SeatSettings & { watch: boolean; idleSeconds: number };
}

function seatSettings(env: Env): NodeWorkerConfig['seat'] {
  const onOff = (name: string, fallback: string, on: string, off: string): boolean => {
    const v = envString(env, name, fallback);
    if (v !== on && v !== off) throw new ConfigError(`${name}=${JSON.stringify(v)} is invalid: use ${on} or ${off}`);
    return v === on;
  };
  const seat = envString(env, 'ZANSHIN_SEAT', DEFAULT_SEAT.seat);
  if (!/^seat[A-Za-z0-9_-]{1,32}$/.test(seat))
    throw new ConfigError(`ZANSHIN_SEAT=${JSON.stringify(seat)} is not a logind seat name (seat0, seat1, ...)`);
  return {
    watch: onOff('ZANSHIN_SEAT_WATCH', 'auto', 'auto', 'off'),
    seat,
    remoteCounts: onOff('ZANSHIN_SEAT_REMOTE', 'off', 'on', 'off'),
    idleSeconds: envInt(env, 'ZANSHIN_SEAT_IDLE_SECONDS', 600, 0, 7 * 86_400),
  };
}

function protectionSettings(env: Env): ProtectionSettings {
  const intervalMs = envInt(env, 'ZANSHIN_PROTECT_SECONDS', DEFAULT_PROTECTION.intervalMs / 1000, 0, 24 * 3600) * 1000;
  const maxIntervalMs =
    envInt(env, 'ZANSHIN_PROTECT_MAX_SECONDS', DEFAULT_PROTECTION.maxIntervalMs / 1000, 1, 24 * 3600) * 1000;
  if (intervalMs > maxIntervalMs)
    throw new ConfigError(
      `ZANSHIN_PROTECT_SECONDS (${intervalMs / 1000}) is longer than ZANSHIN_PROTECT_MAX_SECONDS (${maxIntervalMs / 1000}): raise the maximum or shorten the interval`,
    );
  return {
    intervalMs,
    freezeShare: envInt(env, 'ZANSHIN_PROTECT_FREEZE_PERCENT', DEFAULT_PROTECTION.freezeShare * 100, 1, 50) / 100,
    maxIntervalMs,
  };
}

function rootfsRoots(env: Env): string[] {
  const fallback = `${env.ZANSHIN_CACHE_DIR || '/var/cache/zanshin'}/images`;
  const roots = envString(env, 'ZANSHIN_ROOTFS_ROOTS', fallback).split(':').filter(Boolean);
  for (const r of roots)
    if (!r.startsWith('/') || r.split('/').includes('..'))
      throw new ConfigError(`ZANSHIN_ROOTFS_ROOTS: ${JSON.stringify(r)} is not an absolute path without ".."`);
  if (!roots.length) throw new ConfigError('ZANSHIN_ROOTFS_ROOTS is empty: name at least one directory');
  return roots;
}

function insecureRegistries(env: Env): string[] {
  const hosts = envString(env, 'ZANSHIN_INSECURE_REGISTRIES', '')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  for (const h of hosts)
    if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(h))
      throw new ConfigError(`ZANSHIN_INSECURE_REGISTRIES: ${JSON.stringify(h)} is not a host[:port]`);
  return hosts;
}

function dirtyStrategy(env: Env): NodeWorkerConfig['dirtyStrategy'] {
  const v = envString(env, 'ZANSHIN_DIRTY_STRATEGY', 'auto');
  if (v === 'auto' || v === 'content' || v === 'kernel') return v;
  throw new ConfigError(`ZANSHIN_DIRTY_STRATEGY=${JSON.stringify(v)} is invalid: use auto, content or kernel`);
}

/** Where infra/provision.sh builds the node's static helpers (zanshin-init, zanshin-nothp, zanshin-hold). */
export const HELPERS_DIR = '/var/cache/zanshin/bin';

export function nodeWorkerConfig(env: Env = process.env): NodeWorkerConfig {
  const nodeId = envRequired(env, 'ZANSHIN_NODE_ID', "set it to this PC's id, e.g. ZANSHIN_NODE_ID=pc1");
  if (!isValidNodeId(nodeId))
    throw new ConfigError(`ZANSHIN_NODE_ID=${JSON.stringify(nodeId)} is invalid: ${NODE_ID_RULE}`);
  return {
    temporal: temporalConfig(env),
    nodeId,
    taskQueue: nodeTaskQueue(nodeId),
    dataDir: envString(env, 'ZANSHIN_NODE_DATA_DIR', `/var/lib/zanshin/${nodeId}`),
    address: envString(env, 'ZANSHIN_NODE_ADDRESS', '127.0.0.1'),
    dataPort: envInt(env, 'ZANSHIN_DATA_PORT', 7070, 1, 65535),
    dataPlaneTls: envFlag(env, 'ZANSHIN_DATAPLANE_TLS', true),
    criu: envString(env, 'ZANSHIN_CRIU', '/var/cache/zanshin/bin/criu'),
    helpersDir: envString(env, 'ZANSHIN_HELPERS_DIR', HELPERS_DIR),
    remnantRetentionMs: envInt(env, 'ZANSHIN_REMNANT_RETENTION_HOURS', 24, 0, 24 * 365) * 3_600_000,
    keepGenerations: envInt(env, 'ZANSHIN_KEEP_GENERATIONS', 2, 1, 100),
    ...(env.ZANSHIN_STORE_RESERVE_MIB
      ? { storeReserveBytes: envInt(env, 'ZANSHIN_STORE_RESERVE_MIB', 0, 0, 1 << 24) * 2 ** 20 }
      : {}),
    lazyRestore: envFlag(env, 'ZANSHIN_LAZY_RESTORE', true),
    lazyRestoreMinBytes: envInt(env, 'ZANSHIN_LAZY_RESTORE_MIN_MIB', 128, 0, 1 << 20) * 1024 * 1024,
    dirtyStrategy: dirtyStrategy(env),
    chainMergeThreshold: envInt(env, 'ZANSHIN_CHAIN_MERGE_THRESHOLD', 3, 1, 64),
    apiUrl: env.ZANSHIN_API_URL || null,
    loadReportMs: envInt(env, 'ZANSHIN_LOAD_REPORT_SECONDS', 10, 1, 3600) * 1000,
    netnsPrefix: envString(env, 'ZANSHIN_NETNS_PREFIX', 'zc'),
    containerPool: addressPoolSettings(env)?.cidr ?? null,
    nodeToken: env.ZANSHIN_API_URL ? envSecret(env, 'ZANSHIN_NODE_TOKEN') : null,
    rootfsRoots: rootfsRoots(env),
    insecureRegistries: insecureRegistries(env),
    protection: protectionSettings(env),
    seat: seatSettings(env),
    dataPlaneLimits: {
      maxManifestBytes:
        envInt(env, 'ZANSHIN_DATAPLANE_MAX_MANIFEST_MIB', mib(defaults.maxManifestBytes), 1, 4096) * MiB,
      maxStreamBytes:
        envInt(env, 'ZANSHIN_DATAPLANE_MAX_STREAM_MIB', mib(defaults.maxStreamBytes), MIN_STREAM_MIB, 65536) * MiB,
      maxConnections: envInt(env, 'ZANSHIN_DATAPLANE_MAX_CONNECTIONS', defaults.maxConnections, 4, 65536),
    },
    leaseSeconds: leaseSeconds(env),
  };
}

const leaseSeconds = (env: Env): number => envInt(env, 'ZANSHIN_LEASE_SECONDS', DEFAULT_LEASE_SECONDS, 2, 3600);

/** The fence watchdog of one PC (workers/fence-watchdog.ts): the node worker's own settings, a few of them. */
export interface FenceConfig {
  nodeId: string;
  dataDir: string;
  netnsPrefix: string;
  leaseSeconds: number;
  remnantRetentionMs: number;
}

export function fenceConfig(env: Env = process.env): FenceConfig {
  const nodeId = envRequired(env, 'ZANSHIN_NODE_ID', "set it to this PC's id, e.g. ZANSHIN_NODE_ID=pc1");
  if (!isValidNodeId(nodeId))
    throw new ConfigError(`ZANSHIN_NODE_ID=${JSON.stringify(nodeId)} is invalid: ${NODE_ID_RULE}`);
  return {
    nodeId,
    dataDir: envString(env, 'ZANSHIN_NODE_DATA_DIR', `/var/lib/zanshin/${nodeId}`),
    netnsPrefix: envString(env, 'ZANSHIN_NETNS_PREFIX', 'zc'),
    leaseSeconds: leaseSeconds(env),
    remnantRetentionMs: envInt(env, 'ZANSHIN_REMNANT_RETENTION_HOURS', 24, 0, 24 * 365) * 3_600_000,
  };
}

export interface PolicyConfig {
  /** ZANSHIN_WEIGHT_LOAD (k), ZANSHIN_WEIGHT_REMNANT (l), ZANSHIN_WEIGHT_FREE_TIME (m). @default 1, 0.5, 0.5 */
  weights: { k: number; l: number; m: number };
  /** ZANSHIN_OFFLINE_AFTER_SECONDS: no report for this long = offline. @default DEFAULT_OFFLINE_AFTER_SECONDS (30) */
  offlineAfterMs: number;
  /** ZANSHIN_LECTURE_MARGIN_MINUTES: never place on a PC whose lecture starts within this. @default 15 */
  lectureMarginMs: number;
  /**
   * Fencing (domain/fencing.ts): ZANSHIN_LEASE_SECONDS (@default 30), the PCs' lease, and ZANSHIN_FENCE_MARGIN_SECONDS
   * (@default 10): a silent PC's containers are restored elsewhere no sooner than lease + margin after its last report.
   */
  fencing: { leaseSeconds: number; marginSeconds: number };
}

function envFlag(env: Env, name: string, fallback: boolean): boolean {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new ConfigError(`${name}=${JSON.stringify(v)} is not a yes/no value: use 1 or 0`);
}

function envWeight(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0 || v > 100)
    throw new ConfigError(`${name}=${JSON.stringify(raw)} must be a number from 0 to 100`);
  return v;
}

export function policyConfig(env: Env = process.env): PolicyConfig {
  return {
    weights: {
      k: envWeight(env, 'ZANSHIN_WEIGHT_LOAD', 1),
      l: envWeight(env, 'ZANSHIN_WEIGHT_REMNANT', 0.5),
      m: envWeight(env, 'ZANSHIN_WEIGHT_FREE_TIME', 0.5),
    },
    offlineAfterMs: envInt(env, 'ZANSHIN_OFFLINE_AFTER_SECONDS', DEFAULT_OFFLINE_AFTER_SECONDS, 1, 86_400) * 1000,
    lectureMarginMs: envInt(env, 'ZANSHIN_LECTURE_MARGIN_MINUTES', 15, 0, 24 * 60) * 60_000,
    fencing: {
      leaseSeconds: leaseSeconds(env),
      marginSeconds: envInt(env, 'ZANSHIN_FENCE_MARGIN_SECONDS', DEFAULT_FENCE_MARGIN_SECONDS, 2, 3600),
    },
  };
}

/** The settings of the containers' address pool as given; domain/container-network.ts parses and checks them. */
export interface AddressPoolSettings {
  /** ZANSHIN_CONTAINER_POOL, e.g. 10.77.0.128/25. */
  cidr: string;
  /** ZANSHIN_LAN_PREFIX: prefix length of the LAN. @default 24 */
  lanPrefixLength: number;
  /** ZANSHIN_LAN_GATEWAY: the containers' default route. @default none */
  gateway?: string;
  /** ZANSHIN_CONTAINER_DNS: comma-separated name servers. @default none */
  dns: string[];
}

function addressPoolSettings(env: Env): AddressPoolSettings | null {
  const cidr = env.ZANSHIN_CONTAINER_POOL;
  if (!cidr) return null;
  if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(cidr.trim())) {
    throw new ConfigError(`ZANSHIN_CONTAINER_POOL=${JSON.stringify(cidr)} must look like 10.77.0.128/25`);
  }
  const dns = (env.ZANSHIN_CONTAINER_DNS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    cidr: cidr.trim(),
    lanPrefixLength: envInt(env, 'ZANSHIN_LAN_PREFIX', 24, 8, 30),
    ...(env.ZANSHIN_LAN_GATEWAY ? { gateway: env.ZANSHIN_LAN_GATEWAY } : {}),
    dns,
  };
}

export interface ApiConfig {
  /** ZANSHIN_API_HOST, the address migration-api listens on. @default 127.0.0.1 */
  host: string;
  /** ZANSHIN_API_PORT. @default 8787 */
  port: number;
  /** ZANSHIN_DATABASE_URL, a postgres:// URL. Required. */
  databaseUrl: string;
  /** ZANSHIN_ADMIN_TOKEN or ZANSHIN_ADMIN_TOKEN_FILE: bearer token of administrators. Required. */
  adminToken: string;
  /**
   * ZANSHIN_TIMEZONE: the campus time zone (CSV timetables, iCalendar floating times and all-day events).
   * @default Asia/Tokyo
   */
  timezone: string;
  /**
   * ZANSHIN_LECTURE_WINDOW_DAYS: timetables are expanded this far ahead; rules without an end are expanded further
   * as time passes. @default 140 (a term)
   */
  lectureWindowDays: number;
  /**
   * ZANSHIN_HISTORY_DAYS: finished migrations, lecture conflicts and lectures that ended longer ago than this are
   * removed (hourly). @default 180 (a term and its exams)
   */
  historyDays: number;
  /**
   * ZANSHIN_CONTAINER_POOL (e.g. 10.77.0.128/25), ZANSHIN_LAN_PREFIX (default 24), ZANSHIN_LAN_GATEWAY (optional):
   * containers' own LAN addresses. @default none: containers get loopback only
   */
  addressPool: AddressPoolSettings | null;
  policy: PolicyConfig;
  temporal: TemporalConfig;
  /**
   * ZANSHIN_CA_CERT and ZANSHIN_CA_KEY: the cluster CA, with which migration-api signs the certificate of a PC that
   * enrolls with a join token. @default none: enrollment answers 503
   */
  enrollmentCa: { ca: string; caKey: string } | null;
  /** ZANSHIN_API_TLS_CERT and ZANSHIN_API_TLS_KEY: serve HTTPS with this certificate. @default none: plain HTTP */
  tls: { cert: string; key: string } | null;
}

/** Two settings that come together or not at all. */
function pairOf(env: Env, a: string, b: string): [string, string] | null {
  const [x, y] = [env[a] || '', env[b] || ''];
  if (!x && !y) return null;
  if (!x || !y) throw new ConfigError(`set both ${a} and ${b}, or neither (only ${x ? a : b} is set)`);
  return [x, y];
}

export function apiConfig(env: Env = process.env): ApiConfig {
  const adminToken = envSecret(env, 'ZANSHIN_ADMIN_TOKEN');
  const ca = pairOf(env, 'ZANSHIN_CA_CERT', 'ZANSHIN_CA_KEY');
  const tls = pairOf(env, 'ZANSHIN_API_TLS_CERT', 'ZANSHIN_API_TLS_KEY');
  return {
    host: envString(env, 'ZANSHIN_API_HOST', '127.0.0.1'),
    port: envInt(env, 'ZANSHIN_API_PORT', 8787, 1, 65535),
    databaseUrl: envRequired(env, 'ZANSHIN_DATABASE_URL', 'e.g. postgres://zanshin:PASSWORD@127.0.0.1:5433/zanshin'),
    adminToken,
    timezone: envString(env, 'ZANSHIN_TIMEZONE', 'Asia/Tokyo'),
    lectureWindowDays: envInt(env, 'ZANSHIN_LECTURE_WINDOW_DAYS', DEFAULT_LECTURE_WINDOW_DAYS, 7, 3660),
    historyDays: envInt(env, 'ZANSHIN_HISTORY_DAYS', DEFAULT_HISTORY_DAYS, 1, 36600),
    addressPool: addressPoolSettings(env),
    policy: policyConfig(env),
    temporal: temporalConfig(env),
    enrollmentCa: ca && { ca: ca[0], caKey: ca[1] },
    tls: tls && { cert: tls[0], key: tls[1] },
  };
}

export interface ControlWorkerConfig {
  temporal: TemporalConfig;
  /** ZANSHIN_DATABASE_URL: without it only workflows that need no database run. */
  databaseUrl: string | null;
  policy: PolicyConfig;
}

export function controlWorkerConfig(env: Env = process.env): ControlWorkerConfig {
  return { temporal: temporalConfig(env), databaseUrl: env.ZANSHIN_DATABASE_URL || null, policy: policyConfig(env) };
}

export interface AdminClientConfig {
  /** ZANSHIN_API_URL. @default http://127.0.0.1:8787 */
  url: string;
  /**
   * An owner's ZANSHIN_TOKEN[_FILE]; else ZANSHIN_ADMIN_TOKEN, ZANSHIN_ADMIN_TOKEN_FILE, or the local cluster's own token
   * file (<ZANSHIN_DATA_DIR>/secrets/admin-token).
   */
  token: string;
}

/** How the administrator CLI reaches migration-api. */
export function adminClientConfig(env: Env = process.env): AdminClientConfig {
  const url = envString(env, 'ZANSHIN_API_URL', 'http://127.0.0.1:8787').replace(/\/$/, '');
  // An owner's token (issued by `zanshin owner issue`) goes first: an owner runs the same CLI on their containers.
  if (env.ZANSHIN_TOKEN || env.ZANSHIN_TOKEN_FILE) return { url, token: envSecret(env, 'ZANSHIN_TOKEN') };
  if (!env.ZANSHIN_ADMIN_TOKEN && !env.ZANSHIN_ADMIN_TOKEN_FILE) {
    const file = path.join(
      envString(env, 'ZANSHIN_DATA_DIR', path.join(REPO_ROOT, '.zanshin')),
      'secrets',
      'admin-token',
    );
    if (!existsSync(file))
      throw new ConfigError(
        `no administrator token: set ZANSHIN_ADMIN_TOKEN or ZANSHIN_ADMIN_TOKEN_FILE (looked for ${file})`,
      );
    return { url, token: envSecret({ ZANSHIN_ADMIN_TOKEN_FILE: file }, 'ZANSHIN_ADMIN_TOKEN') };
  }
  return { url, token: envSecret(env, 'ZANSHIN_ADMIN_TOKEN') };
}
