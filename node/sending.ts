// The source side of a transfer: describes a rootfs or a checkpoint as a manifest, offers it to the target's data
// plane and sends only the chunks the target lacks.
import { checkDiskQuota, Manifest, manifestStats } from '../domain/manifest';
import type { TransferReport, TransferTarget } from '../domain/reports';
import { DEFAULT_DISK_MIB } from '../domain/reports';
import { ChunkReader } from './chunk-reader';
import type { PcCoordination } from './coordination';
import { DataPlaneClient } from './dataplane/client';
import { ExecutorError, msSince, SendOptions } from './executor-config';
import { positionLocator, scanDirectory, StatCache } from './scan';
import type { RemnantStore } from './store';

export class Sender {
  /** Per container, what its last live rootfs scan learnt: the frozen scan re-reads only what changed since. */
  private readonly statCaches = new Map<string, StatCache>();

  constructor(private readonly deps: { store: RemnantStore; coordination: PcCoordination }) {}

  /** Describes the rootfs and sends what the target lacks; `final` (after the freeze) records it as this node's bundle. */
  async syncBundle(
    containerId: string,
    target: TransferTarget,
    final: boolean,
    { onProgress = () => undefined, signal }: SendOptions = {},
  ): Promise<TransferReport> {
    const { store } = this.deps;
    const t0 = process.hrtime.bigint();
    // Before the freeze the rootfs changes under the scan: what changes meanwhile goes with the frozen sync, which
    // hashes again only the files whose stat changed since (the cache's entries leave with the container).
    let statCache = this.statCaches.get(containerId);
    if (!statCache) this.statCaches.set(containerId, (statCache = new StatCache()));
    if (final) this.statCaches.delete(containerId);
    const { manifest, locations } = await scanDirectory(
      store.rootfsDir(containerId),
      'bundle',
      containerId,
      undefined,
      { live: !final, statCache },
    );
    // A rootfs over its quota stays here (the container runs on): it would fill every PC it visits.
    const spec = await store.readSpec(containerId);
    checkDiskQuota(manifest, spec?.diskMiB ?? DEFAULT_DISK_MIB);
    const report = await this.send(manifest, () => ChunkReader.fromLocations(locations), target, {
      onProgress,
      signal,
      live: !final,
    });
    if (final) await store.writeBundleManifest(containerId, manifest);
    return { ...report, ms: msSince(t0) };
  }

  /** Sends a generation the target lacks; its manifest travels as a delta to one both hold. It is never dropped meanwhile. */
  sendCheckpoint(
    containerId: string,
    generation: number,
    target: TransferTarget,
    targetHolds: number[] = [],
    { onProgress = () => undefined, signal }: SendOptions = {},
  ): Promise<TransferReport> {
    return this.deps.coordination.sending(containerId, generation, () =>
      this.sendGeneration(containerId, generation, target, targetHolds, { onProgress, signal }),
    );
  }

  private async sendGeneration(
    containerId: string,
    generation: number,
    target: TransferTarget,
    targetHolds: number[],
    { onProgress = () => undefined, signal }: SendOptions,
  ): Promise<TransferReport> {
    const { store, coordination } = this.deps;
    const t0 = process.hrtime.bigint();
    const manifest = await coordination.manifest(containerId, generation);
    // The manifest goes as a delta to the newest generation both PCs hold (a whole one is 32 bytes per page).
    // A generation dropped before this dump (dropSuperseded) still serves as a base while its manifest is in memory.
    // A base must be the same manifest on both PCs: not one this PC rewrote (merged, or its dump time moved).
    const held = new Set(await store.generations(containerId));
    const rewritten = async (n: number) =>
      held.has(n) && (await store.readMeta(containerId, n).catch(() => null))?.rewritten !== undefined;
    const usable = (n: number) => held.has(n) || coordination.hasManifest(containerId, n);
    let baseGeneration: number | undefined;
    for (const n of targetHolds.filter((g) => g < generation && usable(g)).sort((a, b) => b - a))
      if (!(await rewritten(n))) {
        baseGeneration = n;
        break;
      }
    const base =
      baseGeneration === undefined
        ? undefined
        : await coordination.manifest(containerId, baseGeneration).catch(() => undefined);
    const imageDir = store.imageDir(containerId, generation);
    // The target answers with places in the manifest: each chunk is read from there, no index of the image needed.
    const readerFor = () => new ChunkReader([]);
    return {
      ...(await this.send(manifest, readerFor, target, { onProgress, signal, base, imageDir })),
      ms: msSince(t0),
    };
  }

  private async send(
    manifest: Manifest,
    readerFor: () => ChunkReader,
    target: TransferTarget,
    {
      onProgress = () => undefined,
      signal,
      live = false,
      base,
      imageDir,
    }: SendOptions & { live?: boolean; base?: Manifest; imageDir?: string } = {},
  ): Promise<Omit<TransferReport, 'ms'>> {
    const client = new DataPlaneClient(target, signal);
    let reader: ChunkReader | null = null;
    try {
      let t0 = process.hrtime.bigint();
      const missing = await client.offer(manifest, base);
      const offerMs = msSince(t0);
      t0 = process.hrtime.bigint();
      reader = readerFor();
      const missingCount = missing.count;
      // A checkpoint image is read-only once hashed: read in runs, the target verifies each chunk. A rootfs may be
      // changing: each chunk is checked before it leaves.
      await client.send(missing, reader, (n) => onProgress(`${manifest.kind}: ${n}/${missingCount} chunks`), {
        skipChanged: live,
        verify: !imageDir,
        ...(imageDir ? { locate: positionLocator(manifest, imageDir, client.missingPositions) } : {}),
      });
      // A live sync may leave changed chunks out; anything else must have arrived whole.
      const left = live || !missingCount ? 0 : (client.lastMissing?.[manifest.kind] ?? 0);
      if (left) throw new ExecutorError(`target ${target.address} still lacks ${left} chunks after the transfer`);
      return {
        kind: manifest.kind,
        manifest: manifestStats(manifest),
        missingChunks: missingCount,
        offerMs,
        streamMs: msSince(t0),
        ...client.counters,
      };
    } finally {
      await reader?.close();
    }
  }
}
