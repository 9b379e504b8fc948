// One incoming transfer on the target (node/dataplane/transfers.ts keeps the PC's registry of them).
import { createHash, timingSafeEqual } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DigestIndex, digestHex } from '../../domain/digest-index';
import {
  chunkCountOf,
  Manifest,
  manifestParts,
  missingChunks,
  missingPositions,
  resolveInside,
} from '../../domain/manifest';
import type { ChunkFrame, FrameBatch } from '../../domain/chunk-frames';
import { ChunkReader, ChunkUnavailableError } from '../chunk-reader';
import { ReceivingImage } from '../receiving-image';
import { SerialQueue } from '../serial';
import { StagingPack } from '../staging';
import { damagedChunks } from '../verify-image';

export type ManifestKind = Manifest['kind'];

export interface TransferRecord {
  transferId: string;
  containerId: string;
  /** sha256 of the token: the token itself is never stored. */
  tokenSha256: string;
  createdAt: string;
}

/** How long after an offer its manifest is written down (see Transfer.persistLater). */
const PERSIST_DELAY_MS = 1000;

/**
 * One incoming transfer on the target: its token, the checkpoint image being built in place, the rootfs chunks
 * staged for the bundle, and the manifests offered so far. Offers and chunk streams run one at a time: a retried
 * step whose first attempt still streams must not interleave with it.
 */
export class Transfer {
  private image: ReceivingImage | null = null;
  /** A held generation being copied into the image before the freeze (awaited by the checkpoint offer). */
  private seeding: Promise<void> = Promise.resolve();
  private readonly queue = new SerialQueue();
  private persisting: Promise<void> = Promise.resolve();
  private readonly persistTimers = new Map<ManifestKind, { timer: NodeJS.Timeout; write: () => void }>();
  /** Held checkpoint manifests read for deltas (the seed's is read ahead, before the freeze). */
  private readonly heldManifests = new Map<number, Promise<Manifest | null>>();

  constructor(
    readonly record: TransferRecord,
    readonly dir: string,
    readonly pack: StagingPack,
    readonly manifests: Partial<Record<ManifestKind, Manifest>>,
    readonly held: ChunkReader,
    /** A checkpoint manifest of this container that the node's store holds, or null. */
    private readonly heldGeneration: (generation: number) => Promise<Manifest | null> = () => Promise.resolve(null),
    /** This container's rootfs here and the manifest it was last synced to (null: none here). */
    private readonly ownRootfs: () => Promise<{ dir: string; manifest: Manifest } | null> = () => Promise.resolve(null),
  ) {}

  /** The base a delta-encoded checkpoint manifest refers to: the one offered earlier in this transfer, or a held one. */
  async baseManifest(generation: number): Promise<Manifest | null> {
    const offered = this.manifests.checkpoint;
    if (offered?.generation === generation) return offered;
    let held = this.heldManifests.get(generation);
    if (!held) this.heldManifests.set(generation, (held = this.heldGeneration(generation)));
    return held;
  }

  /** What each offered manifest still lacks here. */
  async missing(): Promise<{ checkpoint: number; bundle: number }> {
    const bundle = this.manifests.bundle;
    return {
      checkpoint: await this.imageMissing(),
      bundle: bundle ? missingChunks(bundle, (list, i) => this.has(digestHex(list, i))).length : 0,
    };
  }

  get imageDir(): string {
    return path.join(this.dir, 'image');
  }

  checkToken(token: string): boolean {
    const given = createHash('sha256').update(token).digest();
    return timingSafeEqual(given, Buffer.from(this.record.tokenSha256, 'hex'));
  }

