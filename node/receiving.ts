// The target side of a transfer: opens it, brings the bundle up to the source's manifest and takes the image (built
// in place as chunks arrived, each verified) into the store as a generation, to restore or to keep.
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkDiskQuota, Manifest } from '../domain/manifest';
import type { ApplyStats, ContainerSpec, GenerationMeta } from '../domain/reports';
import { DEFAULT_DISK_MIB } from '../domain/reports';
import type { ContainerConfigs } from './container-config';
import type { PcCoordination } from './coordination';
import type { Transfer, TransferRegistry } from './dataplane/transfers';
import { ExecutorConfig, ExecutorError, msSince, storeWriteError, tracksDirtyPages } from './executor-config';
import { applyBundle } from './materialize';
import type { Runc } from './runc';
import type { RemnantStore } from './store';

/** How long prepareReceive waits for a held image to be copied in as the new one's seed. */
const SEED_WAIT_MS = 10_000;

export interface ReceivePlan {
  transferId: string;
  token: string;
  address: string;
  /** The data plane's certificate (PEM) the source must trust; absent: plain HTTP. */
  certificate?: string;
  heldGenerations: number[];
  /** Held generations this PC rewrote (merged, tracking restarted): never a delta base. */
  rewrittenGenerations: number[];
  hasBundle: boolean;
  /** This PC takes kernel-strategy dumps and restores with tracking restarted. */
  dirtyTracking: boolean;
  /** Kernel files runc protects in containers that this PC lacks: the source's dump leaves their mounts out. */
  absentKernelPaths: string[];
}

export interface Received {
  containerId: string;
  bundle: ApplyStats;
  applyBundleMs: number;
  writeImageMs: number;
  manifest: Manifest;
}

export interface ReceiverDeps {
  store: RemnantStore;
  runc: Runc;
  transfers: TransferRegistry;
  configs: ContainerConfigs;
  coordination: PcCoordination;
}

export class Receiver {
  /** Transfers whose running bundle this PC applied ahead of the freeze, by container: undone if the move fails. */
  private readonly appliedEarly = new Map<string, string>();

  constructor(
    private readonly config: ExecutorConfig,
    private readonly deps: ReceiverDeps,
  ) {}

  /** Opens a transfer for a container and says what this node holds of it already. */
  async prepare(containerId: string): Promise<ReceivePlan> {
    const { store, runc, transfers, configs } = this.deps;
    const running = await runc.state(containerId);
    if (running.status !== 'absent')
      throw new ExecutorError(`container ${containerId} already exists on ${this.config.nodeId} (${running.status})`);
    const heldGenerations = await store.generations(containerId);
    // The newest held image seeds the one to receive (copied and verified while the container still runs).
    const newest = heldGenerations[heldGenerations.length - 1];
    const { transferId, token } = await transfers
      .register(
        containerId,
        undefined,
        newest !== undefined ? { generation: newest, imageDir: store.imageDir(containerId, newest) } : undefined,
      )
      .catch(async (err: unknown) => {
        throw await storeWriteError(err, store.root, this.config.nodeId, `receive ${containerId}`);
      });
    // Seeding goes on before the freeze, not during the source's dump (PCs simulated on one machine share its cores);
    // bounded, as this is a quick call: a large seed that takes longer is awaited by the checkpoint's offer.
    const seeded = (await transfers.get(transferId)).seeded();
    await Promise.race([seeded, new Promise((r) => setTimeout(r, SEED_WAIT_MS).unref())]);
    return {
      transferId,
      token,
      address: this.config.dataPlaneAddress,
      ...(this.config.dataPlaneCertificate ? { certificate: this.config.dataPlaneCertificate } : {}),
      heldGenerations,
      rewrittenGenerations: await this.rewrittenGenerations(containerId, heldGenerations),
      hasBundle: (await store.readBundleManifest(containerId)) !== null,
      dirtyTracking: tracksDirtyPages(this.config),
      absentKernelPaths: await configs.absentKernelPaths(),
    };
  }

