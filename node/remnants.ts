// What a PC keeps of containers that left it (the paper's remnants), and the retention that ends them.
import { readdir, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerNet } from './container-net';
import type { ImageCache } from './images';
import type { PcCoordination } from './coordination';
import type { TransferRegistry } from './dataplane/transfers';
import { defaultStoreReserve, type ExecutorConfig } from './executor-config';
import type { Runc } from './runc';
import type { RemnantStore } from './store';
import { collectStoreGarbage, dropDeadGenerations } from './store-retention';

export interface RemnantDeps {
  store: RemnantStore;
  runc: Runc;
  net: ContainerNet;
  transfers: TransferRegistry;
  coordination: PcCoordination;
  /** Absent: no images to collect (tests of the store alone). */
  images?: ImageCache;
}

/** How long a receive may write nothing before a store short of room takes it for abandoned (a 1 GiB one takes ~10 s). */
export const STAGING_IDLE_MS = 10 * 60_000;

export class Remnants {
  constructor(
    private readonly config: Pick<ExecutorConfig, 'remnantRetentionMs' | 'keepGenerations' | 'storeReserveBytes'>,
    private readonly deps: RemnantDeps,
  ) {}

  /**
   * The container now runs elsewhere (or must not run here: an eviction): keep its bundle and checkpoints here as a
   * remnant. After any restore of it still under way here, which would otherwise start the copy right after.
   */
  leave(containerId: string): Promise<{ expiresAt: string }> {
    return this.deps.coordination.oneAtATime(containerId, async () => {
      await this.deps.runc.remove(containerId);
      await this.deps.net.destroy(containerId);
      const mark = await this.deps.store.markRemnant(containerId, this.config.remnantRetentionMs);
      return { expiresAt: mark.expiresAt };
    });
  }

  /**
   * Room for a checkpoint or a receive: while the store's free space is under its reserve, the remnants that left
   * longest ago go (never `keep`, a container this PC runs or holds stopped, nor anything while a transfer may read
   * what the store holds). Remnants are the cache of moves back; a full store refused every move off its PC, a
   * lecture's evacuation too (found by the soak: one full store kept a container there for the rest of the run).
   * Returns what went: containers whose remnant went, and `staging <transfer>` for abandoned receives.
   */
  async makeRoom(keep: string, now = new Date()): Promise<string[]> {
    const { store, runc, coordination } = this.deps;
    const free = async () => {
      const disk = await statfs(store.root);
      return { free: disk.bavail * disk.bsize, total: disk.blocks * disk.bsize };
    };
    const first = await free().catch(() => null);
    if (!first) return [];
    const reserve = this.config.storeReserveBytes ?? defaultStoreReserve(first.total);
    if (first.free >= reserve) return [];
    // A receive nothing has written to for STAGING_IDLE_MS was abandoned (its worker killed mid-receive, say): its
    // staging goes first, and it holds nothing back (found by the soak: one such staging filled a store and, as an
    // open transfer, kept every remnant from going for two hours).
    const abandoned = await this.idleStaging(now);
    for (const id of abandoned) await this.deps.transfers.finish(id);
    // Parts of dumps and receives that failed (no transfer reads those) go next.
    const removed = [...abandoned.map((id) => `staging ${id}`), ...(await dropDeadGenerations(store))];
    const holding = (await coordination.transfersHoldingGc(now)).filter((t) => !abandoned.includes(t.transferId));
    if (holding.length || (await free()).free >= reserve) return removed;
    const remnants: { id: string; leftAt: number }[] = [];
    for (const id of await store.containers()) {
      if (id === keep) continue;
      const mark = await store.remnant(id).catch(() => null);
      if (mark && !(await store.stoppedMark(id))) remnants.push({ id, leftAt: Date.parse(mark.leftAt) });
    }
    for (const { id } of remnants.sort((a, b) => a.leftAt - b.leftAt)) {
      if ((await free()).free >= reserve) break;
      await coordination.oneAtATime(id, async () => {
        // Asked again under the container's lock: it may have arrived or been restored here meanwhile.
        if ((await runc.state(id)).status !== 'absent' || !(await store.remnant(id).catch(() => null))) return;
        await rm(store.containerDir(id), { recursive: true, force: true });
        removed.push(id);
      });
    }
    return removed;
  }

  private async imagesInUse(): Promise<Set<string>> {
    const inUse = new Set<string>();
    for (const id of await this.deps.store.containers()) {
      const digest = (await this.deps.store.readSpec(id).catch(() => null))?.image?.digest;
      if (digest) inUse.add(digest);
    }
    return inUse;
  }

  /** Transfers whose staging saw no new file for STAGING_IDLE_MS (the newest of its directories' times). */
  private async idleStaging(now: Date): Promise<string[]> {
    const root = this.deps.store.stagingRoot();
    const idle: string[] = [];
    for (const id of await readdir(root).catch(() => [] as string[])) {
      const times = await Promise.all(
        ['', 'image', 'chunks'].map((sub) =>
          stat(path.join(root, id, sub)).then(
            (st) => st.mtimeMs,
            () => 0,
          ),
        ),
      );
      if (now.getTime() - Math.max(...times) > STAGING_IDLE_MS) idle.push(id);
    }
    return idle;
  }

  /**
   * Retention: removes expired remnants (never a running container's), checkpoints beyond the newest
   * keepGenerations, and staging left by transfers abandoned longer than `stagingMaxAgeMs` ago.
   */
  async collectGarbage(stagingMaxAgeMs = 24 * 3_600_000, now = new Date()) {
    const { store, runc, transfers, coordination } = this.deps;
    // A transfer under way may have promised its source any held chunk (a remnant's rootfs, a generation as seed,
    // delta base or parent): nothing held is removed until it ends.
    const busy = await coordination.transfersHoldingGc(now);
    const removed = busy.length
      ? // Parts of failed dumps no transfer reads: they go all the same.
        {
          remnants: [] as string[],
          generations: await dropDeadGenerations(store),
          deferredBy: busy.map((t) => t.transferId),
        }
      : await collectStoreGarbage(
          store,
          this.config.keepGenerations,
          now,
          async (id) => (await runc.state(id)).status !== 'absent',
        );
    const staging: string[] = [];
    for (const id of await readdir(store.stagingRoot()).catch(() => [] as string[])) {
      const st = await stat(path.join(store.stagingRoot(), id)).catch(() => null);
      if (st && now.getTime() - st.mtimeMs > stagingMaxAgeMs) {
        await transfers.finish(id);
        staging.push(id);
      }
    }
    // Images no container here was created from (running, stopped or a remnant) go, unless a transfer may read them.
    const images = busy.length || !this.deps.images ? [] : await this.deps.images.collect(await this.imagesInUse());
    return { ...removed, staging, images };
  }
}