  /** Runs `fn` after every earlier offer or chunk stream of this transfer finished. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn);
  }

  /**
   * Starts copying a held generation's image in as the starting point (the target holds most of its pages), and
   * reads its manifest ahead: the source will most likely send a delta to it.
   */
  seed(seed: { generation: number; imageDir: string }): void {
    void this.baseManifest(seed.generation);
    const { imageDir } = seed;
    this.seeding = (async () => {
      this.image = await ReceivingImage.open(this.imageDir);
      await this.image.seedFrom(imageDir);
    })();
    // Seeding is an optimisation: if it fails, the offer starts from whatever the image directory holds.
    this.seeding = this.seeding.catch(() => {
      this.image = null;
    });
  }

  private async receivingImage(): Promise<ReceivingImage> {
    await this.seeding;
    if (!this.image) {
      this.image = await ReceivingImage.open(this.imageDir);
      // A worker restarted mid-transfer: lay out the offered checkpoint again over what its image holds.
      if (this.manifests.checkpoint) await this.image.plan(this.manifests.checkpoint, this.held);
    }
    return this.image;
  }

  /** Present here already for the bundle: staged for this transfer, or held by the node's store and found intact. */
  has(hash: string): boolean {
    return this.pack.has(hash) || this.heldIntact.has(hash);
  }

  private readonly ownChecked = new Set<string>();

  /**
   * The files of this container's rootfs here that the bundle would leave as they are (same path, same chunks as
   * when last synced) are read back: a chunk that no longer matches marks its file to be written again.
   */
  private async verifyUnchangedFiles(m: Manifest): Promise<void> {
    const own = await this.ownRootfs();
    if (!own) return;
    const synced = new Map(own.manifest.entries.map((e) => [e.path, e]));
    for (const e of m.entries) {
      const before = synced.get(e.path);
      if (e.type !== 'file' || before?.type !== 'file' || before.size !== e.size || !before.chunks!.equals(e.chunks!))
        continue;
      const key = `${e.path}\0${digestHex(e.chunks!, 0)}`;
      if (this.ownChecked.has(key)) continue;
      this.ownChecked.add(key);
      const damaged = new Set(await damagedChunks(resolveInside(own.dir, e.path), e));
      for (let i = 0; i < chunkCountOf(e); i++) {
        const hash = digestHex(e.chunks!, i);
        // An intact chunk read here need not be read again below (when the store lists it as held).
        if (damaged.has(i)) this.heldDamaged.add(hash);
        else if (this.held.has(hash)) this.heldIntact.add(hash);
      }
    }
  }

  /** Whether a held rootfs chunk was read back in this transfer and found not to match its hash. */
  isDamagedHeld(hash: string): boolean {
    return this.heldDamaged.has(hash);
  }

  /** Held rootfs chunks read back and found to match their hash in this transfer, and those that did not. */
  private readonly heldIntact = new Set<string>();
  private readonly heldDamaged = new Set<string>();

  /**
   * Reads back every held chunk a bundle manifest would take from this node, once per transfer: a chunk damaged on
   * disk is then asked of the source like any missing one, instead of being claimed and failing every restore.
   * The first bundle offer comes before the freeze; the final one verifies only what it newly claims.
   */
  private async verifyHeld(m: Manifest): Promise<void> {
    await this.verifyUnchangedFiles(m);
    for (const e of m.entries) {
      if (!e.chunks) continue;
      for (let i = 0; i < chunkCountOf(e); i++) {
        const hash = digestHex(e.chunks, i);
        if (this.heldIntact.has(hash) || this.heldDamaged.has(hash) || this.pack.has(hash) || !this.held.has(hash))
          continue;
        const intact = await this.held.read(hash).then(
          () => true,
          (err: unknown) => {
            if (err instanceof ChunkUnavailableError) return false;
            throw err;
          },
        );
        (intact ? this.heldIntact : this.heldDamaged).add(hash);
      }
    }
  }

  /** Takes the manifest of what is to arrive; answers where in it each chunk still missing here first occurs. */
  async offer(m: Manifest): Promise<Buffer> {
    this.persistLater(m);
    this.manifests[m.kind] = m;
    if (m.kind === 'checkpoint') {
      const image = await this.receivingImage();
      await image.plan(m, this.held);
      return image.missingPositions();
    }
    this.bundleHashes = null;
    await this.verifyHeld(m);
    return missingPositions(m, (list, i) => this.has(digestHex(list, i)));
  }