  private async rewrittenGenerations(containerId: string, held: number[]): Promise<number[]> {
    const out: number[] = [];
    for (const n of held)
      if ((await this.deps.store.readMeta(containerId, n).catch(() => null))?.rewritten) out.push(n);
    return out;
  }

  /**
   * A first move's rootfs written while the container still runs on its source: the running sync's manifest is
   * applied here, so the frozen receive only writes what changed since (one lstat per unchanged entry) instead of
   * every file (redis's 867 files, 65 MiB, were written inside the freeze). Only where this PC holds no bundle of
   * the container: a remnant's rootfs must stay as its checkpoints saw it, should the move fail. Files that changed
   * during the running sync keep their last copy, or stay absent (the frozen receive brings them).
   */
  applyRunningBundle(transferId: string): Promise<ApplyStats & { applied: boolean; ms: number }> {
    const { store, runc, transfers, coordination } = this.deps;
    return transfers.get(transferId).then((transfer) =>
      coordination.oneAtATime(transfer.record.containerId, async () => {
        const t0 = process.hrtime.bigint();
        const containerId = transfer.record.containerId;
        const none = { written: 0, unchanged: 0, removed: 0, kept: 0, applied: false };
        const { bundle } = transfer.manifests;
        if (!bundle)
          throw new ExecutorError(`transfer ${transferId} has no bundle manifest yet: sync the bundle first`);
        if ((await runc.state(containerId)).status !== 'absent' || (await store.readBundleManifest(containerId)))
          return { ...none, ms: msSince(t0) };
        const reader = transfer.reader();
        try {
          const { applied, ...stats } = await applyBundle(
            bundle,
            store.rootfsDir(containerId),
            null,
            reader,
            path.join(store.bundleDir(containerId), '.incoming'),
            { partial: true, damaged: (hash) => transfer.isDamagedHeld(hash) },
          );
          await store.writeBundleManifest(containerId, applied);
          this.appliedEarly.set(transferId, containerId);
          return { ...stats, applied: true, ms: msSince(t0) };
        } finally {
          await reader.close();
        }
      }),
    );
  }

  /**
   * Brings the bundle up to date and writes the image from held and received chunks, verifying each. The container
   * does not run here yet (restore it, or keep it as a safety copy). `deferManifest`: the caller writes the
   * generation's manifest later (a restore writes it once the container runs).
   */
  async receive(
    transferId: string,
    spec: ContainerSpec,
    meta: GenerationMeta,
    partialBundle = false,
    deferManifest = false,
  ): Promise<Received> {
    const { store, transfers, configs } = this.deps;
    const transfer = await transfers.get(transferId);
    const { bundle, checkpoint } = transfer.manifests;
    const containerId = transfer.record.containerId;
    if (!bundle || !checkpoint)
      throw new ExecutorError(
        `transfer ${transferId} lacks its ${bundle ? 'checkpoint' : 'bundle'} manifest: send it first`,
      );
    if (spec.containerId !== containerId || checkpoint.generation !== meta.generation) {
      throw new ExecutorError(
        `transfer ${transferId} carries ${containerId} generation ${checkpoint.generation}, not ${spec.containerId} generation ${meta.generation}`,
      );
    }
    const reader = transfer.reader();
    try {
      let t0 = process.hrtime.bigint();
      checkDiskQuota(bundle, spec.diskMiB ?? DEFAULT_DISK_MIB);
      configs.refuseUserItCannotMove(spec);
      await store.writeSpec(spec);
      const { applied, ...bundleStats } = await applyBundle(
        bundle,
        store.rootfsDir(containerId),
        await store.readBundleManifest(containerId),
        reader,
        path.join(store.bundleDir(containerId), '.incoming'),
        { partial: partialBundle, damaged: (hash) => transfer.isDamagedHeld(hash) },
      );
      await store.writeBundleManifest(containerId, applied);
      await configs.write(spec);
      const applyBundleMs = msSince(t0);
      t0 = process.hrtime.bigint();
      await this.takeImage(transfer, meta, { deferManifest });
      this.appliedEarly.delete(transferId);
      return { containerId, bundle: bundleStats, applyBundleMs, writeImageMs: msSince(t0), manifest: checkpoint };
    } finally {
      await reader.close();
    }
  }

