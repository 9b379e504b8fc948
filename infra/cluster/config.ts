import { REPO_ROOT } from '../../common/paths';
import path from 'node:path';
import { Env, envInt, envString } from '../../common/env';
import { ConfigError } from '../../common/errors';
import { DEFAULT_FENCE_MARGIN_SECONDS, DEFAULT_LEASE_SECONDS } from '../../common/names';
import { fencingTimesProblem } from '../../domain/fencing';

/** The lease of a cluster with guest PCs: twice a host PC's (a guest's dump under TCG takes 20-60 s). */
export const GUEST_LEASE_SECONDS = 2 * DEFAULT_LEASE_SECONDS;

export { REPO_ROOT };

/** The local cluster's settings. Every field has an environment variable and a default (see README). */
export interface ClusterConfig {
  /** ZANSHIN_DATA_DIR: databases, logs, secrets, per-PC data. @default <repo>/.zanshin */
  dataDir: string;
  /** ZANSHIN_NODES: how many simulated PCs (pc1..pcN). @default 3 */
  nodes: number;
  /**
   * ZANSHIN_VM_NODES: how many guest PCs (vm1..vmN): QEMU virtual machines with Debian's stock kernel (soft-dirty
   * tracking), on the same LAN. @default 0
   */
  vmNodes: number;
  /**
   * ZANSHIN_VM_INSTALL (or `cluster start --vm-install`): guest PCs boot a Debian 12 image with systemd
   * (infra/guest/build-debian-pc.sh) and are installed and enrolled the documented way (infra/pc/install.sh, a join
   * token), instead of running this checkout's build from the host's files. Needs `--temporal server`. @default off
   */
  vmInstall: boolean;
  /** ZANSHIN_VM_MEMORY_MIB: memory of each guest PC. @default 2048 */
  vmMemoryMiB: number;
  /** ZANSHIN_VM_DISK_GIB: size of each guest PC's own disk (its remnant store; sparse on the host). @default 8 */
  vmDiskGiB: number;
  /** ZANSHIN_NS_PREFIX: prefix of the network namespaces the cluster creates. @default zs */
  namePrefix: string;
  /** ZANSHIN_LAN_SUBNET: first three octets of the /24 the PCs live on (inside namespaces only). @default 10.77.0 */
  lanSubnet: string;
  /** ZANSHIN_LINK_RATE: tc tbf rate of each PC's link (e.g. 1gbit, 100mbit), or "off". @default 1gbit */
  linkRate: string | null;
  /** ZANSHIN_TEMPORAL_PORT: Temporal frontend (gRPC) port. @default 7233 */
  temporalPort: number;
  /** ZANSHIN_TEMPORAL_UI_PORT: Temporal Web UI port. @default 8233 */
  temporalUiPort: number;
  /**
   * ZANSHIN_TEMPORAL_UI_BIN: the Web UI beside the full server (infra/temporal-ui/, built by provisioning).
   * @default /var/cache/zanshin/temporal-ui/zanshin-temporal-ui
   */
  temporalUiBin: string;
  /**
   * ZANSHIN_TEMPORAL_GATE_PORT: the mutual-TLS gate in front of Temporal, the only way PCs reach it (the dev server
   * itself listens on loopback). @default 7234
   */
  gatePort: number;
  /**
   * ZANSHIN_CODEC_PORT: the codec server (loopback only) through which the Web UI and the Temporal CLI read the
   * encrypted payloads. @default 8234
   */
  codecPort: number;
  /** ZANSHIN_API_PORT: migration-api port (loopback, plain HTTP: the control host's own tools). @default 8787 */
  apiPort: number;
  /**
   * ZANSHIN_API_TLS_PORT: with `--temporal server`, a second migration-api on the same PostgreSQL serving HTTPS with a
   * certificate of the cluster CA: where installed PCs enroll and report. @default 8443
   */
  apiTlsPort: number;
  /** ZANSHIN_PG_PORT: port of the cluster's own PostgreSQL. @default 5433 */
  postgresPort: number;
  /** ZANSHIN_TEMPORAL_BIN: the Temporal CLI binary. @default /var/cache/zanshin/bin/temporal */
  temporalBin: string;
  /**
   * ZANSHIN_TEMPORAL (or `cluster start --temporal`): `dev`, the Temporal CLI's dev server on SQLite behind the
   * mutual-TLS gate; or `server`, Temporal's own server on the cluster's PostgreSQL with mutual TLS and Zanshin's
   * authorizer on ZANSHIN_TEMPORAL_PORT (infra/temporal-server/). @default dev
   */
  temporal: TemporalKind;
  /**
   * ZANSHIN_TEMPORAL_SERVER_DIR: the built Temporal server (zanshin-temporal, temporal-sql-tool and its schema).
   * @default /var/cache/zanshin/temporal-server
   */
  temporalServerDir: string;
  /**
   * ZANSHIN_TEMPORAL_SERVICE_PORTS: 7 loopback ports of the full server's inner services (frontend membership;
   * history, matching and worker gRPC and membership). @default 7240-7246
   */
  temporalServicePorts: number[];
  /** ZANSHIN_CRIU: the CRIU binary node workers use. @default /var/cache/zanshin/bin/criu */
  criuBin: string;
  /** ZANSHIN_LOAD_REPORT_SECONDS: how often each PC reports its load to migration-api. @default 10 */
  loadReportSeconds: number;
  /** ZANSHIN_REBALANCE_MINUTES: interval of the rebalancing schedule. @default 5 */
  rebalanceMinutes: number;
  /** ZANSHIN_SAFETY_CHECKPOINT_MINUTES: interval of safety checkpoints (the most work a power-off can lose). @default 10 */
  safetyCheckpointMinutes: number;
  /**
   * ZANSHIN_PROTECT_SECONDS: continuous protection's interval on the cluster's PCs (node/protection.ts); 0: off.
   * Off by default here, unlike on an installed PC (15 s): the local cluster's benchmarks and demo measure moves to
   * PCs that hold nothing of the container. @default 0
   */
  protectSeconds: number;
  /** ZANSHIN_PROTECT_FREEZE_PERCENT: the share of wall time protection's freezes may take. @default 2 */
  protectFreezePercent: number;
  /**
   * ZANSHIN_SEAT_IDLE_SECONDS: installed guest PCs are offered again this long after their user's last logout (host
   * PCs share this machine and watch no seat). @default 600
   */
  seatIdleSeconds: number;
  /** ZANSHIN_RECOVERY_AFTER_SECONDS: a PC silent this long has its containers restored elsewhere. @default 60 (90 with guest PCs) */
  recoveryAfterSeconds: number;
  /** ZANSHIN_LEASE_SECONDS: a PC whose reports go unacknowledged this long fences its containers. @default 30 (60 with guest PCs) */
  leaseSeconds: number;
  /** ZANSHIN_FENCE_MARGIN_SECONDS: what recovery waits beyond a silent PC's lease. @default 10 */
  fenceMarginSeconds: number;
  /** ZANSHIN_SCHEDULES=paused creates the schedules paused (tests, maintenance). @default running */
  schedulesPaused: boolean;
}