  /**
   * Stores received frames, each verified: image positions waiting for them, and bundle chunks. A frame nothing waits
   * for (a duplicate, one a concurrent stream already delivered, or one never asked for) is dropped unread.
   * Returns how many were used.
   */
  async store(batch: FrameBatch): Promise<number> {
    let stored = 0;
    if (this.image) stored += await this.image.write(batch);
    const bundle = this.manifests.bundle;
    if (bundle) {
      // A chunk both need (a rootfs file equal to an image file) goes to both.
      const forBundle: ChunkFrame[] = [];
      for (let j = 0; j < batch.count; j++) {
        const hash = batch.hash(j);
        if (this.bundleWants(hash) && !this.pack.has(digestHex(hash))) forBundle.push({ hash, data: batch.data(j) });
      }
      stored += await this.pack.append(forBundle, () => true);
    }
    return stored;
  }

  private bundleHashes: DigestIndex | null = null;
  private bundleWants(hash: Buffer): boolean {
    if (!this.bundleHashes) {
      this.bundleHashes = new DigestIndex();
      for (const e of this.manifests.bundle?.entries ?? [])
        for (let i = 0; i < chunkCountOf(e); i++) this.bundleHashes.add(e.chunks!, i);
    }
    return this.bundleHashes.find(hash) >= 0;
  }

  /** Resolves once a seed (if any) is copied and verified. */
  async seeded(): Promise<void> {
    await this.seeding;
  }

  /**
   * Keeps an offered manifest for a worker that restarts mid-transfer, a moment after the answer: encoding one takes
   * ~0.1 s per GiB of image, and the final offer is in the downtime, followed at once by the restore that ends the
   * transfer (which needs no copy then). Best effort: a restarted worker without it asks the source to offer again.
   */
  private persistLater(m: Manifest): void {
    const pending = this.persistTimers.get(m.kind);
    if (pending) clearTimeout(pending.timer);
    const write = () => {
      this.persistTimers.delete(m.kind);
      const file = path.join(this.dir, `${m.kind}.manifest`);
      this.persisting = this.persisting.then(() => writeFile(file, manifestParts(m))).catch(() => undefined);
    };
    const timer = setTimeout(write, PERSIST_DELAY_MS);
    timer.unref();
    this.persistTimers.set(m.kind, { timer, write });
  }

  /**
   * Manifests written to disk before the transfer is closed (`keep`: it stays, to be resumed), or dropped unwritten
   * (its directory goes).
   */
  async settled(keep: boolean): Promise<void> {
    for (const { timer, write } of [...this.persistTimers.values()]) {
      clearTimeout(timer);
      if (keep) write();
    }
    this.persistTimers.clear();
    await this.persisting;
  }

  /**
   * The image built so far was moved into the store as a generation (a kernel-strategy round): the next checkpoint
   * offered starts a new image, and the kept one is a held generation (a delta base) from now on.
   */
  async imageKept(): Promise<void> {
    const pending = this.persistTimers.get('checkpoint');
    if (pending) clearTimeout(pending.timer);
    this.persistTimers.delete('checkpoint');
    await this.persisting;
    await rm(path.join(this.dir, 'checkpoint.manifest'), { force: true });
    this.image = null;
    delete this.manifests.checkpoint;
  }

  /** Chunks the checkpoint image still lacks (0 once it is complete). */
  async imageMissing(): Promise<number> {
    if (!this.manifests.checkpoint) return 0;
    return (await this.receivingImage()).missingCount;
  }

  /** Reads bundle chunks from the staging pack first, then from the node's store. */
  reader(): ChunkReader {
    return new ChunkReader([
      (h) => {
        const l = this.pack.location(h);
        return l ? [l] : undefined;
      },
      (h) => this.held.candidates(h),
    ]);
  }
}
