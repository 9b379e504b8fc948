/**
 * The PC's coordination state: what the verbs of one PC (dump, send, receive, restore, merge, GC) must know of each
 * other, and the rules between them, stated here once:
 *   1. no dump while a container's memory is still arriving (lazy restore) or while a merge rewrites its chain;
 *   2. nothing is dropped while a send reads it, and a generation being sent is not merged;
 *   3. one restore, receive or store per container at a time; a retried restore gets the first one's answer; none
 *      starts while a runc that an earlier (killed) worker started still brings the container up;
 *   4. GC waits while a transfer is open (it may have promised its source any held chunk);
 *   5. a generation is restored unchecked only when this worker wrote and checked it itself;
 *   6. the manifests a move reads right after taking them stay in memory (a dropped generation keeps serving as
 *      the delta base of the next send while its manifest is here).
 * Everything here lives in memory: a restarted worker starts with nothing pending, nothing checked.
 */
import type { Manifest } from '../domain/manifest';
import type { RestoreReport } from '../domain/reports';
import type { TransferRecord } from './dataplane/transfers';
import { ExecutorError } from './executor-config';
import { KeyedSerialQueues } from './serial';

/** How long an open transfer keeps GC off this PC's held data (a move ends well within it). */
export const TRANSFER_PROMISE_MS = 2 * 3_600_000;
/** A move needs its checkpoint's manifest and the one it is a delta to: two, each 8 MiB per GiB (32 bytes a page). */
const RECENT_MANIFESTS = 2;
/** Restores remembered for retries of their step. */
const REMEMBERED_RESTORES = 64;

const key = (containerId: string, generation: number): string => `${containerId}/${generation}`;

export interface CoordinationDeps {
  /** The PC's open transfers (the data plane's registry). */
  openTransfersSince(since: Date): Promise<TransferRecord[]>;
  /** Reads a generation's manifest from the store. */
  readManifest(containerId: string, generation: number): Promise<Manifest>;
  /** Resolves once no runc left by an earlier worker of this PC brings the container up (node/inherited-runc.ts). */
  inheritedRuncEnded(containerId: string): Promise<void>;
}

export class PcCoordination {
  /** Lazily restored containers whose memory is still being copied in. */
  private readonly memoryPending = new Map<string, Promise<void>>();
  /** Merges of a container's chain running now. */
  private readonly merging = new Map<string, Promise<unknown>>();
  /** Generations a send is reading now, with how many sends. */
  private readonly sends = new Map<string, number>();
  private readonly perContainer = new KeyedSerialQueues();
  /** Restores from a transfer that completed here, by transfer id. */
  private readonly restoredTransfers = new Map<string, RestoreReport>();
  /** Generations this worker wrote and checked itself (dumped and hashed, or received chunk by chunk). */
  private readonly checkedImages = new Set<string>();
  private readonly recentManifests = new Map<string, Manifest>();

  constructor(private readonly deps: CoordinationDeps) {}

  // Rule 1: dumps wait for arriving memory and running merges.

  /** Resolves once a dump of the container may start: its memory is all here and no merge reads its chain. */
  async readyToDump(containerId: string): Promise<void> {
    await this.memoryPending.get(containerId);
    await this.merging.get(containerId)?.catch(() => undefined);
  }

  /** A lazy restore's memory arrives until `settled` does: dumps of the container wait for it. */
  memoryArriving(containerId: string, settled: Promise<void>): void {
    this.memoryPending.set(containerId, settled);
    void settled.finally(() => {
      if (this.memoryPending.get(containerId) === settled) this.memoryPending.delete(containerId);
    });
  }

  // Rule 2: sends pin what they read.

  /** Runs a send of a generation; meanwhile it is neither dropped nor merged. */
  async sending<T>(containerId: string, generation: number, send: () => Promise<T>): Promise<T> {
    const k = key(containerId, generation);
    this.sends.set(k, (this.sends.get(k) ?? 0) + 1);
    try {
      return await send();
    } finally {
      const left = (this.sends.get(k) ?? 1) - 1;
      if (left > 0) this.sends.set(k, left);
      else this.sends.delete(k);
    }
  }