  /**
   * Moves a transfer's image into the store as generation meta.generation, linked to its parent when it is
   * differential. Nothing to do when that generation is here already (a retried step).
   */
  private async takeImage(
    transfer: Transfer,
    incoming: GenerationMeta,
    { deferManifest = false }: { deferManifest?: boolean } = {},
  ): Promise<void> {
    const { store, coordination } = this.deps;
    const containerId = transfer.record.containerId;
    const checkpoint = transfer.manifests.checkpoint;
    // What this PC did to its own copy is its own business: never taken from the sender.
    const meta: GenerationMeta = { ...incoming };
    delete meta.rewritten;
    const already =
      !(await stat(transfer.imageDir).catch(() => null)) &&
      (await store.generations(containerId)).includes(meta.generation);
    if (already) return;
    if (!checkpoint || checkpoint.generation !== meta.generation)
      throw new ExecutorError(
        `transfer ${transfer.record.transferId} carries ${checkpoint ? `generation ${checkpoint.generation}` : 'no checkpoint'}, not generation ${meta.generation}: send it first`,
      );
    const lacking = await transfer.imageMissing();
    if (lacking)
      throw new ExecutorError(
        `transfer ${transfer.record.transferId} still lacks ${lacking} chunks of the checkpoint image: send them first`,
      );
    const genDir = store.generationDir(containerId, meta.generation);
    const partial = `${genDir}.partial`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { recursive: true });
    await rename(transfer.imageDir, path.join(partial, 'image'));
    await rm(genDir, { recursive: true, force: true });
    await rename(partial, genDir);
    if (meta.parent !== undefined) await store.linkParent(containerId, meta.generation, meta.parent);
    // Encoding a manifest takes a while (32 bytes per page): a restore writes it once the container runs.
    if (deferManifest) await store.writeMeta(containerId, meta);
    else await store.commitGeneration(containerId, checkpoint, meta);
    coordination.rememberManifest(containerId, meta.generation, checkpoint);
    coordination.checked(containerId, meta.generation); // every chunk was checked as it arrived
  }

  /**
   * Kernel strategy: keeps the pre-copy round just received as a generation (the next round and the final dump are
   * differential to it), and readies the transfer for the next image.
   */
  async keepGeneration(transferId: string, meta: GenerationMeta): Promise<{ generation: number }> {
    const transfer = await this.deps.transfers.get(transferId);
    await this.takeImage(transfer, meta);
    await transfer.imageKept();
    return { generation: meta.generation };
  }

  /** Keeps a safety checkpoint of a container running elsewhere, as a remnant, ready for a restore if its PC dies. */
  store(
    transferId: string,
    spec: ContainerSpec,
    meta: GenerationMeta,
  ): Promise<{ containerId: string; generation: number; bundle: ApplyStats; writeImageMs: number }> {
    return this.deps.coordination.oneAtATime(spec.containerId, async () => {
      // Its rootfs was synced while the container ran: files changing at that instant keep their last copy here.
      const received = await this.receive(transferId, spec, meta, true);
      await this.deps.store.markRemnant(received.containerId, this.config.remnantRetentionMs);
      await this.deps.transfers.finish(transferId);
      return {
        containerId: received.containerId,
        generation: meta.generation,
        bundle: received.bundle,
        writeImageMs: received.writeImageMs,
      };
    });
  }

  /**
   * After a failed move: drop what was received, and a bundle applied ahead of the freeze that no generation here
   * goes with (this PC held nothing of the container before; left, it would look like a remnant without a checkpoint).
   */
  async abort(transferId: string): Promise<void> {
    const { store, runc, transfers, coordination } = this.deps;
    await transfers.finish(transferId);
    const containerId = this.appliedEarly.get(transferId);
    this.appliedEarly.delete(transferId);
    if (containerId)
      await coordination.oneAtATime(containerId, async () => {
        if ((await runc.state(containerId)).status !== 'absent') return;
        if ((await store.generations(containerId)).length) return;
        await rm(store.containerDir(containerId), { recursive: true, force: true });
      });
  }
}
