// What a PC keeps of containers that left it (the paper's remnants), and the retention that ends them.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerNet } from './container-net';
import type { PcCoordination } from './coordination';
import type { TransferRegistry } from './dataplane/transfers';
import type { ExecutorConfig } from './executor-config';
import type { Runc } from './runc';
import type { RemnantStore } from './store';

export interface RemnantDeps {
  store: RemnantStore;
  runc: Runc;
  net: ContainerNet;
  transfers: TransferRegistry;
  coordination: PcCoordination;
}

export class Remnants {
  constructor(
    private readonly config: Pick<ExecutorConfig, 'remnantRetentionMs' | 'keepGenerations'>,
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
   * Retention: removes expired remnants (never a running container's), checkpoints beyond the newest
   * keepGenerations, and staging left by transfers abandoned longer than `stagingMaxAgeMs` ago.
   */
  async collectGarbage(stagingMaxAgeMs = 24 * 3_600_000, now = new Date()) {
    const { store, runc, transfers, coordination } = this.deps;
    // A transfer under way may have promised its source any held chunk (a remnant's rootfs, a generation as seed,
    // delta base or parent): nothing held is removed until it ends.
    const busy = await coordination.transfersHoldingGc(now);
    const removed = busy.length
      ? { remnants: [] as string[], generations: [] as string[], deferredBy: busy.map((t) => t.transferId) }
      : await store.collectGarbage(
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
    return { ...removed, staging };
  }
}
