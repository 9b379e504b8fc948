// Checkpoints: a dump of a running container into a new generation, hashed while CRIU writes it. The strategy is
// the PC's (content hashing, or the kernel's dirty tracking with a parent); supersession frees what the dump
// replaces just before it, so the dump writes into memory just freed.
import { mkdir, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { manifestStats, PAGE_SIZE } from '../domain/manifest';
import type { CheckpointReport, ContainerSpec, GenerationMeta } from '../domain/reports';
import type { DirtyStrategy } from '../domain/runc-args';
import { mountsTargetLacks } from '../domain/oci-spec';
import { decodePagemap, isPagemapFile, PE_PARENT } from '../domain/criu-pagemap';
import { frozenMsOf, parseDumpStats } from '../domain/criu-stats';
import type { ContainerConfigs } from './container-config';
import type { ContainerNet } from './container-net';
import type { PcCoordination } from './coordination';
import { DumpFollower } from './dump-follower';
import { describeAddress, missingParentPage, parentEntriesNear } from './dump-diagnosis';
import {
  ExecutorConfig,
  ExecutorError,
  KernelDump,
  msSince,
  pagesBytes,
  storeWriteError,
  tracksDirtyPages,
} from './executor-config';
import { copyLiveMemory } from './live-copy';
import type { Runc } from './runc';
import { scanDirectory } from './scan';
import type { RemnantStore } from './store';

export interface CheckpointerDeps {
  store: RemnantStore;
  runc: Runc;
  net: ContainerNet;
  configs: ContainerConfigs;
  coordination: PcCoordination;
}

export interface CheckpointOptions {
  /** Generations of this container here that this dump replaces (see dropSuperseded). */
  supersedes?: number[];
  /** Kernel strategy, on a PC that tracks dirty pages: a pre-dump or a final dump, differential where it can be. */
  kernel?: KernelDump;
  /** The target's absent kernel paths: mounts over them stay out of the dump. */
  targetLacks?: string[];
  /**
   * With leaveRunning: a live copy of the memory instead of a dump (node/live-copy.ts): nothing is frozen, and the
   * generation is pages only (a pre-dump, never restored), for a move's content-strategy pre-copy.
   */
  live?: boolean;
}

/** Pages a differential image leaves to its parents (its pagemaps' PARENT runs). */
async function parentPages(imageDir: string): Promise<number> {
  let n = 0;
  for (const name of await readdir(imageDir))
    if (isPagemapFile(name))
      for (const e of decodePagemap(await readFile(path.join(imageDir, name)), name).entries)
        if (e.flags & PE_PARENT) n += e.pages;
  return n;
}

export class Checkpointer {
  constructor(
    private readonly config: ExecutorConfig,
    private readonly deps: CheckpointerDeps,
  ) {}

  /**
   * Checkpoints into a new generation and describes it; without leaveRunning the container is gone afterwards.
   * A tracked dump that fails is taken again with the content strategy (full, untracked), and the report says why.
   */
  async checkpoint(
    containerId: string,
    leaveRunning: boolean,
    options: CheckpointOptions = {},
  ): Promise<CheckpointReport> {
    const before = new Set(await this.deps.store.generationNumbers(containerId));
    try {
      return await this.checkpointHere(containerId, leaveRunning, options);
    } catch (err) {
      await this.dropFailedDump(containerId, before).catch((e: Error) =>
        console.error(`${containerId}: could not remove a failed dump: ${e.message}`),
      );
      throw await storeWriteError(err, this.deps.store.root, this.config.nodeId, `checkpoint ${containerId}`);
    }
  }

  /**
   * Removes what a failed checkpoint wrote (generations begun since `before` that nobody committed), but a dump CRIU
   * finished of a container that is gone: that dump is the container now (adoptFinishedDump takes it on a retry).
   * Found by the soak: each failed dump on a full store left its part behind under a new number, and the store
   * stayed full.
   */
  private async dropFailedDump(containerId: string, before: Set<number>): Promise<void> {
    const { store, runc } = this.deps;
    const complete = new Set(await store.generations(containerId));
    for (const n of await store.generationNumbers(containerId)) {
      if (before.has(n) || complete.has(n)) continue;
      const finished = await stat(path.join(store.generationDir(containerId, n), 'work', 'stats-dump')).catch(
        () => null,
      );
      if (finished && (await runc.state(containerId)).status === 'absent') continue;
      await rm(store.generationDir(containerId, n), { recursive: true, force: true });
    }
  }

  private async checkpointHere(
    containerId: string,
    leaveRunning: boolean,
    { supersedes = [], kernel, targetLacks = [], live = false }: CheckpointOptions,
  ): Promise<CheckpointReport> {
    const { store, runc, net, configs, coordination } = this.deps;
    const parts: Record<string, number> = {};
    let partFrom = process.hrtime.bigint();
    const part = (name: string) => {
      parts[name] = msSince(partFrom);
      partFrom = process.hrtime.bigint();
    };
    const spec = await store.readSpec(containerId);
    if (!spec) throw new ExecutorError(`no container ${containerId} on ${this.config.nodeId}`);
    const state = await runc.state(containerId);
    if (state.status !== 'running') {
      // A retry whose first attempt's worker died once CRIU had dumped (and so ended) the container: that dump is the
      // container now. Taken, not lost (found by the soak: a worker killed at the checkpoint step).
      const adopted =
        !leaveRunning && state.status === 'absent' ? await this.adoptFinishedDump(containerId, spec, kernel) : null;
      if (adopted) return adopted;
      throw new ExecutorError(`container ${containerId} is ${state.status} on ${this.config.nodeId}, not running`);
    }
    await coordination.readyToDump(containerId);
    if (live && leaveRunning) return this.liveCopy(containerId, spec, state.pid, supersedes);
    const tracked = kernel && tracksDirtyPages(this.config) ? kernel : undefined;
    const parent = tracked ? await this.dumpParent(containerId, tracked.parentCandidates) : undefined;
    const generation = await store.nextGeneration(containerId);
    const dir = store.generationDir(containerId, generation);
    await rm(dir, { recursive: true, force: true });
    // A differential dump's parents stay (they are the rest of its image).
    if (!tracked) await this.dropSuperseded(containerId, supersedes);
    part('state, drop superseded');
    let t0 = process.hrtime.bigint();
    const frozeAt = Date.now();
    // A container that stops here must not have its peers reset meanwhile: hold its traffic until it is restored.
    if (!leaveRunning) await net.hold(containerId);
    const imageDir = path.join(dir, 'image');
    const workDir = path.join(dir, 'work');
    // Mounts over kernel files the target lacks stay out of the image, or the target could not restore it.
    const skippedMounts = mountsTargetLacks(await runc.baseSpec(), await configs.absentKernelPaths(), targetLacks);
    await configs.writeCriuConfig(containerId, skippedMounts);
    part('hold traffic, CRIU config');
    let strategy: DirtyStrategy = tracked ? 'kernel' : 'content';
    let fallback: string | undefined;
    // Pages are hashed while CRIU writes them: hashing overlaps the dump. Not for a container left running: there
    // the freeze is what its clients feel, and the hashing would take cores from the frozen dump (after it, free).
    let follower = leaveRunning ? null : DumpFollower.start(imageDir);
    const giveUp = async (err: unknown): Promise<never> => {
      follower?.stop();
      if (!leaveRunning && (await runc.state(containerId)).status === 'running') await net.release(containerId);
      throw err;
    };
    try {
      const parentPath = parent === undefined ? undefined : `../../${parent}/image`;
      if (tracked?.preDump) await runc.preDump(containerId, imageDir, workDir, parentPath);
      else await runc.checkpoint(containerId, strategy, imageDir, workDir, leaveRunning, parentPath);
    } catch (err) {
      if (!tracked || (await runc.state(containerId)).status !== 'running') return giveUp(err);
      // The tracked dump failed with the container still running: the same move goes on with a full dump.
      fallback = (err as Error).message.split('\n')[0]!;
      // The whole message (CRIU's own errors with it) goes to the PC's log: the report keeps its first line.
      console.error(
        `${containerId}: kernel-strategy dump failed; taking a content-strategy dump. ${(err as Error).message}`,
      );
      const missing = missingParentPage((err as Error).message);
      if (missing !== null && parent !== undefined) {
        const holders = await describeAddress(state.pid, missing);
        const parentImage = path.join(store.generationDir(containerId, parent), 'image');
        const near = await parentEntriesNear(parentImage, missing).catch((e: Error) => [e.message]);
        console.error(
          `${containerId}: the page CRIU did not find in parent ${parent} is in ${holders.join(' | ') || 'no mapping now'}; ` +
            `the parent's pagemap near it: ${near.join(' | ') || 'nothing'}`,
        );
      }
      follower?.stop();
      await rm(dir, { recursive: true, force: true });
      strategy = 'content';
      follower = leaveRunning ? null : DumpFollower.start(imageDir);
      try {
        await runc.checkpoint(containerId, 'content', imageDir, workDir, leaveRunning);
      } catch (again) {
        return giveUp(again);
      }
    }
    const dumpMs = msSince(t0);
    part('dump');
    t0 = process.hrtime.bigint();
    // Its address leaves this PC with it: whoever restores it (a target, or this PC rolling back) creates it anew.
    const [prehashed] = await Promise.all([follower?.finish(), leaveRunning ? undefined : net.destroy(containerId)]);
    // No chunk index: a checkpoint is sent by places in its manifest (an object per page was 40 MB per GiB).
    const { manifest } = await scanDirectory(imageDir, 'checkpoint', containerId, generation, {
      withLocations: false,
      ...(prehashed ? { prehashed } : {}),
    });
    // What hashing added after the dump (most of it overlapped the dump).
    const hashMs = msSince(t0);
    part('hash, namespace gone');
    const differential = strategy === 'kernel' && parent !== undefined;
    const meta: GenerationMeta = {
      generation,
      createdAt: new Date().toISOString(),
      strategy,
      sourceNode: this.config.nodeId,
      ...(differential ? { parent } : {}),
      ...(strategy === 'kernel' && tracked?.preDump ? { preDump: true } : {}),
    };
    await store.commitGeneration(containerId, manifest, meta);
    coordination.rememberManifest(containerId, generation, manifest);
    coordination.checked(containerId, generation); // its pages were hashed as CRIU wrote them
    // Every dump on a tracking PC restarts tracking (track-mem): the next one can be differential to this one.
    if (tracksDirtyPages(this.config)) await store.setTrackingBase(containerId, leaveRunning ? generation : null);
    const pages = Math.round((await pagesBytes(imageDir)) / PAGE_SIZE);
    const inParents = differential ? await parentPages(imageDir) : 0;
    const frozenMs = await frozenMsOfDump(workDir);
    part('commit, figures');
    return {
      partsMs: parts,
      ...(leaveRunning ? {} : { frozeAt }),
      containerId,
      generation,
      strategy,
      pages,
      ...(fallback ? { fallback } : {}),
      ...(skippedMounts.length ? { skippedMounts } : {}),
      dumpMs,
      ...(frozenMs !== null ? { frozenMs } : {}),
      hashMs,
      image: manifestStats(manifest),
      ...(differential ? { fullImageBytes: manifestStats(manifest).bytes + inParents * PAGE_SIZE } : {}),
      spec,
      meta,
    };
  }

  /** A live copy of the running container's memory as a new pages-only generation: nothing is frozen. */
  private async liveCopy(
    containerId: string,
    spec: ContainerSpec,
    pid: number,
    supersedes: number[],
  ): Promise<CheckpointReport> {
    const { store, coordination } = this.deps;
    const generation = await store.nextGeneration(containerId);
    await rm(store.generationDir(containerId, generation), { recursive: true, force: true });
    await this.dropSuperseded(containerId, supersedes);
    const imageDir = store.imageDir(containerId, generation);
    await mkdir(imageDir, { recursive: true });
    let t0 = process.hrtime.bigint();
    const copied = await copyLiveMemory(pid, imageDir);
    const dumpMs = msSince(t0);
    t0 = process.hrtime.bigint();
    const { manifest } = await scanDirectory(imageDir, 'checkpoint', containerId, generation, { withLocations: false });
    const hashMs = msSince(t0);
    const meta: GenerationMeta = {
      generation,
      createdAt: new Date().toISOString(),
      strategy: 'content',
      sourceNode: this.config.nodeId,
      preDump: true,
    };
    await store.commitGeneration(containerId, manifest, meta);
    coordination.rememberManifest(containerId, generation, manifest);
    coordination.checked(containerId, generation);
    return {
      containerId,
      generation,
      strategy: 'content',
      pages: copied.pages,
      dumpMs,
      frozenMs: 0,
      hashMs,
      image: manifestStats(manifest),
      spec,
      meta,
    };
  }

  /**
   * The newest generation here when it is a dump CRIU finished (it writes stats-dump only then) that nobody
   * committed: described, committed and reported as this checkpoint; its address leaves this PC. Null: none.
   */
  private async adoptFinishedDump(
    containerId: string,
    spec: ContainerSpec,
    kernel: KernelDump | undefined,
  ): Promise<CheckpointReport | null> {
    const { store, net, coordination } = this.deps;
    const newest = Math.max(0, ...(await store.generationNumbers(containerId)));
    if (!newest || (await store.generations(containerId)).includes(newest)) return null;
    const imageDir = store.imageDir(containerId, newest);
    // CRIU writes stats-dump into its work directory (runc's --work-path), the image's sibling.
    const finished = path.join(store.generationDir(containerId, newest), 'work', 'stats-dump');
    if (!(await stat(finished).catch(() => null))) return null;
    const t0 = process.hrtime.bigint();
    await net.destroy(containerId);
    const { manifest } = await scanDirectory(imageDir, 'checkpoint', containerId, newest, { withLocations: false });
    const link = await readlink(path.join(imageDir, 'parent')).catch(() => null);
    const parent = link ? Number(/^\.\.\/\.\.\/(\d+)\/image$/.exec(link)?.[1]) : undefined;
    const strategy = parent !== undefined || (kernel && tracksDirtyPages(this.config)) ? 'kernel' : 'content';
    const meta: GenerationMeta = {
      generation: newest,
      createdAt: new Date().toISOString(),
      strategy,
      sourceNode: this.config.nodeId,
      ...(parent !== undefined && Number.isInteger(parent) ? { parent } : {}),
    };
    await store.commitGeneration(containerId, manifest, meta);
    coordination.rememberManifest(containerId, newest, manifest);
    coordination.checked(containerId, newest);
    if (tracksDirtyPages(this.config)) await store.setTrackingBase(containerId, null);
    console.log(`${containerId}: took over generation ${newest}, dumped before this worker's restart`);
    return {
      containerId,
      generation: newest,
      strategy,
      pages: Math.round((await pagesBytes(imageDir)) / PAGE_SIZE),
      dumpMs: 0,
      hashMs: msSince(t0),
      image: manifestStats(manifest),
      spec,
      meta,
    };
  }

  /** The tracking base when the target holds it and this PC holds its whole chain; else none (a full dump). */
  private async dumpParent(containerId: string, candidates: number[]): Promise<number | undefined> {
    const base = await this.deps.store.trackingBase(containerId);
    if (base === null || !candidates.includes(base)) return undefined;
    return (await this.deps.store.chain(containerId, base).catch(() => null)) ? base : undefined;
  }

  /**
   * Drops, right before a new dump, the generations of this container here that the caller says the dump supersedes:
   * a move's earlier pre-copy rounds (the target holds their pages; nothing restores from them) and, for its final
   * dump, those the target holds (it keeps its copy; a failed move restores from the new dump). Only the move's own
   * dumps name them, so a concurrent checkpoint of another kind drops nothing; a generation a send is reading stays.
   * The dump then writes into the page cache just freed. That matters where freed memory goes back to a hypervisor
   * within a second (this machine kind: 1 GiB written into fresh memory took 2.1-2.5 s, into just-freed memory
   * 0.14 s), and it saves an image of disk everywhere. The newest one dropped stays in memory: the next send
   * describes its manifest as a delta to it.
   */
  private async dropSuperseded(containerId: string, supersedes: number[]): Promise<void> {
    const { store, coordination } = this.deps;
    const held = await store.generations(containerId);
    // Never a parent another generation here needs (kernel strategy: the rest of that one's image).
    const needed = new Set<number>();
    for (const n of held) for (const p of (await store.chain(containerId, n).catch(() => [n])).slice(1)) needed.add(p);
    const drop = held.filter((n) => supersedes.includes(n) && !needed.has(n) && coordination.mayDrop(containerId, n));
    if (drop.length) await coordination.manifest(containerId, Math.max(...drop));
    for (const n of drop) await store.recycleGeneration(containerId, n);
  }
}

/** How long CRIU kept the program frozen in the dump whose work directory is `workDir` (null: it wrote no stats). */
async function frozenMsOfDump(workDir: string): Promise<number | null> {
  const bytes = await readFile(path.join(workDir, 'stats-dump')).catch(() => null);
  if (!bytes) return null;
  try {
    return frozenMsOf(parseDumpStats(bytes));
  } catch {
    return null; // figures only: a damaged stats file changes nothing about the dump
  }
}
