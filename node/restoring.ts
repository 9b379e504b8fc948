// Restores: a container brought back to life on this PC from a generation it holds (a move's target, a source
// rolling back, a start after a stop), each image checked unless this worker checked it itself.
import { lstat, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Manifest } from '../domain/manifest';
import type { ContainerSpec, ContainerState, GenerationMeta, RestoreReport } from '../domain/reports';
import { restoresLazily } from '../domain/runc-args';
import type { ContainerNet } from './container-net';
import type { PcCoordination } from './coordination';
import type { TransferRegistry } from './dataplane/transfers';
import { ExecutorConfig, ExecutorError, msSince, pagesBytes, tracksDirtyPages } from './executor-config';
import type { LazyPagesDaemon } from './lazy-pages';
import type { Receiver, Received } from './receiving';
import type { Runc } from './runc';
import type { RemnantStore } from './store';
import { trackFrom } from './tracking';
import { imageDamage } from './verify-image';
import { INIT_DIR } from './container-config';

export interface RestoreOptions {
  /** The container's network namespace is already made (held). */
  networkReady?: boolean;
  /** Restore with the lazy-pages daemon; default: by image size, never on a PC that tracks. */
  lazy?: boolean;
  /** 'always': check every generation again, even those this worker checked (held a while, e.g. stopped). */
  verify?: 'unless-checked' | 'always';
  /** The epoch the restored copy runs under (its dumps' numbers carry it); absent: the one recorded here. */
  epoch?: number;
}

export interface LocalRestore {
  restoreMs: number;
  /** Packets peers sent during the move that were kept and passed after the restore (null: none were kept). */
  heldPackets?: number | null;
  state: ContainerState;
  checkpointCreatedAt: string;
  /** Where the restore's time went, by part (ms). */
  partsMs?: Record<string, number>;
  /** When its traffic was let in (ms since the epoch). */
  runningAt?: number;
}

export interface RestorerDeps {
  store: RemnantStore;
  runc: Runc;
  net: ContainerNet;
  transfers: TransferRegistry;
  receiver: Receiver;
  coordination: PcCoordination;
}

export class Restorer {
  constructor(
    private readonly config: ExecutorConfig,
    private readonly deps: RestorerDeps,
  ) {}

  /** Target side of a migration: receive, then restore here (a retried step gets the first attempt's report). */
  restoreFromTransfer(
    transferId: string,
    spec: ContainerSpec,
    meta: GenerationMeta,
    epoch?: number,
  ): Promise<RestoreReport> {
    return this.deps.coordination.restoreOnce(transferId, spec.containerId, () =>
      this.restoreFromTransferHere(transferId, spec, meta, epoch),
    );
  }

