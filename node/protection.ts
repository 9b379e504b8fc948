// Continuous protection, source side: a loop on the PC takes a safety checkpoint of each running container every
// interval (domain/protection.ts) and sends it straight to the PC holding its lease, which keeps it as a remnant:
// a PC switched off at the wall loses at most about one interval of work. No workflow runs per checkpoint (2,000
// containers every 30 s would be 67 a second); the control plane only opens leases. A migration, evacuation or
// stop of a container comes first: the loop yields to it at once and stays away while it runs.
import {
  FREEZES_WEIGHED,
  freezeEstimate,
  ProtectionLease,
  ProtectionSettings,
  ProtectionStatus,
  protectionInterval,
} from '../domain/protection';
import type { ContainerState, TransferTarget } from '../domain/reports';
import { DataPlaneError } from './dataplane/client';
import { ProtectionClient } from './dataplane/protection-client';
import type { NodeExecutor } from './executor';

/** How long a container is left alone after a migration (or another owner of it) touched it. */
const YIELD_MS = 120_000;
/** How often the loop looks for due containers. */
const TICK_MS = 1_000;
/** How often the loop asks runc which containers run here (a process each time: not at every look). */
const LIST_EVERY_MS = 5_000;
/** How long before a lease asked for and not granted is asked for again. */
const LEASE_RETRY_MS = 30_000;

type Executor = Pick<NodeExecutor, 'list' | 'checkpoint' | 'syncBundle' | 'sendCheckpoint'>;

interface Protected {
  nextAt: number;
  /** The last few checkpoints' freezes (ms), newest last. */
  freezesMs: number[];
  /** This PC's newest protection generation: the next checkpoint's manifest travels as a delta to it. */
  lastGeneration: number | null;
  /** The one before: dropped from this PC when the next checkpoint is taken. */
  olderGeneration: number | null;
  status: ProtectionStatus | null;
  failures: number;
}

export interface ProtectionLoopDeps {
  nodeId: string;
  executor: Executor;
  settings: ProtectionSettings;
  /** Asks the control plane for leases (the PC's lifecycle workflow opens them and hands them to acceptLease). */
  requestLeases: (containerIds: string[]) => Promise<void>;
  log?: (line: string) => void;
}

/** A checkpoint cut short because a migration (or a stop) of the container came. */
class Yielded extends Error {}

export class ProtectionLoop {
  private readonly leases = new Map<string, ProtectionLease>();
  private readonly protectedHere = new Map<string, Protected>();
  private readonly yieldedUntil = new Map<string, number>();
  private readonly askedAt = new Map<string, number>();
  private inFlight: { containerId: string; abort: AbortController } | null = null;
  private listed: { at: number; ids: Set<string> } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly log: (line: string) => void;

  constructor(private readonly deps: ProtectionLoopDeps) {
    this.log = deps.log ?? ((line) => console.log(line));
  }