export const TEMPORAL_KINDS = ['dev', 'server'] as const;
export type TemporalKind = (typeof TEMPORAL_KINDS)[number];

function temporalKind(value: string): TemporalKind {
  if (!(TEMPORAL_KINDS as readonly string[]).includes(value))
    throw new ConfigError(`ZANSHIN_TEMPORAL=${JSON.stringify(value)} must be one of ${TEMPORAL_KINDS.join(', ')}`);
  return value as TemporalKind;
}

function servicePorts(value: string): number[] {
  const ports = value.split(',').map((p) => Number(p.trim()));
  if (ports.length !== 7 || !ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535))
    throw new ConfigError(`ZANSHIN_TEMPORAL_SERVICE_PORTS=${JSON.stringify(value)} must be 7 ports, comma-separated`);
  return ports;
}

export function clusterConfig(env: Env = process.env, overrides: Partial<ClusterConfig> = {}): ClusterConfig {
  const cacheDir = envString(env, 'ZANSHIN_CACHE_DIR', '/var/cache/zanshin');
  const rate = envString(env, 'ZANSHIN_LINK_RATE', '1gbit');
  const vmNodes = overrides.vmNodes ?? envInt(env, 'ZANSHIN_VM_NODES', 0, 0, 8);
  // An emulated guest (TCG) busy with a dump answers a report tens of seconds late: with guests, the lease (and the
  // recovery delay behind it) default to what the guest tests need, so that a busy guest does not fence itself.
  const slow = vmNodes > 0;
  const config: ClusterConfig = {
    dataDir: path.resolve(envString(env, 'ZANSHIN_DATA_DIR', path.join(REPO_ROOT, '.zanshin'))),
    nodes: envInt(env, 'ZANSHIN_NODES', 3, 1, 50),
    vmNodes,
    vmInstall: envString(env, 'ZANSHIN_VM_INSTALL', 'off') === 'on',
    vmMemoryMiB: envInt(env, 'ZANSHIN_VM_MEMORY_MIB', 2048, 512, 65536),
    vmDiskGiB: envInt(env, 'ZANSHIN_VM_DISK_GIB', 8, 1, 1024),
    namePrefix: envString(env, 'ZANSHIN_NS_PREFIX', 'zs'),
    lanSubnet: envString(env, 'ZANSHIN_LAN_SUBNET', '10.77.0'),
    linkRate: rate === 'off' ? null : rate,
    temporalPort: envInt(env, 'ZANSHIN_TEMPORAL_PORT', 7233, 1, 65535),
    temporalUiPort: envInt(env, 'ZANSHIN_TEMPORAL_UI_PORT', 8233, 1, 65535),
    temporalUiBin: envString(env, 'ZANSHIN_TEMPORAL_UI_BIN', path.join(cacheDir, 'temporal-ui', 'zanshin-temporal-ui')),
    gatePort: envInt(env, 'ZANSHIN_TEMPORAL_GATE_PORT', 7234, 1, 65535),
    codecPort: envInt(env, 'ZANSHIN_CODEC_PORT', 8234, 1, 65535),
    apiPort: envInt(env, 'ZANSHIN_API_PORT', 8787, 1, 65535),
    apiTlsPort: envInt(env, 'ZANSHIN_API_TLS_PORT', 8443, 1, 65535),
    postgresPort: envInt(env, 'ZANSHIN_PG_PORT', 5433, 1, 65535),
    temporalBin: envString(env, 'ZANSHIN_TEMPORAL_BIN', path.join(cacheDir, 'bin', 'temporal')),
    temporal: temporalKind(envString(env, 'ZANSHIN_TEMPORAL', 'dev')),
    temporalServerDir: envString(env, 'ZANSHIN_TEMPORAL_SERVER_DIR', path.join(cacheDir, 'temporal-server')),
    temporalServicePorts: servicePorts(
      envString(env, 'ZANSHIN_TEMPORAL_SERVICE_PORTS', '7240,7241,7242,7243,7244,7245,7246'),
    ),
    criuBin: envString(env, 'ZANSHIN_CRIU', path.join(cacheDir, 'bin', 'criu')),
    loadReportSeconds: envInt(env, 'ZANSHIN_LOAD_REPORT_SECONDS', 10, 1, 3600),
    rebalanceMinutes: envInt(env, 'ZANSHIN_REBALANCE_MINUTES', 5, 1, 24 * 60),
    safetyCheckpointMinutes: envInt(env, 'ZANSHIN_SAFETY_CHECKPOINT_MINUTES', 10, 1, 24 * 60),
    protectSeconds: envInt(env, 'ZANSHIN_PROTECT_SECONDS', 0, 0, 24 * 3600),
    protectFreezePercent: envInt(env, 'ZANSHIN_PROTECT_FREEZE_PERCENT', 2, 1, 50),
    seatIdleSeconds: envInt(env, 'ZANSHIN_SEAT_IDLE_SECONDS', 600, 0, 7 * 86_400),
    recoveryAfterSeconds: envInt(env, 'ZANSHIN_RECOVERY_AFTER_SECONDS', slow ? 90 : 60, 5, 24 * 3600),
    leaseSeconds: envInt(env, 'ZANSHIN_LEASE_SECONDS', slow ? GUEST_LEASE_SECONDS : DEFAULT_LEASE_SECONDS, 2, 3600),
    fenceMarginSeconds: envInt(env, 'ZANSHIN_FENCE_MARGIN_SECONDS', DEFAULT_FENCE_MARGIN_SECONDS, 2, 3600),
    schedulesPaused: envString(env, 'ZANSHIN_SCHEDULES', 'running') === 'paused',
    ...overrides,
  };
  validateClusterConfig(config);
  return config;
}