  private async restoreFromTransferHere(
    transferId: string,
    spec: ContainerSpec,
    meta: GenerationMeta,
    epoch?: number,
  ): Promise<RestoreReport> {
    const start = process.hrtime.bigint();
    const { runc, net, transfers, receiver } = this.deps;
    const transfer = await transfers.get(transferId);
    if (spec.containerId !== transfer.record.containerId)
      throw new ExecutorError(`transfer ${transferId} carries ${transfer.record.containerId}, not ${spec.containerId}`);
    const existing = (await runc.state(spec.containerId)).status;
    if (existing !== 'absent') {
      const adopted = existing === 'running' ? await this.adoptRestored(transferId, spec, meta, epoch) : null;
      if (adopted) return adopted;
      throw new ExecutorError(`container ${spec.containerId} already exists on ${this.config.nodeId}`);
    }
    // Both are in the downtime: the namespace is built while the bundle and image are put in place (unless this PC
    // took the address over already, as soon as the source let it go).
    const netReady = net.isHolding(spec.containerId)
      ? Promise.resolve()
      : net.create(spec.containerId, spec.network, { held: true });
    let received: Received;
    const beforeReceiveMs = msSince(start);
    const t0 = process.hrtime.bigint();
    try {
      [received] = await Promise.all([receiver.receive(transferId, spec, meta, false, true), netReady]);
    } catch (err) {
      await netReady.catch(() => undefined);
      await net.destroy(spec.containerId).catch(() => undefined);
      throw err;
    }
    const receivedMs = msSince(t0);
    const { manifest, ...report } = received;
    let restored: LocalRestore;
    try {
      restored = await this.restoreHere(received.containerId, meta.generation, {
        networkReady: true,
        ...(epoch === undefined ? {} : { epoch }),
      });
    } catch (err) {
      // The image is complete and verified: it stays as a generation this PC holds (the restore's error is told).
      await this.keepManifest(received.containerId, meta.generation, manifest);
      throw err;
    }
    const t1 = process.hrtime.bigint();
    await this.keepManifest(received.containerId, meta.generation, manifest);
    await transfers.finish(transferId);
    return {
      ...report,
      generation: meta.generation,
      restoreMs: restored.restoreMs,
      heldPackets: restored.heldPackets,
      state: restored.state,
      ...(restored.runningAt !== undefined ? { runningAt: restored.runningAt } : {}),
      partsMs: {
        'before receive': beforeReceiveMs,
        'apply bundle': report.applyBundleMs,
        'take image': report.writeImageMs,
        'receive and namespace': receivedMs,
        ...restored.partsMs,
        'keep manifest': msSince(t1),
      },
    };
  }

  /**
   * A retried restore whose first attempt's worker died once `runc restore` had started: that restore went on
   * without it, and its copy runs here under this very move's epoch, from this transfer's generation. It is the
   * container now: taken over and finished (traffic let in, the LAN told, tracking restarted), not reported as
   * "already exists". Found by the soak: the move was rolled back to its source instead, from the dump, and the
   * seconds this copy had run were lost (a counter went back). Called for a running copy; null when it is not this
   * move's.
   */
  private async adoptRestored(
    transferId: string,
    spec: ContainerSpec,
    meta: GenerationMeta,
    epoch: number | undefined,
  ): Promise<RestoreReport | null> {
    const { store, runc, net, transfers } = this.deps;
    const id = spec.containerId;
    // The caller saw it running (one `runc state` spawn is enough).
    if (epoch === undefined || (await store.epoch(id)) !== epoch) return null;
    const manifest = (await transfers.get(transferId)).manifests.checkpoint;
    if (!manifest || manifest.generation !== meta.generation) return null;
    const t0 = process.hrtime.bigint();
    // Its holder died with the worker (what it held was dropped: peers retransmit); the hold rules are lifted.
    const { heldPackets } = await net.release(id);
    if (spec.network) await net.announce(id, spec.network);
    await store.clearRemnant(id);
    await this.keepManifest(id, meta.generation, manifest);
    if (tracksDirtyPages(this.config))
      await trackFrom(this.deps, id, meta.generation, await store.readMeta(id, meta.generation));
    await transfers.finish(transferId);
    console.log(
      `${id}: took over the copy restored before this worker's restart (epoch ${epoch}, generation ${meta.generation})`,
    );
    const none = { written: 0, unchanged: 0, removed: 0, kept: 0 };
    return {
      containerId: id,
      generation: meta.generation,
      bundle: none,
      applyBundleMs: 0,
      writeImageMs: 0,
      restoreMs: msSince(t0),
      heldPackets,
      state: await runc.startedState(id),
    };
  }

  /**
   * Commits a restored generation's manifest. A store that cannot write it (full) must not fail a restore whose copy
   * runs: the move would roll back to its source from the dump and this copy's seconds of work would be lost (found
   * by the soak, on a full store). The generation then stays unfinished here, and retention removes it once a newer
   * one is begun.
   */
  private async keepManifest(id: string, generation: number, manifest: Manifest): Promise<void> {
    await this.deps.store
      .writeManifest(id, generation, manifest)
      .catch((err: Error) =>
        console.error(
          `${id}: generation ${generation} runs here but its manifest could not be written: ${err.message}`,
        ),
      );
  }

