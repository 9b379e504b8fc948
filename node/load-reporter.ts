import { readNodeDescription, staticNodeFacts } from './node-description';
import type { NodeReport, ReportVerdict } from '../domain/node-report';
import type { ProtectionStatus } from '../domain/protection';
import { applyVerdict, FencedList, Lease } from './fence';
import type { NodeExecutor } from './executor';
import { nodeTaskQueue } from '../common/names';
import { statfs } from 'node:fs/promises';
import { detectLinkRate } from './link-rate';

/** Asked once per worker: the link's shaping does not change while it runs. */
let linkRate: Promise<number | null> | null = null;

export interface LoadReporterOptions {
  /** migration-api base URL. */
  apiUrl: string;
  /** Node workers' bearer token. */
  token: string;
  executor: NodeExecutor;
  /** Seconds between reports. */
  intervalMs: number;
  log?: (line: string) => void;
  /** Continuous protection's newest checkpoint of each container here (node/protection.ts). */
  protection?: () => ProtectionStatus[];
}

/** Everything the control plane needs to place containers: load, CPU features, dirty tracking, remnants. */
export async function buildNodeReport(executor: NodeExecutor): Promise<NodeReport> {
  const { nodeId, capabilities, dataPlaneAddress } = executor.config;
  const listedAt = new Date().toISOString();
  linkRate ??= detectLinkRate(dataPlaneAddress.replace(/:\d+$/, '')).catch(() => null);
  const [description, { cpuFlags: flags }, inventory, runcList, disk, linkRateBps] = await Promise.all([
    readNodeDescription(nodeId),
    staticNodeFacts(),
    executor.store.inventory(),
    executor.list(),
    statfs(executor.config.dataDir),
    linkRate,
  ]);
  const containers = await Promise.all(
    runcList
      .filter((c) => c.status !== 'absent')
      .map(async (c) => ({
        containerId: c.containerId,
        status: c.status as 'running' | 'paused' | 'stopped' | 'created',
        exit: c.status === 'running' ? null : ((await executor.exitOf(c.containerId))?.status ?? null),
        epoch: await executor.store.epoch(c.containerId).catch(() => 0),
      })),
  );
  return {
    address: dataPlaneAddress,
    taskQueue: nodeTaskQueue(nodeId),
    cpu: description.load.cpu,
    memory: description.load.memory,
    memoryTotalBytes: description.load.memoryTotalBytes,
    memoryAvailableBytes: description.load.memoryAvailableBytes,
    cpuModel: description.cpuModel,
    cpuCores: description.cpuCores,
    cpuFlags: flags
      .split(/\s+/)
      .filter((f) => /^[a-z0-9_.]{1,64}$/.test(f))
      .sort(),
    dirtyTracking: capabilities.memDirtyTrack,
    criuVersion: capabilities.criuVersion,
    strategy: capabilities.strategy,
    checkpointsOtherUsers: capabilities.checkpointsOtherUsers,
    linkRateBps,
    diskTotalBytes: disk.blocks * disk.bsize,
    diskFreeBytes: disk.bavail * disk.bsize,
    containers,
    listedAt,
    remnants: inventory.map((c) => ({
      containerId: c.containerId,
      hasBundle: c.hasBundle,
      generations: c.generations,
      imageBytes: c.imageBytes,
      leftAt: c.remnant?.leftAt ?? null,
      expiresAt: c.remnant?.expiresAt ?? null,
    })),
  };
}

/** Reports to migration-api at a fixed interval; a failed report is logged and retried at the next tick. */
export class LoadReporter {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly o: LoadReporterOptions) {}

  async reportOnce(): Promise<ReportVerdict> {
    // The lease an acknowledgement renews runs from before the report was made (domain/fencing.ts).
    const sentAt = process.hrtime.bigint();
    const protection = this.o.protection?.();
    const report = { ...(await buildNodeReport(this.o.executor)), ...(protection ? { protection } : {}) };
    const url = `${this.o.apiUrl}/v1/nodes/${this.o.executor.config.nodeId}/report`;
    const res = await fetch(url, {
      method: 'PUT',
      body: JSON.stringify(report),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.o.token}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`migration-api refused the load report (HTTP ${res.status}): ${await res.text()}`);
    const verdict = (await res.json()) as ReportVerdict;
    await this.lease.acknowledge(sentAt);
    const { executor } = this.o;
    await applyVerdict(
      {
        runc: executor.runc,
        net: executor.net,
        store: executor.store,
        fenced: this.fenced,
        remnantRetentionMs: executor.config.remnantRetentionMs,
        log: this.o.log ?? console.error,
      },
      verdict.stale ?? [],
    );
    const orphans = await executor.removeOrphanedNamespaces();
    if (orphans.length)
      (this.o.log ?? console.error)(`removed the network namespaces of ${orphans.join(', ')}: they run no longer here`);
    return verdict;
  }

  private get lease(): Lease {
    return new Lease(this.o.executor.config.dataDir);
  }

  private get fenced(): FencedList {
    return new FencedList(this.o.executor.config.dataDir);
  }

  start(): void {
    const tick = (): void => {
      this.running = this.reportOnce().then(
        () => undefined,
        (err: Error) => (this.o.log ?? console.error)(`load report to ${this.o.apiUrl} failed: ${err.message}`),
      );
    };
    tick();
    this.timer = setInterval(tick, this.o.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