export function validateClusterConfig(c: ClusterConfig): void {
  if (c.vmInstall && c.temporal !== 'server')
    throw new ConfigError(
      'ZANSHIN_VM_INSTALL=on (--vm-install) needs --temporal server: installed PCs reach Temporal and migration-api ' +
        'over TLS, as on a campus',
    );
  if (!/^[a-z][a-z0-9]{0,5}$/.test(c.namePrefix)) {
    throw new ConfigError(
      `ZANSHIN_NS_PREFIX=${JSON.stringify(c.namePrefix)} must be 1-6 characters of a-z and 0-9, starting with a letter`,
    );
  }
  const octets = c.lanSubnet.split('.');
  if (octets.length !== 3 || !octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255)) {
    throw new ConfigError(`ZANSHIN_LAN_SUBNET=${JSON.stringify(c.lanSubnet)} must be three octets, e.g. 10.77.0`);
  }
  if (c.nodes < 1 || c.nodes > 50) throw new ConfigError(`ZANSHIN_NODES=${c.nodes} must be between 1 and 50`);
  if (c.vmNodes < 0 || c.vmNodes > 8) throw new ConfigError(`ZANSHIN_VM_NODES=${c.vmNodes} must be between 0 and 8`);
  if (c.linkRate !== null) parseRate(c.linkRate);
  const fencing = fencingTimesProblem({
    reportSeconds: c.loadReportSeconds,
    leaseSeconds: c.leaseSeconds,
    marginSeconds: c.fenceMarginSeconds,
    recoverySeconds: c.recoveryAfterSeconds,
  });
  if (fencing) throw new ConfigError(fencing);
  const ports = [c.temporalPort, c.temporalUiPort, c.gatePort, c.codecPort, c.apiPort, c.postgresPort];
  if (c.temporal === 'server') ports.push(...c.temporalServicePorts, c.apiTlsPort);
  if (new Set(ports).size !== ports.length)
    throw new ConfigError(`the cluster's ports must differ; got ${ports.join(', ')}`);
}

const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

/** Parses a tc rate such as "1gbit" or "100mbit" into bits per second. */
export function parseRate(rate: string): number {
  const m = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/.exec(rate.trim().toLowerCase());
  if (!m || Number(m[1]) <= 0) {
    throw new ConfigError(
      `ZANSHIN_LINK_RATE=${JSON.stringify(rate)} is not a rate like 1gbit, 100mbit or 500kbit (or "off")`,
    );
  }
  return Number(m[1]) * RATE_UNITS[m[2]!]!;
}