  /**
   * A move's target takes the container's address over while the image is still on its way (the source's copy is
   * stopped and its namespace gone): the namespace is made here, held, and announced, so that what peers send
   * meanwhile is kept here and answered as soon as the restore ends. A failed move destroys it (abortReceive).
   */
  takeOverAddress(transferId: string, spec: ContainerSpec): Promise<{ heldFromMs: number }> {
    const { net, transfers, runc, coordination } = this.deps;
    return coordination.oneAtATime(spec.containerId, async () => {
      const transfer = await transfers.get(transferId);
      if (spec.containerId !== transfer.record.containerId)
        throw new ExecutorError(
          `transfer ${transferId} carries ${transfer.record.containerId}, not ${spec.containerId}`,
        );
      if ((await runc.state(spec.containerId)).status !== 'absent')
        throw new ExecutorError(`container ${spec.containerId} already exists on ${this.config.nodeId}`);
      const t0 = process.hrtime.bigint();
      if (!spec.network) return { heldFromMs: 0 };
      if (!net.isHolding(spec.containerId)) await net.create(spec.containerId, spec.network, { held: true });
      await net.announce(spec.containerId, spec.network);
      return { heldFromMs: msSince(t0) };
    });
  }

  /** Restores a container from a generation this node holds (a target after a transfer, or a source rolling back). */
  restoreLocal(containerId: string, generation: number, options: RestoreOptions = {}): Promise<LocalRestore> {
    return this.deps.coordination.oneAtATime(containerId, () => this.restoreHere(containerId, generation, options));
  }

  private async restoreHere(
    containerId: string,
    generation: number,
    { networkReady = false, lazy, verify = 'unless-checked', epoch }: RestoreOptions = {},
  ): Promise<LocalRestore> {
    const { store, runc, net, coordination } = this.deps;
    const before = await runc.state(containerId);
    if (before.status === 'running')
      throw new ExecutorError(`container ${containerId} is already running on ${this.config.nodeId}`);
    await runc.remove(containerId);
    const spec = await store.readSpec(containerId);
    if (!spec) throw new ExecutorError(`no bundle of ${containerId} on ${this.config.nodeId}`);
    // The copy about to run is the newest: its dumps are numbered in its epoch (never an older one's).
    if (epoch !== undefined) await store.setEpoch(containerId, epoch);
    const t0 = process.hrtime.bigint();
    const parts: Record<string, number> = {};
    let partFrom = t0;
    const part = (name: string) => {
      parts[name] = msSince(partFrom);
      partFrom = process.hrtime.bigint();
    };
    // Nothing reaches CRIU unchecked, whichever path restores (a move, a rollback, a start after a stop).
    if (verify === 'always') coordination.uncheckContainer(containerId);
    await this.verifyChain(containerId, generation);
    part('verify');
    const work = path.join(store.generationDir(containerId, generation), `restore-work-${Date.now()}`);
    // config.json is already this PC's (written when the bundle was created or received here). The address is
    // present but silent while CRIU rebuilds the connections; then the LAN learns where it is.
    if (!networkReady) await net.create(containerId, spec.network, { held: true });
    const imageDir = store.imageDir(containerId, generation);
    const meta = await store.readMeta(containerId, generation);
    if (meta.preDump)
      throw new ExecutorError(`generation ${generation} of ${containerId} is a pre-dump (memory only): not restorable`);
    // The program runs on in the copy restored here: an ending zanshin-init recorded in an earlier life (carried in
    // the rootfs, e.g. written while CRIU ended the tasks after a dump) is not this copy's. Left, it made a copy this
    // PC later lost count as "exited" (never recovered) instead of "lost" (found by the soak: a redis ran nowhere).
    await clearExitRecord(store.rootfsDir(containerId));

    // A PC that tracks restores plainly: pages copied in after the resume would all count as dirtied.
    const lazyPages =
      lazy ??
      (!tracksDirtyPages(this.config) &&
        restoresLazily(this.config.lazyRestore ?? true, await pagesBytes(imageDir), this.config.lazyRestoreMinBytes));
    part('before runc');
    let daemon: LazyPagesDaemon | null;
    try {
      daemon = await runc.restore(containerId, imageDir, work, store.bundleDir(containerId), { lazyPages });
    } catch (err) {
      await net.destroy(containerId).catch(() => undefined);
      throw err;
    }
    // From here the copy runs. Should what follows fail, it is removed before the failure is told: a restore that
    // fails must leave nothing running, or the caller would bring the container back elsewhere too.
    let restoreMs: number;
    let heldPackets: number | null;
    let runningAt: number;
    part('runc restore');
    try {
      ({ heldPackets } = await net.release(containerId));
      runningAt = Date.now();
      if (spec.network) await net.announce(containerId, spec.network);
      restoreMs = msSince(t0);
      part('release and announce');
      if (daemon) this.awaitMemory(containerId, generation, daemon, work);
      else await rm(work, { recursive: true, force: true });
      await store.clearRemnant(containerId);
      if (tracksDirtyPages(this.config)) await trackFrom(this.deps, containerId, generation, meta);
    } catch (err) {
      await runc.remove(containerId).catch(() => undefined);
      await net.destroy(containerId).catch(() => undefined);
      throw err;
    }
    const state = await runc.startedState(containerId);
    part('after');
    return { restoreMs, heldPackets, state, checkpointCreatedAt: meta.createdAt, partsMs: parts, runningAt };
  }

