import { mkdir, open, readdir, readFile, rename, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { decodeManifest, manifestParts, Manifest, manifestHeaderBytes, manifestHeaderLength } from '../domain/manifest';
import type { ContainerSpec, GenerationMeta } from '../domain/reports';
import { ChunkLocations, locationsOf } from './scan';
import { CONTAINER_ID_PATTERN } from '../common/names';
import { nextGenerationNumber, StaleCopyError } from '../domain/generations';
import { exists, readMark, skipDamaged, writeAtomic, writeDurable } from './store-files';

export { DamagedStoreFileError } from './store-files';

/** How a container is run; kept with its bundle so config.json can be regenerated on any node. */
export interface StoppedMark {
  /** The final checkpoint taken when the container was stopped. */
  generation: number;
  stoppedAt: string;
}

export interface RemnantMark {
  /** The container left this node at this time; its bundle and checkpoints stay until `expiresAt`. */
  leftAt: string;
  expiresAt: string;
}

export interface ContainerInventory {
  containerId: string;
  hasBundle: boolean;
  generations: number[];
  imageBytes: number;
  remnant: RemnantMark | null;
}

const CONTAINER_ID = CONTAINER_ID_PATTERN;

export function checkContainerId(id: string): string {
  if (!CONTAINER_ID.test(id))
    throw new Error(
      `invalid container id ${JSON.stringify(id)}: use 1-64 of a-z 0-9 _ . - starting with a letter or digit`,
    );
  return id;
}

export class RemnantStore {
  constructor(readonly root: string) {}

  containerDir(id: string): string {
    return path.join(this.root, 'containers', checkContainerId(id));
  }
  bundleDir(id: string): string {
    return path.join(this.containerDir(id), 'bundle');
  }
  rootfsDir(id: string): string {
    return path.join(this.bundleDir(id), 'rootfs');
  }
  generationDir(id: string, n: number): string {
    return path.join(this.containerDir(id), 'gens', String(n));
  }
  imageDir(id: string, n: number): string {
    return path.join(this.generationDir(id, n), 'image');
  }
  stagingRoot(): string {
    return path.join(this.root, 'staging');
  }

  async containers(): Promise<string[]> {
    return (await readdir(path.join(this.root, 'containers')).catch(() => [] as string[]))
      .filter((n) => CONTAINER_ID.test(n))
      .sort();
  }

  /** Every generation directory's number, complete or not. */
  async generationNumbers(id: string): Promise<number[]> {
    const names = await readdir(path.join(this.containerDir(id), 'gens')).catch(() => [] as string[]);
    return names.filter((n) => /^\d+$/.test(n)).map(Number);
  }

  /** Complete generations only (a generation is complete once its manifest is written). */
  async generations(id: string): Promise<number[]> {
    const gens = await this.generationNumbers(id);
    // An empty manifest is one a power-off cut short (written last, it is the commit point): not complete.
    const complete = await Promise.all(
      gens.map((n) =>
        stat(path.join(this.generationDir(id, n), 'manifest')).then(
          (st) => st.size > 0,
          () => false,
        ),
      ),
    );
    return gens.filter((_, i) => complete[i]).sort((a, b) => a - b);
  }

  /**
   * The number for a new checkpoint (domain/generations.ts): within the epoch of the copy running here, past every
   * generation directory, complete or not, so that a number once given (to a recycled pre-copy round another PC was
   * sent, or an unfinished dump) is not given again. Refused for a stale copy.
   */
  async nextGeneration(id: string): Promise<number> {
    return nextGenerationNumber(id, await this.epoch(id), await this.generationNumbers(id));
  }

  /** The epoch of the container's copy on this PC (0: never given one: a container migration-api does not keep). */
  async epoch(id: string): Promise<number> {
    const mark = await readMark<{ epoch?: unknown }>(path.join(this.containerDir(id), 'epoch.json'));
    return Number.isSafeInteger(mark?.epoch) ? (mark!.epoch as number) : 0;
  }

  /** The copy here runs under `epoch` from now on (it was created or restored here under it); never an older one. */
  async setEpoch(id: string, epoch: number): Promise<void> {
    const current = await this.epoch(id);
    if (epoch < current)
      throw new StaleCopyError(
        `${id}: epoch ${epoch} is older than epoch ${current}, which a copy here already ran under`,
      );
    if (epoch === current) return;
    await mkdir(this.containerDir(id), { recursive: true });
    // Not fsynced (it is written in a restore's downtime): after a power-off the copy it names no longer runs.
    await writeAtomic(path.join(this.containerDir(id), 'epoch.json'), JSON.stringify({ epoch }));
  }

  /**
   * Drops a generation's image and manifest but keeps its (now empty) directory, which holds its number until GC
   * removes it with the other unfinished ones. The manifest goes first: a half-removed generation is never listed.
   */
  async recycleGeneration(id: string, n: number): Promise<void> {
    const dir = this.generationDir(id, n);
    await rm(path.join(dir, 'manifest'), { force: true });
    for (const name of await readdir(dir).catch(() => [] as string[]))
      await rm(path.join(dir, name), { recursive: true, force: true });
  }

  async readGeneration(id: string, n: number): Promise<{ manifest: Manifest; meta: GenerationMeta }> {
    const dir = this.generationDir(id, n);
    const manifest = decodeManifest(await readFile(path.join(dir, 'manifest')));
    const meta = JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')) as GenerationMeta;
    return { manifest, meta };
  }

  async readMeta(id: string, n: number): Promise<GenerationMeta> {
    return JSON.parse(await readFile(path.join(this.generationDir(id, n), 'meta.json'), 'utf8')) as GenerationMeta;
  }

  /** Records a generation whose image is already in imageDir(id, n); the manifest is written last. */
  async commitGeneration(id: string, manifest: Manifest, meta: GenerationMeta): Promise<void> {
    await this.writeMeta(id, meta);
    await this.writeManifest(id, meta.generation, manifest);
  }

  /** The first half of a commit: a generation with meta but no manifest yet is complete on disk but not yet listed. */
  async writeMeta(id: string, meta: GenerationMeta): Promise<void> {
    await writeAtomic(path.join(this.generationDir(id, meta.generation), 'meta.json'), JSON.stringify(meta, null, 2));
  }

  async writeManifest(id: string, n: number, manifest: Manifest): Promise<void> {
    await writeAtomic(path.join(this.generationDir(id, n), 'manifest'), manifestParts(manifest));
  }

  /** Links a differential generation to its parent, which this PC must hold (CRIU follows the link at restore). */
  async linkParent(id: string, n: number, parent: number): Promise<void> {
    if (!Number.isInteger(parent) || parent < 1 || parent >= n)
      throw new Error(`generation ${n} of ${id} names an invalid parent ${JSON.stringify(parent)}`);
    if (!(await this.generations(id)).includes(parent))
      throw new Error(`generation ${n} of ${id} is differential to generation ${parent}, which this PC does not hold`);
    const link = path.join(this.imageDir(id, n), 'parent');
    await rm(link, { force: true });
    await symlink(`../../${parent}/image`, link);
  }

  /** A generation and the parents its image needs, newest first; fails naming the first one missing here. */
  async chain(id: string, n: number): Promise<number[]> {
    const held = new Set(await this.generations(id));
    const out: number[] = [];
    for (let at: number | undefined = n; at !== undefined; at = (await this.readMeta(id, at)).parent) {
      if (!held.has(at) || out.includes(at))
        throw new Error(
          out.length
            ? `generation ${out[out.length - 1]} of ${id} needs generation ${at}, which this PC does not hold`
            : `this PC holds no generation ${n} of ${id}`,
        );
      out.push(at);
    }
    return out;
  }

  /**
   * Replaces a differential generation's image with a self-contained one, so that none of its parents is needed
   * any more. Power-off safe: the merged image is written beside the old one, and meta.json (written atomically,
   * without a parent) is the commit point; recoverMerge finishes or undoes whatever a power-off interrupted.
   */
  async mergeGeneration(
    id: string,
    n: number,
    merge: (chainDirs: string[], out: string) => Promise<{ pages: number }>,
    describe: (imageDir: string) => Promise<Manifest>,
  ): Promise<{ chainLength: number; pages: number }> {
    await this.recoverMerge(id, n);
    const chain = await this.chain(id, n);
    const dir = this.generationDir(id, n);
    const merged = path.join(dir, 'image.merged');
    await rm(merged, { recursive: true, force: true });
    const { pages } = await merge(
      chain.map((g) => this.imageDir(id, g)),
      merged,
    );
    await writeAtomic(path.join(dir, 'manifest.merged'), manifestParts(await describe(merged)));
    await rename(this.imageDir(id, n), path.join(dir, 'image.chained'));
    await rename(merged, this.imageDir(id, n));
    const meta = await this.readMeta(id, n);
    delete meta.parent;
    await this.writeMeta(id, { ...meta, rewritten: 'merged' }); // committed
    await this.recoverMerge(id, n);
    return { chainLength: chain.length, pages };
  }

  /** Finishes a merge whose meta.json was committed, or puts the old image back for one that was not. */
  async recoverMerge(id: string, n: number): Promise<void> {
    const dir = this.generationDir(id, n);
    const chained = path.join(dir, 'image.chained');
    const meta = await this.readMeta(id, n).catch(() => null);
    if (meta?.rewritten === 'merged') {
      if (await exists(path.join(dir, 'manifest.merged')))
        await rename(path.join(dir, 'manifest.merged'), path.join(dir, 'manifest'));
      await rm(chained, { recursive: true, force: true });
    } else {
      if (await exists(chained)) {
        await rm(this.imageDir(id, n), { recursive: true, force: true });
        await rename(chained, this.imageDir(id, n));
      }
      await rm(path.join(dir, 'manifest.merged'), { force: true });
    }
    await rm(path.join(dir, 'image.merged'), { recursive: true, force: true });
  }

  async readBundleManifest(id: string): Promise<Manifest | null> {
    const file = path.join(this.containerDir(id), 'bundle.manifest');
    return (await exists(file)) ? decodeManifest(await readFile(file)) : null;
  }

  async writeBundleManifest(id: string, manifest: Manifest): Promise<void> {
    await writeAtomic(path.join(this.containerDir(id), 'bundle.manifest'), manifestParts(manifest));
  }

  async readSpec(id: string): Promise<ContainerSpec | null> {
    return readMark<ContainerSpec>(path.join(this.containerDir(id), 'container.json'));
  }

  async writeSpec(spec: ContainerSpec): Promise<void> {
    await mkdir(this.containerDir(spec.containerId), { recursive: true });
    await writeAtomic(path.join(this.containerDir(spec.containerId), 'container.json'), JSON.stringify(spec, null, 2));
  }

  async remnant(id: string): Promise<RemnantMark | null> {
    return readMark<RemnantMark>(path.join(this.containerDir(id), 'remnant.json'));
  }

  /** The container left: keep its bundle and checkpoints as a remnant until `retentionMs` from now. */
  async markRemnant(id: string, retentionMs: number, now = new Date()): Promise<RemnantMark> {
    const mark = { leftAt: now.toISOString(), expiresAt: new Date(now.getTime() + retentionMs).toISOString() };
    await writeDurable(path.join(this.containerDir(id), 'remnant.json'), JSON.stringify(mark, null, 2));
    return mark;
  }

  /** The checkpoint a stopped container starts again from; null unless it was stopped here. */
  async stoppedMark(id: string): Promise<StoppedMark | null> {
    return readMark<StoppedMark>(path.join(this.containerDir(id), 'stopped.json'));
  }

  /**
   * The container was stopped with a final checkpoint: that generation is the student's work, kept with its bundle
   * until the container starts again (garbage collection never removes it).
   */
  async markStopped(id: string, generation: number, now = new Date()): Promise<StoppedMark> {
    const mark = { generation, stoppedAt: now.toISOString() };
    await writeDurable(path.join(this.containerDir(id), 'stopped.json'), JSON.stringify(mark, null, 2));
    return mark;
  }

  async clearStopped(id: string): Promise<void> {
    await rm(path.join(this.containerDir(id), 'stopped.json'), { force: true });
  }

  /**
   * Kernel strategy: the generation whose memory the running container's dirty tracking here is relative to (its
   * last tracked dump, or the generation it was restored from with tracking restarted); null when unknown.
   */
  async trackingBase(id: string): Promise<number | null> {
    const text = await readFile(path.join(this.containerDir(id), 'tracking.json'), 'utf8').catch(() => null);
    const n = text ? (JSON.parse(text) as { generation?: unknown }).generation : null;
    return Number.isInteger(n) ? (n as number) : null;
  }

  async setTrackingBase(id: string, generation: number | null): Promise<void> {
    const file = path.join(this.containerDir(id), 'tracking.json');
    if (generation === null) await rm(file, { force: true });
    else await writeDurable(file, JSON.stringify({ generation }));
  }

  /** The container runs here again: its remnant becomes its live bundle. */
  async clearRemnant(id: string): Promise<void> {
    await rm(path.join(this.containerDir(id), 'remnant.json'), { force: true });
  }

  /**
   * Where the rootfs chunks of the bundles of containers that are not running here lie (a running container's
   * rootfs changes under its manifest). Checkpoint images are not indexed: a move reuses the newest held image of its
   * container as the seed of the one it receives (node/receiving-image.ts), and an index of every page of every
   * image costs about 100 bytes of memory per page (over 100 MB per GiB of images).
   */
  async heldChunks(): Promise<ChunkLocations> {
    const held: ChunkLocations = new Map();
    for (const id of await this.containers()) {
      if (await this.remnant(id).catch(skipDamaged)) {
        const bundle = await this.readBundleManifest(id);
        if (bundle) locationsOf(bundle, this.rootfsDir(id), held);
      }
    }
    return held;
  }

  /** Size of a generation's image, from its manifest's header only (reports run every few seconds). */
  async imageBytes(id: string, n: number): Promise<number> {
    const handle = await open(path.join(this.generationDir(id, n), 'manifest'), 'r');
    try {
      const first = Buffer.alloc(4);
      await handle.read(first, 0, 4, 0);
      const header = Buffer.alloc(manifestHeaderLength(first));
      await handle.read(header, 0, header.length, 0);
      return manifestHeaderBytes(header);
    } finally {
      await handle.close();
    }
  }

  /** What this PC holds of each container; one whose remnant mark is damaged is left out (and GC removes it). */
  async inventory(): Promise<ContainerInventory[]> {
    const all = await Promise.all(
      (await this.containers()).map(async (id) => {
        const generations = await this.generations(id);
        let imageBytes = 0;
        for (const n of generations) imageBytes += await this.imageBytes(id, n);
        let remnant: RemnantMark | null;
        try {
          remnant = await this.remnant(id);
        } catch (err) {
          return skipDamaged(err);
        }
        return {
          containerId: id,
          hasBundle: await exists(path.join(this.bundleDir(id), 'config.json')),
          generations,
          imageBytes,
          remnant,
        };
      }),
    );
    return all.filter((c) => c !== null);
  }
}