  start(): void {
    if (this.deps.settings.intervalMs <= 0) return;
    const loop = () => {
      if (this.stopped) return;
      this.running = this.tick()
        .catch((err: unknown) => this.log(`${this.deps.nodeId}: protection loop: ${String(err)}`))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, TICK_MS).unref();
        });
    };
    this.timer = setTimeout(loop, TICK_MS).unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.inFlight?.abort.abort('the worker stops');
    await this.running;
  }

  /** A lease the control plane opened on a holder: checkpoints of the container go there from now on. */
  acceptLease(lease: ProtectionLease): void {
    this.leases.set(lease.containerId, lease);
    this.askedAt.delete(lease.containerId);
  }

  /**
   * A migration, evacuation, stop or delete of the container begins on this PC: an unfinished checkpoint of it is
   * cut short, and none starts for a while (the move's own steps must not wait behind one).
   */
  yieldTo(containerId: string): void {
    this.yieldedUntil.set(containerId, Date.now() + YIELD_MS);
    if (this.inFlight?.containerId === containerId) this.inFlight.abort.abort(new Yielded('a migration came first'));
  }

  /** What the loop knows of each protected container (reported to migration-api with the PC's load). */
  statuses(): ProtectionStatus[] {
    return [...this.protectedHere.values()].flatMap((p) => (p.status ? [p.status] : []));
  }

  private isYielded(containerId: string, now = Date.now()): boolean {
    return (this.yieldedUntil.get(containerId) ?? 0) > now;
  }

  /** One look: forget containers gone from here, ask for missing leases, checkpoint the most overdue container. */
  async tick(now = Date.now()): Promise<void> {
    if (!this.listed || now - this.listed.at >= LIST_EVERY_MS || now < this.listed.at) {
      const running = (await this.deps.executor.list()).filter((c: ContainerState) => c.status === 'running');
      this.listed = { at: now, ids: new Set(running.map((c) => c.containerId)) };
    }
    const ids = this.listed.ids;
    for (const id of [...this.protectedHere.keys()])
      if (!ids.has(id)) {
        this.protectedHere.delete(id);
        this.leases.delete(id);
      }
    // A container just arrived (its move's checkpoint is the remnant it left) or just started (nothing to lose yet):
    // its first checkpoint comes one interval later, not while a lazy restore still copies its memory in.
    for (const id of ids)
      if (!this.protectedHere.has(id))
        this.protectedHere.set(id, {
          nextAt: now + this.deps.settings.intervalMs,
          freezesMs: [],
          lastGeneration: null,
          olderGeneration: null,
          status: null,
          failures: 0,
        });
    const unleased = [...ids].filter(
      (id) => !this.leases.has(id) && !this.isYielded(id, now) && now - (this.askedAt.get(id) ?? 0) > LEASE_RETRY_MS,
    );
    if (unleased.length) {
      for (const id of unleased) this.askedAt.set(id, now);
      await this.deps.requestLeases(unleased).catch((err: unknown) => {
        this.log(`${this.deps.nodeId}: protection leases for ${unleased.join(', ')} not asked for: ${String(err)}`);
      });
    }
    const due = [...this.protectedHere.entries()]
      .filter(([id, p]) => this.leases.has(id) && p.nextAt <= now && !this.isYielded(id, now))
      .sort((a, b) => a[1].nextAt - b[1].nextAt)[0];
    if (due) await this.protect(due[0], due[1]);
  }

  /** One safety checkpoint of one container, kept on its lease's holder. */
  private async protect(containerId: string, p: Protected): Promise<void> {
    const lease = this.leases.get(containerId)!;
    const abort = new AbortController();
    this.inFlight = { containerId, abort };
    const client = new ProtectionClient(lease, abort.signal);
    const { executor, settings, nodeId } = this.deps;
    let transferId: string | null = null;
    try {
      const plan = await client.begin();
      transferId = plan.transferId;
      const dest: TransferTarget = {
        address: plan.address,
        transferId: plan.transferId,
        token: plan.token,
        ...(plan.certificate ? { certificate: plan.certificate } : {}),
      };
      const options = { signal: abort.signal };
      // The rootfs while the program runs (files changing at that instant keep the holder's last copy).
      await executor.syncBundle(containerId, dest, false, options);
      if (abort.signal.aborted) throw abort.signal.reason;
      // The dump freezes the program: a checkpoint of it left running. The previous one stays as the delta base.
      const cp = await executor.checkpoint(containerId, true, {
        supersedes: p.olderGeneration === null ? [] : [p.olderGeneration],
        targetLacks: plan.absentKernelPaths,
      });
      const frozeAt = Math.round(Date.now() - cp.dumpMs);
      const held = plan.heldGenerations.filter((n) => !plan.rewrittenGenerations.includes(n));
      const sent = await executor.sendCheckpoint(containerId, cp.generation, dest, held, options);
      await client.keep(plan.transferId, cp.spec, cp.meta);
      transferId = null;
      const frozenMs = Math.round(cp.frozenMs ?? cp.dumpMs);
      p.freezesMs = [...p.freezesMs, frozenMs].slice(-FREEZES_WEIGHED);
      const intervalMs = protectionInterval(settings, freezeEstimate(p.freezesMs));
      p.nextAt = frozeAt + intervalMs;
      p.olderGeneration = p.lastGeneration;
      p.lastGeneration = cp.generation;
      p.failures = 0;
      p.status = {
        containerId,
        holder: lease.holder,
        generation: cp.generation,
        at: new Date(frozeAt).toISOString(),
        frozenMs,
        wireBytes: sent.wireBytes,
        tookMs: Date.now() - frozeAt,
        intervalMs,
      };
      this.log(
        `${nodeId}: protected ${containerId} on ${lease.holder}: generation ${cp.generation}, frozen ${frozenMs} ms, ` +
          `${(sent.wireBytes / 2 ** 20).toFixed(1)} MiB sent, ${p.status.tookMs} ms to kept; next in ${Math.round(intervalMs / 1000)} s` +
          (cp.partsMs ? ` (dump ${JSON.stringify(cp.partsMs)})` : ''),
      );
    } catch (err) {
      const reason: unknown = abort.signal.aborted ? abort.signal.reason : err;
      // Not through `client`: its requests end with the checkpoint's signal, and this one must still go.
      if (transferId) await new ProtectionClient(lease).abort(transferId).catch(() => undefined);
      if (reason instanceof Yielded) {
        this.log(`${nodeId}: protection of ${containerId} yielded to a migration`);
        return;
      }
      // A holder that lost the lease (its worker restarted) or refuses it: ask for another.
      if (err instanceof DataPlaneError && (err.status === 404 || err.status === 403 || err.status === undefined))
        this.leases.delete(containerId);
      p.failures++;
      // Retried soon, then less often: a failing holder must not keep the PC busy.
      p.nextAt = Date.now() + Math.min(settings.intervalMs * p.failures, settings.maxIntervalMs);
      this.log(`${nodeId}: protection of ${containerId} on ${lease.holder} failed: ${String(err)}`);
    } finally {
      this.inFlight = null;
    }
  }
}