  /** Checks a generation and the parents its image needs against their manifests; throws naming what is damaged. */
  private async verifyChain(containerId: string, generation: number): Promise<void> {
    const { store, coordination } = this.deps;
    for (let g: number | undefined = generation; g !== undefined;) {
      if (!coordination.isChecked(containerId, g)) {
        const { manifest } = await store.readGeneration(containerId, g);
        const damage = await imageDamage(store.imageDir(containerId, g), manifest);
        if (damage)
          throw new ExecutorError(
            `generation ${g} of ${containerId} is damaged on ${this.config.nodeId} (${damage}): not restored. ` +
              'Restore an earlier generation, or one another PC holds.',
          );
        coordination.checked(containerId, g);
      }
      g = (await store.readMeta(containerId, g)).parent;
    }
  }

  /**
   * A lazily restored container runs while its memory is still being copied in. Until that ends, nothing may dump
   * it (the coordination's rule 1) and its image must stay. Should the daemon fail, the process would meet zero
   * pages where its memory is missing: it is stopped and restored again, fully, from the same checkpoint (its open
   * connections are lost then, its memory never).
   */
  private awaitMemory(containerId: string, generation: number, daemon: LazyPagesDaemon, work: string): void {
    const t0 = process.hrtime.bigint();
    const settled = daemon.done.then(
      async () => {
        console.log(`${containerId}: memory of generation ${generation} complete ${msSince(t0)} ms after the restore`);
        await rm(work, { recursive: true, force: true });
      },
      async (err: unknown) => {
        if ((await this.deps.runc.state(containerId)).status !== 'running') return; // stopped or moved meanwhile
        console.error(`${containerId}: ${(err as Error).message}; restoring it again from generation ${generation}`);
        await this.deps.runc.remove(containerId);
        await this.restoreLocal(containerId, generation, { lazy: false }).catch((again: unknown) =>
          console.error(`${containerId}: the full restore failed too: ${(again as Error).message}`),
        );
      },
    );
    this.deps.coordination.memoryArriving(containerId, settled);
  }
}

/**
 * Removes zanshin-init's record of how the program ended (and its temporary file) from a rootfs. Only through a real
 * directory: the rootfs is the container's, and a `.zanshin` it made a symlink would lead outside it.
 */
export async function clearExitRecord(rootfs: string): Promise<void> {
  const dir = path.join(rootfs, INIT_DIR);
  if (!(await lstat(dir).catch(() => null))?.isDirectory()) return;
  await Promise.all(['exit', 'exit.tmp'].map((f) => rm(path.join(dir, f), { force: true })));
}