  /** Whether a generation may be dropped now (no send reads it). */
  mayDrop(containerId: string, generation: number): boolean {
    return !this.sends.has(key(containerId, generation));
  }

  /** Runs a merge of a generation's chain; refused while the generation is being sent. Dumps wait for it. */
  async merge<T>(containerId: string, generation: number, start: () => Promise<T>): Promise<T> {
    if (this.sends.has(key(containerId, generation)))
      throw new ExecutorError(`generation ${generation} of ${containerId} is being sent; merge it later`);
    const run = start();
    this.merging.set(containerId, run);
    try {
      return await run;
    } finally {
      if (this.merging.get(containerId) === run) this.merging.delete(containerId);
    }
  }

  // Rule 3: one restore, receive or store per container at a time.

  /**
   * Runs `step` once every earlier restore, receive or store of the same container has settled, and any restore an
   * earlier worker's runc still runs for it has ended (its namespace is in use then, though runc knows no container).
   */
  oneAtATime<T>(containerId: string, step: () => Promise<T>): Promise<T> {
    return this.perContainer.run(containerId, async () => {
      await this.deps.inheritedRuncEnded(containerId);
      return step();
    });
  }

  /**
   * A restore from a transfer, one at a time per container; a retry of a step whose first attempt completed (its
   * heartbeat was late) gets that attempt's report instead of "already exists".
   */
  restoreOnce(transferId: string, containerId: string, restore: () => Promise<RestoreReport>): Promise<RestoreReport> {
    return this.oneAtATime(containerId, async () => {
      const done = this.restoredTransfers.get(transferId);
      if (done) return done;
      const report = await restore();
      this.restoredTransfers.set(transferId, report);
      if (this.restoredTransfers.size > REMEMBERED_RESTORES)
        this.restoredTransfers.delete(this.restoredTransfers.keys().next().value!);
      return report;
    });
  }

  // Rule 4: GC waits for open transfers.

  /** Open transfers that forbid GC now (an older one is abandoned: a move ends well within the promise). */
  async transfersHoldingGc(now = new Date()): Promise<TransferRecord[]> {
    return this.deps.openTransfersSince(new Date(now.getTime() - TRANSFER_PROMISE_MS));
  }

  // Rule 5: only what this worker checked itself is restored unchecked.

  isChecked(containerId: string, generation: number): boolean {
    return this.checkedImages.has(key(containerId, generation));
  }

  /** This worker wrote the generation and checked every page of it (hashed as dumped, or verified on arrival). */
  checked(containerId: string, generation: number): void {
    this.checkedImages.add(key(containerId, generation));
  }

  /** The generation was rewritten (merged): checked again before a restore. */
  uncheckGeneration(containerId: string, generation: number): void {
    this.checkedImages.delete(key(containerId, generation));
  }

  /** Everything held of a container is checked again (it lay on disk for a while: a start after a stop). */
  uncheckContainer(containerId: string): void {
    for (const k of this.checkedImages) if (k.startsWith(`${containerId}/`)) this.checkedImages.delete(k);
  }

  // Rule 6: recent manifests stay in memory.

  /** A generation's manifest; the last few taken or read here stay in memory (a move reads them right after). */
  async manifest(containerId: string, generation: number): Promise<Manifest> {
    let m = this.recentManifests.get(key(containerId, generation));
    if (!m) {
      m = await this.deps.readManifest(containerId, generation);
      this.rememberManifest(containerId, generation, m);
    }
    return m;
  }

  rememberManifest(containerId: string, generation: number, m: Manifest): void {
    const k = key(containerId, generation);
    this.recentManifests.delete(k);
    this.recentManifests.set(k, m);
    while (this.recentManifests.size > RECENT_MANIFESTS)
      this.recentManifests.delete(this.recentManifests.keys().next().value!);
  }

  /** Whether the manifest is in memory (a generation dropped from disk can still be a delta base then). */
  hasManifest(containerId: string, generation: number): boolean {
    return this.recentManifests.has(key(containerId, generation));
  }

  forgetManifest(containerId: string, generation: number): void {
    this.recentManifests.delete(key(containerId, generation));
  }
}
