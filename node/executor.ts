import execa from 'execa';
import {
  access,
  chmod,
  copyFile,
  lchown,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import {
  checkDiskQuota,
  FILE_CHUNK_SIZE,
  HASH_BYTES,
  isPagesFile,
  Manifest,
  manifestStats,
  PAGE_SIZE,
} from '../domain/manifest';
import type {
  ApplyStats,
  CheckpointReport,
  ContainerSpec,
  ContainerState,
  CreateContainerInput,
  GenerationMeta,
  RestoreReport,
  TransferReport,
  TransferTarget,
} from '../domain/reports';
import { DEFAULT_DISK_MIB, DEFAULT_LIMITS } from '../domain/reports';
import { NodeCapabilities } from './capabilities';
import { userRefusal } from '../domain/container-user';
import { ChunkReader } from './chunk-reader';
import { DumpFollower } from './dump-follower';
import { ContainerNet } from './container-net';
import { DataPlaneClient } from './dataplane/client';
import { Transfer, TransferRegistry } from './dataplane/transfers';
import { applyBundle } from './materialize';
import { LazyPagesDaemon } from './lazy-pages';
import { Runc } from './runc';
import { positionLocator, scanDirectory } from './scan';
import { imageDamage } from './verify-image';
import { KeyedSerialQueues } from './serial';
import { cgroupMemoryBytes } from './cgroup-memory';
import { RemnantStore } from './store';
import { ErrorType } from '../common/errors';
import {
  CLEAR_SOFT_DIRTY_SCRIPT,
  criuNodeConfig,
  DEFAULT_CHAIN_MERGE_THRESHOLD,
  DirtyStrategy,
  needsMerge,
  restoresLazily,
} from '../domain/runc-args';
import { withDumpUptime } from '../domain/criu-inventory';
import { criuConfigText, mountsTargetLacks, protectedKernelPaths } from '../domain/oci-spec';
import { InvalidInput, liesUnder } from '../domain/node-input';
import { MergedPages, mergeImageChain } from './merge-generation';

export interface ExecutorConfig {
  nodeId: string;
  /** This node's data directory (store, runc state). */
  dataDir: string;
  /** host:port where this node's data plane listens (its LAN address). */
  dataPlaneAddress: string;
  criu: string;
  capabilities: NodeCapabilities;
  /** How long a remnant is kept after its container left. */
  remnantRetentionMs: number;
  keepGenerations: number;
  /** Start of the names of containers' network namespaces. @default zc */
  netnsPrefix?: string;
  /** Restore with CRIU's lazy-pages daemon (memory copied in after the process resumes). @default true */
  lazyRestore?: boolean;
  /** Images with fewer bytes of memory pages are restored plainly. @default LAZY_RESTORE_MIN_BYTES */
  lazyRestoreMinBytes?: number;
  /** The static zanshin-init binary copied into every container. @default /var/cache/zanshin/bin/zanshin-init */
  initBinary?: string;
  /** Kernel strategy: a restored generation whose chain is longer than this is merged. @default 3 */
  chainMergeThreshold?: number;
  /** Directories new containers' rootfs sources must lie in (symlinks resolved). Absent: anywhere. */
  rootfsRoots?: string[];
}

/** Kernel strategy: how a dump of a move is taken (see checkpoint). */
export interface KernelDump {
  /** A pre-dump (memory only; the container keeps running) instead of a restorable checkpoint. */
  preDump: boolean;
  /** Generations the target holds: the dump is differential to the tracking base only if it is one of them. */
  parentCandidates: number[];
}

/**
 * A rootfs archive may hold device nodes of any number (/dev/sda of the PC, its memory): none is kept. runc gives
 * each container the few devices it may use, and devices never travel between PCs.
 */
async function refuseDeviceNodes(rootfs: string, source: string): Promise<void> {
  const { stdout } = await execa('find', [rootfs, '-xdev', '(', '-type', 'b', '-o', '-type', 'c', ')', '-print']);
  const found = stdout.split('\n').filter(Boolean);
  if (!found.length) return;
  await rm(rootfs, { recursive: true, force: true });
  throw new ExecutorError(
    `rootfs ${source} holds ${found.length} device node(s) (${found
      .slice(0, 5)
      .map((f) => path.relative(rootfs, f))
      .join(', ')}${found.length > 5 ? ', ...' : ''}): containers get their devices from runc; ` +
      `remove them from the archive (e.g. tar --delete, or --exclude=dev/* when making it)`,
  );
}

/** Where zanshin-init lives in a container, with the program's logs and exit status next to it. */
const INIT_DIR = '.zanshin';
/** How long an open transfer keeps GC off this PC's held data (a move ends well within it). */
const TRANSFER_PROMISE_MS = 2 * 3_600_000;
const INIT_PATH = `/${INIT_DIR}/init`;
/** How long prepareReceive waits for a held image to be copied in as the new one's seed. */
const SEED_WAIT_MS = 10_000;
/** The most bytes of output `exec` returns per stream. */
const EXEC_OUTPUT_CAP = 1 << 20;

/** How a container's program ended, as zanshin-init recorded it (null: it runs, or nothing was recorded). */
export interface ContainerExit {
  /** "exit 0", "exit 3", "signal 9". */
  status: string;
}

export class ExecutorError extends Error {
  override name = ErrorType.Executor;
}

const RECENT_MANIFESTS = 2;

export interface SendOptions {
  onProgress?: (p: string) => void;
  /** Aborts the transfer (the step was cancelled: a retry of it may already be running). */
  signal?: AbortSignal;
}

/** Bytes of memory pages in a checkpoint image (its pages-*.img files). */
async function pagesBytes(imageDir: string): Promise<number> {
  let n = 0;
  for (const name of await readdir(imageDir)) if (isPagesFile(name)) n += (await stat(path.join(imageDir, name))).size;
  return n;
}

const since = (t0: bigint): number => Number((process.hrtime.bigint() - t0) / 1_000_000n);

/** Everything one PC does to containers: create, checkpoint, send, receive, restore, leave a remnant. */
export class NodeExecutor {
  readonly store: RemnantStore;
  readonly runc: Runc;
  readonly transfers: TransferRegistry;
  /** A move needs its checkpoint's manifest and the one it is a delta to: two, each 8 MiB per GiB (32 bytes a page). */
  private readonly recentManifests = new Map<string, Manifest>();
  /** Lazily restored containers whose memory is still being copied in. */
  private readonly memoryPending = new Map<string, Promise<void>>();
  /** Merges of a container's chain running now (a dump of it waits: it reads the chain). */
  private readonly merging = new Map<string, Promise<unknown>>();
  /** Generations (`<container>/<n>`) a send is reading now, with how many sends: never dropped meanwhile. */
  private readonly sending = new Map<string, number>();
  /** Each container's network namespace on this PC. */
  readonly net: ContainerNet;

  constructor(readonly config: ExecutorConfig) {
    this.net = new ContainerNet(config.nodeId, config.dataPlaneAddress.replace(/:\d+$/, ''), config.netnsPrefix);
    this.store = new RemnantStore(path.join(config.dataDir, 'store'));
    this.runc = new Runc(path.join(config.dataDir, 'runc'), config.criu);
    this.transfers = new TransferRegistry(this.store);
  }

  /**
   * The data dir (store, runc state, CRIU configs) is root's alone: whatever containers leave there (a setuid-root
   * copy of a shell, a rootfs of any content) is out of reach of the users logged in at the PC.
   */
  async secureDataDir(): Promise<void> {
    await mkdir(this.config.dataDir, { recursive: true, mode: 0o700 });
    await chmod(this.config.dataDir, 0o700);
  }

  /** runc's view of the container, and for a running one the memory a checkpoint of it would dump. */
  async state(containerId: string): Promise<ContainerState> {
    const s = await this.runc.state(containerId);
    return s.status === 'running' ? { ...s, memoryBytes: await cgroupMemoryBytes(s.pid) } : s;
  }

  /** Containers runc knows on this node. */
  async list(): Promise<ContainerState[]> {
    return this.runc.list();
  }

  /** Stops a container but keeps its bundle and checkpoints (it can be checkpoint-restored or re-created later). */
  async stopContainer(containerId: string): Promise<ContainerState> {
    if ((await this.runc.state(containerId)).status === 'absent')
      throw new ExecutorError(`no container ${containerId} on ${this.config.nodeId}`);
    await this.runc.remove(containerId);
    await this.net.destroy(containerId);
    return this.runc.state(containerId);
  }

  /** Whether this PC takes kernel-strategy (tracked, differential) dumps. */
  get tracksDirtyPages(): boolean {
    return this.config.capabilities.strategy === 'kernel';
  }

  private nodeCriuLines: Promise<string> | null = null;

  /** This PC's own CRIU settings: tracking and the restore action script where it tracks dirty pages, else none. */
  private criuNodeLines(): Promise<string> {
    this.nodeCriuLines ??= (async () => {
      if (!this.tracksDirtyPages) return '';
      const dir = path.join(this.config.dataDir, 'criu');
      await mkdir(dir, { recursive: true });
      const script = path.join(dir, 'restart-tracking.sh');
      await writeFile(script, CLEAR_SOFT_DIRTY_SCRIPT, { mode: 0o755 });
      await chmod(script, 0o755);
      return criuNodeConfig(script);
    })();
    return this.nodeCriuLines;
  }

  /** The container's CRIU config (its config.json names it): rewritten before each dump and restore. */
  private criuConfigPath(containerId: string): string {
    return path.join(this.config.dataDir, 'criu', `${containerId}.conf`);
  }

  private async writeCriuConfig(containerId: string, skipMounts: string[] = []): Promise<void> {
    const file = this.criuConfigPath(containerId);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, criuConfigText(await this.criuNodeLines(), skipMounts));
  }

  private absentPaths: Promise<string[]> | null = null;

  /** The paths runc would hide or make read-only in a container that this PC's kernel does not have. */
  absentKernelPaths(): Promise<string[]> {
    this.absentPaths ??= (async () => {
      const paths = protectedKernelPaths(await this.runc.baseSpec());
      const here = await Promise.all(
        paths.map((p) =>
          access(p).then(
            () => true,
            () => false,
          ),
        ),
      );
      return paths.filter((_, k) => !here[k]);
    })();
    return this.absentPaths;
  }

  private async writeConfig(spec: ContainerSpec): Promise<void> {
    await this.writeCriuConfig(spec.containerId);
    await this.runc.writeSpec(this.store.bundleDir(spec.containerId), {
      criuConfig: this.criuConfigPath(spec.containerId),
      env: spec.env,
      hostname: spec.containerId,
      netnsPath: this.net.path(spec.containerId),
      limits: {
        memoryMiB: spec.memoryMiB,
        cpus: spec.cpus ?? DEFAULT_LIMITS.cpus,
        pids: spec.pids ?? DEFAULT_LIMITS.pids,
      },
      ...(spec.user ? { user: spec.user } : {}),
      // zanshin-init runs the program with stdout/stderr into files of the rootfs, which move with it.
      args: [INIT_PATH, '--', ...spec.args],
    });
  }

  /** A container whose program this PC could not checkpoint would be stuck here: refused before it arrives. */
  private refuseUserItCannotMove(spec: ContainerSpec): void {
    const why = userRefusal(
      spec.containerId,
      spec.user,
      this.config.nodeId,
      this.config.capabilities.checkpointsOtherUsers,
    );
    if (why) throw new InvalidInput(why);
  }

  /** A rootfs source must lie in an allowed root, links resolved: else any directory of the PC could be copied in. */
  private async checkRootfsSource(source: string): Promise<void> {
    const roots = this.config.rootfsRoots;
    if (!roots) return;
    const real = await realpath(source).catch(() => null);
    if (real === null) throw new ExecutorError(`rootfs source ${source} does not exist on ${this.config.nodeId}`);
    const realRoots = await Promise.all(roots.map((r) => realpath(r).catch(() => r)));
    if (!liesUnder(real, realRoots))
      throw new InvalidInput(
        `rootfs source ${source}${real === source ? '' : ` (${real})`} is outside the allowed roots of ` +
          `${this.config.nodeId} (${roots.join(', ')}; ZANSHIN_ROOTFS_ROOTS)`,
      );
  }

  /** Builds a bundle from a rootfs and starts the container. */
  async createContainer(input: CreateContainerInput): Promise<ContainerState> {
    const { containerId } = input;
    const current = await this.runc.state(containerId);
    if (current.status !== 'absent')
      throw new ExecutorError(`container ${containerId} already exists on ${this.config.nodeId} (${current.status})`);
    if ((await this.store.readSpec(containerId)) && !(await this.store.remnant(containerId))) {
      throw new ExecutorError(
        `container ${containerId} already has a bundle on ${this.config.nodeId}; delete it first`,
      );
    }
    this.refuseUserItCannotMove(input);
    const source = input.rootfs.dir ?? input.rootfs.tarball;
    if (source) await this.checkRootfsSource(source);
    await rm(this.store.containerDir(containerId), { recursive: true, force: true });
    const rootfs = this.store.rootfsDir(containerId);
    await mkdir(rootfs, { recursive: true });
    if (input.rootfs.dir) {
      const st = await stat(input.rootfs.dir).catch(() => null);
      if (!st?.isDirectory())
        throw new ExecutorError(`rootfs directory ${input.rootfs.dir} does not exist on ${this.config.nodeId}`);
      await execa('cp', ['-a', `${input.rootfs.dir}/.`, rootfs]);
    } else if (input.rootfs.tarball) {
      // Owners as numbers, as the image has them (a program that runs as its own user needs its files), never
      // renamed after this PC's users.
      const r = await execa('tar', ['-xf', input.rootfs.tarball, '-C', rootfs, '--same-owner', '--numeric-owner'], {
        reject: false,
      });
      if (r.exitCode !== 0) throw new ExecutorError(`cannot unpack rootfs ${input.rootfs.tarball}: ${r.stderr.trim()}`);
      await refuseDeviceNodes(rootfs, input.rootfs.tarball);
    } else {
      throw new ExecutorError('createContainer needs rootfs.dir or rootfs.tarball');
    }
    // Made anew: an image's own .zanshin could be a link to anywhere on this PC.
    await rm(path.join(rootfs, INIT_DIR), { recursive: true, force: true });
    await mkdir(path.join(rootfs, INIT_DIR), { mode: 0o755 });
    // The program's logs go there, written as its user.
    if (input.user) await lchown(path.join(rootfs, INIT_DIR), input.user.uid, input.user.gid);
    await copyFile(
      this.config.initBinary ?? '/var/cache/zanshin/bin/zanshin-init',
      path.join(rootfs, INIT_DIR, 'init'),
    ).catch((err: Error) => {
      throw new ExecutorError(
        `zanshin-init is missing on ${this.config.nodeId} (run infra/provision.sh): ${err.message}`,
      );
    });
    await chmod(path.join(rootfs, INIT_DIR, 'init'), 0o755);
    const spec: ContainerSpec = {
      containerId,
      args: input.args,
      env: input.env,
      memoryMiB: input.memoryMiB,
      diskMiB: input.diskMiB ?? DEFAULT_DISK_MIB,
      cpus: input.cpus ?? DEFAULT_LIMITS.cpus,
      pids: input.pids ?? DEFAULT_LIMITS.pids,
      ...(input.network ? { network: input.network } : {}),
      ...(input.user ? { user: input.user } : {}),
    };
    // Name servers for a container with its own address (its resolv.conf is part of its rootfs and moves with it).
    // Never through a link: the rootfs came from outside, and its /etc or resolv.conf could point at the PC's own.
    const etc = await lstat(path.join(rootfs, 'etc')).catch(() => null);
    if (spec.network?.dns?.length && etc?.isDirectory()) {
      const resolv = path.join(rootfs, 'etc', 'resolv.conf');
      await rm(resolv, { force: true });
      await writeFile(resolv, spec.network.dns.map((s) => `nameserver ${s}\n`).join(''), { flag: 'wx' });
    }
    await this.store.writeSpec(spec);
    await this.writeConfig(spec);
    // A namespace left by an attempt that timed out (the container itself is absent, checked above) is made anew.
    await this.net.destroy(containerId);
    await this.net.create(containerId, spec.network, { held: false });
    try {
      await this.runc.run(containerId, this.store.bundleDir(containerId));
    } catch (err) {
      await this.net.destroy(containerId).catch(() => undefined);
      throw err;
    }
    return this.runc.state(containerId);
  }

  /** Describes the rootfs and sends what the target lacks; `final` (after the freeze) records it as this node's bundle. */
  async syncBundle(
    containerId: string,
    target: TransferTarget,
    final: boolean,
    { onProgress = () => undefined, signal }: SendOptions = {},
  ): Promise<TransferReport> {
    const t0 = process.hrtime.bigint();
    // Before the freeze the rootfs changes under the scan: what changes meanwhile goes with the frozen sync.
    const { manifest, locations } = await scanDirectory(
      this.store.rootfsDir(containerId),
      'bundle',
      containerId,
      undefined,
      { live: !final },
    );
    // A rootfs over its quota stays here (the container runs on): it would fill every PC it visits.
    const spec = await this.store.readSpec(containerId);
    checkDiskQuota(manifest, spec?.diskMiB ?? DEFAULT_DISK_MIB);
    const report = await this.send(manifest, () => ChunkReader.fromLocations(locations), target, {
      onProgress,
      signal,
      live: !final,
    });
    if (final) await this.store.writeBundleManifest(containerId, manifest);
    return { ...report, ms: since(t0) };
  }

  /**
   * Checkpoints into a new generation and describes it; without leaveRunning the container is gone afterwards.
   * `supersedes`: generations of this container here that this dump replaces (see dropSuperseded).
   * `kernel` (kernel strategy, on a PC that tracks dirty pages): a pre-dump or a final dump, differential to the
   * generation its tracking is relative to when the target holds that one; a tracked dump that fails is taken again
   * with the content strategy (full, untracked), and the report says why.
   */
  async checkpoint(
    containerId: string,
    leaveRunning: boolean,
    {
      supersedes = [],
      kernel,
      targetLacks = [],
    }: { supersedes?: number[]; kernel?: KernelDump; targetLacks?: string[] } = {},
  ): Promise<CheckpointReport> {
    const spec = await this.store.readSpec(containerId);
    if (!spec) throw new ExecutorError(`no container ${containerId} on ${this.config.nodeId}`);
    const state = await this.runc.state(containerId);
    if (state.status !== 'running')
      throw new ExecutorError(`container ${containerId} is ${state.status} on ${this.config.nodeId}, not running`);
    // A container restored lazily is dumped only once all its memory is back; a merge of its chain ends first.
    await this.memoryPending.get(containerId);
    await this.merging.get(containerId)?.catch(() => undefined);
    const tracked = kernel && this.tracksDirtyPages ? kernel : undefined;
    const parent = tracked ? await this.dumpParent(containerId, tracked.parentCandidates) : undefined;
    const generation = await this.store.nextGeneration(containerId);
    const dir = this.store.generationDir(containerId, generation);
    await rm(dir, { recursive: true, force: true });
    // A differential dump's parents stay (they are the rest of its image).
    if (!tracked) await this.dropSuperseded(containerId, supersedes);
    let t0 = process.hrtime.bigint();
    // A container that stops here must not have its peers reset meanwhile: hold its traffic until it is restored.
    if (!leaveRunning) await this.net.hold(containerId);
    const imageDir = path.join(dir, 'image');
    const workDir = path.join(dir, 'work');
    // Mounts over kernel files the target lacks stay out of the image, or the target could not restore it.
    const skippedMounts = mountsTargetLacks(await this.runc.baseSpec(), await this.absentKernelPaths(), targetLacks);
    await this.writeCriuConfig(containerId, skippedMounts);
    let strategy: DirtyStrategy = tracked ? 'kernel' : 'content';
    let fallback: string | undefined;
    // Pages are hashed while CRIU writes them: hashing overlaps the dump.
    let follower = DumpFollower.start(imageDir);
    const giveUp = async (err: unknown): Promise<never> => {
      follower?.stop();
      if (!leaveRunning && (await this.runc.state(containerId)).status === 'running')
        await this.net.release(containerId);
      throw err;
    };
    try {
      const parentPath = parent === undefined ? undefined : `../../${parent}/image`;
      if (tracked?.preDump) await this.runc.preDump(containerId, imageDir, workDir, parentPath);
      else await this.runc.checkpoint(containerId, strategy, imageDir, workDir, leaveRunning, parentPath);
    } catch (err) {
      if (!tracked || (await this.runc.state(containerId)).status !== 'running') return giveUp(err);
      // The tracked dump failed with the container still running: the same move goes on with a full dump.
      fallback = (err as Error).message.split('\n')[0]!;
      console.error(`${containerId}: kernel-strategy dump failed (${fallback}); taking a content-strategy dump`);
      follower?.stop();
      await rm(dir, { recursive: true, force: true });
      strategy = 'content';
      follower = DumpFollower.start(imageDir);
      try {
        await this.runc.checkpoint(containerId, 'content', imageDir, workDir, leaveRunning);
      } catch (again) {
        return giveUp(again);
      }
    }
    const dumpMs = since(t0);
    t0 = process.hrtime.bigint();
    // Its address leaves this PC with it: whoever restores it (a target, or this PC rolling back) creates it anew.
    const [prehashed] = await Promise.all([
      follower?.finish(),
      leaveRunning ? undefined : this.net.destroy(containerId),
    ]);
    // No chunk index: a checkpoint is sent by places in its manifest (an object per page was 40 MB per GiB).
    const { manifest } = await scanDirectory(imageDir, 'checkpoint', containerId, generation, {
      withLocations: false,
      ...(prehashed ? { prehashed } : {}),
    });
    // What hashing added after the dump (most of it overlapped the dump).
    const hashMs = since(t0);
    const differential = strategy === 'kernel' && parent !== undefined;
    const meta: GenerationMeta = {
      generation,
      createdAt: new Date().toISOString(),
      strategy,
      sourceNode: this.config.nodeId,
      ...(differential ? { parent } : {}),
      ...(strategy === 'kernel' && tracked?.preDump ? { preDump: true } : {}),
    };
    await this.store.commitGeneration(containerId, manifest, meta);
    this.rememberManifest(containerId, generation, manifest);
    this.verifiedImages.add(`${containerId}/${generation}`); // its pages were hashed as CRIU wrote them
    // Every dump on a tracking PC restarts tracking (track-mem): the next one can be differential to this one.
    if (this.tracksDirtyPages) await this.store.setTrackingBase(containerId, leaveRunning ? generation : null);
    const pages = Math.round((await pagesBytes(imageDir)) / PAGE_SIZE);
    return {
      containerId,
      generation,
      strategy,
      pages,
      ...(fallback ? { fallback } : {}),
      ...(skippedMounts.length ? { skippedMounts } : {}),
      dumpMs,
      hashMs,
      image: manifestStats(manifest),
      spec,
      meta,
    };
  }

  /** The tracking base when the target holds it and this PC holds its whole chain; else none (a full dump). */
  private async dumpParent(containerId: string, candidates: number[]): Promise<number | undefined> {
    const base = await this.store.trackingBase(containerId);
    if (base === null || !candidates.includes(base)) return undefined;
    return (await this.store.chain(containerId, base).catch(() => null)) ? base : undefined;
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
    const held = await this.store.generations(containerId);
    // Never a parent another generation here needs (kernel strategy: the rest of that one's image).
    const needed = new Set<number>();
    for (const n of held)
      for (const p of (await this.store.chain(containerId, n).catch(() => [n])).slice(1)) needed.add(p);
    const drop = held.filter(
      (n) => supersedes.includes(n) && !needed.has(n) && !this.sending.has(`${containerId}/${n}`),
    );
    if (drop.length) await this.generationManifest(containerId, Math.max(...drop));
    for (const n of drop) await this.store.recycleGeneration(containerId, n);
  }

  async sendCheckpoint(
    containerId: string,
    generation: number,
    target: TransferTarget,
    targetHolds: number[] = [],
    { onProgress = () => undefined, signal }: SendOptions = {},
  ): Promise<TransferReport> {
    const key = `${containerId}/${generation}`;
    this.sending.set(key, (this.sending.get(key) ?? 0) + 1);
    try {
      return await this.sendGeneration(containerId, generation, target, targetHolds, { onProgress, signal });
    } finally {
      const left = (this.sending.get(key) ?? 1) - 1;
      if (left > 0) this.sending.set(key, left);
      else this.sending.delete(key);
    }
  }

  private async sendGeneration(
    containerId: string,
    generation: number,
    target: TransferTarget,
    targetHolds: number[],
    { onProgress = () => undefined, signal }: SendOptions,
  ): Promise<TransferReport> {
    const t0 = process.hrtime.bigint();
    const manifest = await this.generationManifest(containerId, generation);
    // The manifest goes as a delta to the newest generation both PCs hold (a whole one is 32 bytes per page).
    // A generation dropped before this dump (dropSuperseded) still serves as a base while its manifest is in memory.
    // A base must be the same manifest on both PCs: not one this PC rewrote (merged, or its dump time moved).
    const held = new Set(await this.store.generations(containerId));
    const rewritten = async (n: number) =>
      held.has(n) && (await this.store.readMeta(containerId, n).catch(() => null))?.rewritten !== undefined;
    const usable = (n: number) => held.has(n) || this.recentManifests.has(`${containerId}/${n}`);
    let baseGeneration: number | undefined;
    for (const n of targetHolds.filter((g) => g < generation && usable(g)).sort((a, b) => b - a))
      if (!(await rewritten(n))) {
        baseGeneration = n;
        break;
      }
    const base =
      baseGeneration === undefined
        ? undefined
        : await this.generationManifest(containerId, baseGeneration).catch(() => undefined);
    const imageDir = this.store.imageDir(containerId, generation);
    // The target answers with places in the manifest: each chunk is read from there, no index of the image needed.
    const readerFor = () => new ChunkReader([]);
    return {
      ...(await this.send(manifest, readerFor, target, { onProgress, signal, base, imageDir })),
      ms: since(t0),
    };
  }

  /**
   * Generations this worker wrote and checked itself (dumped and hashed, or received chunk by chunk): restored
   * without hashing again within a move (a rollback, the target's restore). Any other (after a restart, or a start
   * after a stop) is hashed and checked before CRIU reads it.
   */
  private readonly verifiedImages = new Set<string>();

  private forgetChecked(containerId: string): void {
    for (const key of this.verifiedImages) if (key.startsWith(`${containerId}/`)) this.verifiedImages.delete(key);
  }

  /** Checks a generation and the parents its image needs against their manifests; throws naming what is damaged. */
  private async verifyChain(containerId: string, generation: number): Promise<void> {
    for (let g: number | undefined = generation; g !== undefined;) {
      const key = `${containerId}/${g}`;
      if (!this.verifiedImages.has(key)) {
        const { manifest } = await this.store.readGeneration(containerId, g);
        const damage = await imageDamage(this.store.imageDir(containerId, g), manifest);
        if (damage)
          throw new ExecutorError(
            `generation ${g} of ${containerId} is damaged on ${this.config.nodeId} (${damage}): not restored. ` +
              'Restore an earlier generation, or one another PC holds.',
          );
        this.verifiedImages.add(key);
      }
      g = (await this.store.readMeta(containerId, g)).parent;
    }
  }

  /** A generation's manifest; the last few taken or read here stay in memory (a move reads them right after). */
  private async generationManifest(containerId: string, generation: number): Promise<Manifest> {
    let m = this.recentManifests.get(`${containerId}/${generation}`);
    if (!m) {
      m = (await this.store.readGeneration(containerId, generation)).manifest;
      this.rememberManifest(containerId, generation, m);
    }
    return m;
  }

  private rememberManifest(containerId: string, generation: number, m: Manifest): void {
    const key = `${containerId}/${generation}`;
    this.recentManifests.delete(key);
    this.recentManifests.set(key, m);
    while (this.recentManifests.size > RECENT_MANIFESTS)
      this.recentManifests.delete(this.recentManifests.keys().next().value!);
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
      const missing = await client.offer(manifest, base);
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
        ...client.counters,
      };
    } finally {
      await reader?.close();
    }
  }

  private async rewrittenGenerations(containerId: string, held: number[]): Promise<number[]> {
    const out: number[] = [];
    for (const n of held) if ((await this.store.readMeta(containerId, n).catch(() => null))?.rewritten) out.push(n);
    return out;
  }

  /** Target side: opens a transfer for a container and says what this node holds of it already. */
  async prepareReceive(containerId: string): Promise<{
    transferId: string;
    token: string;
    address: string;
    heldGenerations: number[];
    /** Held generations this PC rewrote (merged, tracking restarted): never a delta base. */
    rewrittenGenerations: number[];
    hasBundle: boolean;
    /** This PC takes kernel-strategy dumps and restores with tracking restarted. */
    dirtyTracking: boolean;
    /** Kernel files runc protects in containers that this PC lacks: the source's dump leaves their mounts out. */
    absentKernelPaths: string[];
  }> {
    const running = await this.runc.state(containerId);
    if (running.status !== 'absent')
      throw new ExecutorError(`container ${containerId} already exists on ${this.config.nodeId} (${running.status})`);
    const heldGenerations = await this.store.generations(containerId);
    // The newest held image seeds the one to receive (copied and verified while the container still runs).
    const newest = heldGenerations[heldGenerations.length - 1];
    const { transferId, token } = await this.transfers.register(
      containerId,
      undefined,
      newest !== undefined ? { generation: newest, imageDir: this.store.imageDir(containerId, newest) } : undefined,
    );
    // Seeding goes on before the freeze, not during the source's dump (PCs simulated on one machine share its cores);
    // bounded, as this is a quick call: a large seed that takes longer is awaited by the checkpoint's offer.
    const seeded = (await this.transfers.get(transferId)).seeded();
    await Promise.race([seeded, new Promise((r) => setTimeout(r, SEED_WAIT_MS).unref())]);
    return {
      transferId,
      token,
      address: this.config.dataPlaneAddress,
      heldGenerations,
      rewrittenGenerations: await this.rewrittenGenerations(containerId, heldGenerations),
      hasBundle: (await this.store.readBundleManifest(containerId)) !== null,
      dirtyTracking: this.tracksDirtyPages,
      absentKernelPaths: await this.absentKernelPaths(),
    };
  }

  /**
   * Target side: brings the bundle up to date and writes the image from held and received chunks, verifying each.
   * The container does not run here yet (restore it, or keep it as a safety copy).
   */
  private async receive(
    transferId: string,
    spec: ContainerSpec,
    meta: GenerationMeta,
    partialBundle = false,
    deferManifest = false,
  ): Promise<{
    containerId: string;
    bundle: ApplyStats;
    applyBundleMs: number;
    writeImageMs: number;
    manifest: Manifest;
  }> {
    const transfer = await this.transfers.get(transferId);
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
      this.refuseUserItCannotMove(spec);
      await this.store.writeSpec(spec);
      const { applied, ...bundleStats } = await applyBundle(
        bundle,
        this.store.rootfsDir(containerId),
        await this.store.readBundleManifest(containerId),
        reader,
        path.join(this.store.bundleDir(containerId), '.incoming'),
        { partial: partialBundle, damaged: (hash) => transfer.isDamagedHeld(hash) },
      );
      await this.store.writeBundleManifest(containerId, applied);
      await this.writeConfig(spec);
      const applyBundleMs = since(t0);
      t0 = process.hrtime.bigint();
      await this.takeImage(transfer, meta, { deferManifest });
      return { containerId, bundle: bundleStats, applyBundleMs, writeImageMs: since(t0), manifest: checkpoint };
    } finally {
      await reader.close();
    }
  }

  /**
   * Moves a transfer's image (built in place as chunks arrived, each verified) into the store as generation
   * meta.generation, linked to its parent when it is differential. Nothing to do when that generation is here
   * already (a retried step). `deferManifest`: only meta.json now; the caller writes the manifest later.
   */
  private async takeImage(
    transfer: Transfer,
    incoming: GenerationMeta,
    { deferManifest = false }: { deferManifest?: boolean } = {},
  ): Promise<void> {
    const containerId = transfer.record.containerId;
    const checkpoint = transfer.manifests.checkpoint;
    // What this PC did to its own copy is its own business: never taken from the sender.
    const meta: GenerationMeta = { ...incoming };
    delete meta.rewritten;
    const already =
      !(await stat(transfer.imageDir).catch(() => null)) &&
      (await this.store.generations(containerId)).includes(meta.generation);
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
    const genDir = this.store.generationDir(containerId, meta.generation);
    const partial = `${genDir}.partial`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { recursive: true });
    await rename(transfer.imageDir, path.join(partial, 'image'));
    await rm(genDir, { recursive: true, force: true });
    await rename(partial, genDir);
    if (meta.parent !== undefined) await this.store.linkParent(containerId, meta.generation, meta.parent);
    // Encoding a manifest takes a while (32 bytes per page): a restore writes it once the container runs.
    if (deferManifest) await this.store.writeMeta(containerId, meta);
    else await this.store.commitGeneration(containerId, checkpoint, meta);
    this.rememberManifest(containerId, meta.generation, checkpoint);
    this.verifiedImages.add(`${containerId}/${meta.generation}`); // every chunk was checked as it arrived
  }

  /**
   * Target side, kernel strategy: keeps the pre-copy round just received as a generation (the next round and the
   * final dump are differential to it), and readies the transfer for the next image.
   */
  async keepGeneration(transferId: string, meta: GenerationMeta): Promise<{ generation: number }> {
    const transfer = await this.transfers.get(transferId);
    await this.takeImage(transfer, meta);
    await transfer.imageKept();
    return { generation: meta.generation };
  }

  /**
   * Restores, receives and stores of one container on this PC run one at a time: a retried step whose first
   * attempt still runs (its heartbeat was late) waits for it instead of sharing its files and namespace.
   */
  private readonly perContainer = new KeyedSerialQueues();
  /** Restores from a transfer that completed here, by transfer id: a retry of the same step gets the same answer. */
  private readonly restoredTransfers = new Map<string, RestoreReport>();

  /** Target side of a migration: receive, then restore here. */
  restoreFromTransfer(transferId: string, spec: ContainerSpec, meta: GenerationMeta): Promise<RestoreReport> {
    return this.perContainer.run(spec.containerId, async () => {
      const done = this.restoredTransfers.get(transferId);
      if (done) return done;
      const report = await this.restoreFromTransferHere(transferId, spec, meta);
      this.restoredTransfers.set(transferId, report);
      if (this.restoredTransfers.size > 64) this.restoredTransfers.delete(this.restoredTransfers.keys().next().value!);
      return report;
    });
  }

  private async restoreFromTransferHere(
    transferId: string,
    spec: ContainerSpec,
    meta: GenerationMeta,
  ): Promise<RestoreReport> {
    const transfer = await this.transfers.get(transferId);
    if (spec.containerId !== transfer.record.containerId)
      throw new ExecutorError(`transfer ${transferId} carries ${transfer.record.containerId}, not ${spec.containerId}`);
    if ((await this.runc.state(spec.containerId)).status !== 'absent')
      throw new ExecutorError(`container ${spec.containerId} already exists on ${this.config.nodeId}`);
    // Both are in the downtime: the namespace is built while the bundle and image are put in place.
    const net = this.net.create(spec.containerId, spec.network, { held: true });
    let received: Awaited<ReturnType<NodeExecutor['receive']>>;
    try {
      [received] = await Promise.all([this.receive(transferId, spec, meta, false, true), net]);
    } catch (err) {
      await net.catch(() => undefined);
      await this.net.destroy(spec.containerId).catch(() => undefined);
      throw err;
    }
    const { manifest, ...report } = received;
    let restored: Awaited<ReturnType<NodeExecutor['restoreLocal']>>;
    try {
      restored = await this.restoreHere(received.containerId, meta.generation, { networkReady: true });
    } finally {
      // The image is complete and verified either way: it stays as a generation this PC holds.
      await this.store.writeManifest(received.containerId, meta.generation, manifest);
    }
    await this.transfers.finish(transferId);
    return { ...report, generation: meta.generation, restoreMs: restored.restoreMs, state: restored.state };
  }

  /** Keeps a safety checkpoint of a container running elsewhere, as a remnant, ready for a restore if its PC dies. */
  storeFromTransfer(
    transferId: string,
    spec: ContainerSpec,
    meta: GenerationMeta,
  ): Promise<{ containerId: string; generation: number; bundle: ApplyStats; writeImageMs: number }> {
    return this.perContainer.run(spec.containerId, () => this.storeFromTransferHere(transferId, spec, meta));
  }

  private async storeFromTransferHere(
    transferId: string,
    spec: ContainerSpec,
    meta: GenerationMeta,
  ): Promise<{ containerId: string; generation: number; bundle: ApplyStats; writeImageMs: number }> {
    // Its rootfs was synced while the container ran: files changing at that instant keep their last copy here.
    const received = await this.receive(transferId, spec, meta, true);
    await this.store.markRemnant(received.containerId, this.config.remnantRetentionMs);
    await this.transfers.finish(transferId);
    return {
      containerId: received.containerId,
      generation: meta.generation,
      bundle: received.bundle,
      writeImageMs: received.writeImageMs,
    };
  }

  /** Restores a container from a generation this node holds (a target after a transfer, or a source rolling back). */
  restoreLocal(
    containerId: string,
    generation: number,
    options: Parameters<NodeExecutor['restoreHere']>[2] = {},
  ): ReturnType<NodeExecutor['restoreHere']> {
    return this.perContainer.run(containerId, () => this.restoreHere(containerId, generation, options));
  }

  private async restoreHere(
    containerId: string,
    generation: number,
    {
      networkReady = false,
      lazy,
      verify = 'unless-checked',
    }: { networkReady?: boolean; lazy?: boolean; verify?: 'unless-checked' | 'always' } = {},
  ): Promise<{ restoreMs: number; state: ContainerState; checkpointCreatedAt: string }> {
    const before = await this.runc.state(containerId);
    if (before.status === 'running')
      throw new ExecutorError(`container ${containerId} is already running on ${this.config.nodeId}`);
    await this.runc.remove(containerId);
    const spec = await this.store.readSpec(containerId);
    if (!spec) throw new ExecutorError(`no bundle of ${containerId} on ${this.config.nodeId}`);
    const t0 = process.hrtime.bigint();
    // Nothing reaches CRIU unchecked, whichever path restores (a move, a rollback, a start after a stop).
    if (verify === 'always') this.forgetChecked(containerId);
    await this.verifyChain(containerId, generation);
    const work = path.join(this.store.generationDir(containerId, generation), `restore-work-${Date.now()}`);
    // config.json is already this PC's (written when the bundle was created or received here). The address is
    // present but silent while CRIU rebuilds the connections; then the LAN learns where it is.
    if (!networkReady) await this.net.create(containerId, spec.network, { held: true });
    const imageDir = this.store.imageDir(containerId, generation);
    const meta = await this.store.readMeta(containerId, generation);
    if (meta.preDump)
      throw new ExecutorError(`generation ${generation} of ${containerId} is a pre-dump (memory only): not restorable`);

    // A PC that tracks restores plainly: pages copied in after the resume would all count as dirtied.
    const lazyPages =
      lazy ??
      (!this.tracksDirtyPages &&
        restoresLazily(this.config.lazyRestore ?? true, await pagesBytes(imageDir), this.config.lazyRestoreMinBytes));
    let daemon: LazyPagesDaemon | null;
    try {
      daemon = await this.runc.restore(containerId, imageDir, work, this.store.bundleDir(containerId), { lazyPages });
    } catch (err) {
      await this.net.destroy(containerId).catch(() => undefined);
      throw err;
    }
    await this.net.release(containerId);
    if (spec.network) await this.net.announce(containerId, spec.network);
    const restoreMs = since(t0);
    if (daemon) this.awaitMemory(containerId, generation, daemon, work);
    else await rm(work, { recursive: true, force: true });
    await this.store.clearRemnant(containerId);
    if (this.tracksDirtyPages) await this.trackFrom(containerId, generation, meta);
    return { restoreMs, state: await this.runc.state(containerId), checkpointCreatedAt: meta.createdAt };
  }

  /**
   * After a restore on a PC that tracks: the action script restarted tracking before the tasks resumed, so the
   * restored memory equals this generation's image from that moment. Its inventory's dump time moves to now (else
   * CRIU takes the restored tasks, started after it, for reused pids and dumps every page: domain/criu-inventory.ts),
   * its manifest follows the rewritten file, and it becomes the base of the next, differential, dump.
   */
  private async trackFrom(containerId: string, generation: number, meta: GenerationMeta): Promise<void> {
    const uptimeUs = BigInt(Math.round(Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]) * 1e6));
    const file = path.join(this.store.imageDir(containerId, generation), 'inventory.img');
    const inventory = withDumpUptime(await readFile(file), uptimeUs);
    await writeFile(`${file}.tmp`, inventory);
    await rename(`${file}.tmp`, file);
    const manifest = await this.generationManifest(containerId, generation);
    const at = manifest.entries.findIndex((e) => e.path === 'inventory.img');
    if (at >= 0) {
      const chunks: Buffer[] = [];
      for (let o = 0; o < inventory.length || o === 0; o += FILE_CHUNK_SIZE)
        chunks.push(
          createHash('sha256')
            .update(inventory.subarray(o, o + FILE_CHUNK_SIZE))
            .digest(),
        );
      manifest.entries[at] = { ...manifest.entries[at]!, size: inventory.length, chunks: Buffer.concat(chunks) };
    }
    // A restore from a transfer writes the manifest itself once the container runs; a held generation's is here.
    if ((await this.store.generations(containerId)).includes(generation))
      await this.store.writeManifest(containerId, generation, manifest);
    await this.store.writeMeta(containerId, { ...meta, rewritten: meta.rewritten ?? 'tracking' });
    await this.store.setTrackingBase(containerId, generation);
  }

  /**
   * Kernel strategy, off the critical path: merges a generation whose chain is longer than the threshold into a
   * self-contained one (store.mergeGeneration: power-off safe). Null when its chain is short enough.
   */
  async mergeChain(
    containerId: string,
    generation: number,
  ): Promise<{ generation: number; chainLength: number; pages: number; ms: number } | null> {
    const chain = await this.store.chain(containerId, generation);
    if (!needsMerge(chain.length, this.config.chainMergeThreshold ?? DEFAULT_CHAIN_MERGE_THRESHOLD)) return null;
    if (this.sending.has(`${containerId}/${generation}`))
      throw new ExecutorError(`generation ${generation} of ${containerId} is being sent; merge it later`);
    const t0 = process.hrtime.bigint();
    // The merged pages' hashes come from the chain's manifests: no page is hashed again (the small files are).
    let merged: MergedPages[] = [];
    const merge = async (dirs: string[], out: string) => {
      const r = await mergeImageChain(dirs, out);
      merged = r.merged;
      return r;
    };
    const describe = async (dir: string) => {
      const manifests = await Promise.all(chain.map((g) => this.generationManifest(containerId, g)));
      const prehashed = new Map<string, Buffer>();
      for (const m of merged) {
        const parts = m.runs.map((run) => {
          const chunks = manifests[run.level]!.entries.find((e) => e.path === m.sources[run.level])?.chunks;
          if (!chunks) throw new ExecutorError(`${m.sources[run.level]} is not in the manifest of its generation`);
          return chunks.subarray(run.offset * HASH_BYTES, (run.offset + run.pages) * HASH_BYTES);
        });
        prehashed.set(m.file, Buffer.concat(parts));
      }
      return (await scanDirectory(dir, 'checkpoint', containerId, generation, { withLocations: false, prehashed }))
        .manifest;
    };
    const run = this.store.mergeGeneration(containerId, generation, merge, describe);
    this.merging.set(containerId, run);
    try {
      const { chainLength, pages } = await run;
      this.recentManifests.delete(`${containerId}/${generation}`);
      this.verifiedImages.delete(`${containerId}/${generation}`); // rewritten: checked again before a restore
      return { generation, chainLength, pages, ms: since(t0) };
    } finally {
      if (this.merging.get(containerId) === run) this.merging.delete(containerId);
    }
  }

  /**
   * A lazily restored container runs while its memory is still being copied in. Until that ends, nothing may dump
   * it (checkpoint() waits) and its image must stay. Should the daemon fail, the process would meet zero pages
   * where its memory is missing: it is stopped and restored again, fully, from the same checkpoint (its open
   * connections are lost then, its memory never).
   */
  private awaitMemory(containerId: string, generation: number, daemon: LazyPagesDaemon, work: string): void {
    const t0 = process.hrtime.bigint();
    const settled = daemon.done.then(
      async () => {
        console.log(`${containerId}: memory of generation ${generation} complete ${since(t0)} ms after the restore`);
        await rm(work, { recursive: true, force: true });
      },
      async (err: unknown) => {
        if ((await this.runc.state(containerId)).status !== 'running') return; // stopped or moved meanwhile
        console.error(`${containerId}: ${(err as Error).message}; restoring it again from generation ${generation}`);
        await this.runc.remove(containerId);
        await this.restoreLocal(containerId, generation, { lazy: false }).catch((again: unknown) =>
          console.error(`${containerId}: the full restore failed too: ${(again as Error).message}`),
        );
      },
    );
    this.memoryPending.set(containerId, settled);
    void settled.finally(() => {
      if (this.memoryPending.get(containerId) === settled) this.memoryPending.delete(containerId);
    });
  }

  /** The container now runs elsewhere: keep its bundle and checkpoints here as a remnant. */
  async leaveRemnant(containerId: string): Promise<{ expiresAt: string }> {
    await this.runc.remove(containerId);
    await this.net.destroy(containerId);
    const mark = await this.store.markRemnant(containerId, this.config.remnantRetentionMs);
    return { expiresAt: mark.expiresAt };
  }

  /** Target side, after a failed move: drop what was received. */
  async abortReceive(transferId: string): Promise<void> {
    await this.transfers.finish(transferId);
  }

  /**
   * Retention: removes expired remnants (never a running container's), checkpoints beyond the newest
   * keepGenerations, and staging left by transfers abandoned longer than `stagingMaxAgeMs` ago.
   */
  async collectGarbage(stagingMaxAgeMs = 24 * 3_600_000, now = new Date()) {
    // A transfer under way may have promised its source any held chunk (a remnant's rootfs, a generation as seed,
    // delta base or parent): nothing held is removed until it ends. One older than a move can last is abandoned.
    const busy = await this.transfers.openSince(new Date(now.getTime() - TRANSFER_PROMISE_MS));
    const removed = busy.length
      ? { remnants: [] as string[], generations: [] as string[], deferredBy: busy.map((t) => t.transferId) }
      : await this.store.collectGarbage(
          this.config.keepGenerations,
          now,
          async (id) => (await this.runc.state(id)).status !== 'absent',
        );
    const staging: string[] = [];
    for (const id of await readdir(this.store.stagingRoot()).catch(() => [] as string[])) {
      const st = await stat(path.join(this.store.stagingRoot(), id)).catch(() => null);
      if (st && now.getTime() - st.mtimeMs > stagingMaxAgeMs) {
        await this.transfers.finish(id);
        staging.push(id);
      }
    }
    return { ...removed, staging };
  }

  /**
   * Stops a running container with a final checkpoint kept here (never expired) and removes it: startStopped()
   * brings it back where it left off.
   */
  async stopWithCheckpoint(containerId: string): Promise<{ generation: number; stoppedAt: string }> {
    // On a PC that tracks, only what changed since the generation its tracking is relative to (kept here).
    const kernel = { preDump: false, parentCandidates: await this.store.generations(containerId) };
    const cp = await this.checkpoint(containerId, false, this.tracksDirtyPages ? { kernel } : {});
    const mark = await this.store.markStopped(containerId, cp.generation);
    await this.runc.remove(containerId);
    return mark;
  }

  /** Starts a container stopped here from its final checkpoint. */
  async startStopped(containerId: string): Promise<{ generation: number; state: ContainerState }> {
    const mark = await this.store.stoppedMark(containerId);
    if (!mark)
      throw new ExecutorError(
        `container ${containerId} was not stopped on ${this.config.nodeId} (no final checkpoint here)`,
      );
    // Held for as long as the container was stopped: checked again, whoever wrote it.
    const restored = await this.restoreLocal(containerId, mark.generation, { verify: 'always' });
    await this.store.clearStopped(containerId);
    return { generation: mark.generation, state: restored.state };
  }

  /** Runs a command in a running container, as its user; its output (at most 1 MiB per stream) and exit code. */
  async exec(
    containerId: string,
    args: string[],
    timeoutMs: number,
  ): Promise<{ exitCode: number; stdout: string; stderr: string; truncated: boolean }> {
    const state = await this.runc.state(containerId);
    if (state.status !== 'running')
      throw new ExecutorError(`container ${containerId} is ${state.status} on ${this.config.nodeId}, not running`);
    // As the container's own user: a command must not do in it what its program cannot.
    const user = (await this.store.readSpec(containerId))?.user;
    const r = await this.runc.execIn(containerId, args, timeoutMs, 4 * EXEC_OUTPUT_CAP, user);
    if (r.timedOut)
      throw new ExecutorError(`\`${args.join(' ')}\` in ${containerId} did not finish within ${timeoutMs / 1000} s`);
    const cap = (t: string): string => (t.length > EXEC_OUTPUT_CAP ? t.slice(-EXEC_OUTPUT_CAP) : t);
    return {
      exitCode: r.exitCode,
      stdout: cap(r.stdout),
      stderr: cap(r.stderr),
      truncated: r.stdout.length > EXEC_OUTPUT_CAP || r.stderr.length > EXEC_OUTPUT_CAP,
    };
  }

  /** The last `tailBytes` of a container's stdout or stderr (they live in its rootfs, so they moved with it). */
  async readLog(
    containerId: string,
    stream: 'stdout' | 'stderr',
    tailBytes: number,
  ): Promise<{ text: string; bytes: number }> {
    const file = path.join(this.store.rootfsDir(containerId), INIT_DIR, `${stream}.log`);
    const handle = await open(file, 'r').catch(() => null);
    if (!handle) {
      if (!(await this.store.readSpec(containerId)))
        throw new ExecutorError(`no container ${containerId} on ${this.config.nodeId}`);
      return { text: '', bytes: 0 };
    }
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, tailBytes);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, size - length);
      return { text: buf.toString('utf8'), bytes: size };
    } finally {
      await handle.close();
    }
  }

  /** How the program of a container that is no longer running ended (zanshin-init's record), if it did. */
  async exitOf(containerId: string): Promise<ContainerExit | null> {
    const text = await readFile(path.join(this.store.rootfsDir(containerId), INIT_DIR, 'exit'), 'utf8').catch(
      () => null,
    );
    return text ? { status: text.trim() } : null;
  }

  /** Stops and removes a container and everything this node holds of it. */
  async deleteContainer(containerId: string): Promise<void> {
    await this.runc.remove(containerId);
    await this.net.destroy(containerId);
    await rm(this.store.containerDir(containerId), { recursive: true, force: true });
    await rm(this.criuConfigPath(containerId), { force: true });
  }
}
