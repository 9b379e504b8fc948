/**
 * Everything one PC does to containers, as one object the node worker's activities call. Each verb lives in the
 * module of its concern; this file only builds them, hands each the parts it needs, and names the verbs:
 *   lifecycle.ts      create, inspect, stop, exec, logs, delete
 *   checkpoint.ts     dumps (strategies, parents, supersession)
 *   sending.ts        the source side of a transfer
 *   receiving.ts      the target side (prepare, receive, keep, store)
 *   restoring.ts      restores (from a transfer, from a held generation), lazy memory, image checks
 *   tracking.ts       kernel strategy: tracking restarted after a restore
 *   merging.ts        kernel strategy: chains merged
 *   remnants.ts       what is kept after a container left, and GC
 *   coordination.ts   the PC's coordination state and the rules between the verbs
 */
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { HELPERS_DIR } from '../common/config';
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
import { Checkpointer, CheckpointOptions } from './checkpoint';
import { ContainerConfigs } from './container-config';
import { ContainerNet } from './container-net';
import { PcCoordination } from './coordination';
import { TransferRegistry } from './dataplane/transfers';
import { ExecutorConfig, ExecutorError, SendOptions, tracksDirtyPages } from './executor-config';
import { ContainerExit, ContainerLifecycle } from './lifecycle';
import { MergeReport, mergeChain } from './merging';
import { ImageCache } from './images';
import { Receiver, ReceivePlan } from './receiving';
import { Remnants } from './remnants';
import { LocalRestore, RestoreOptions, Restorer } from './restoring';
import { Runc } from './runc';
import { Sender } from './sending';
import { RemnantStore } from './store';
import { InheritedRuncs } from './inherited-runc';

export { ExecutorError } from './executor-config';
export type { ExecutorConfig, KernelDump, SendOptions } from './executor-config';
export type { ContainerExit } from './lifecycle';

export class NodeExecutor {
  readonly store: RemnantStore;
  readonly runc: Runc;
  readonly transfers: TransferRegistry;
  /** Each container's network namespace on this PC. */
  readonly net: ContainerNet;
  readonly coordination: PcCoordination;
  private readonly configs: ContainerConfigs;
  private readonly lifecycle: ContainerLifecycle;
  private readonly checkpointer: Checkpointer;
  private readonly sender: Sender;
  private readonly receiver: Receiver;
  private readonly restorer: Restorer;
  private readonly remnants: Remnants;
  readonly images: ImageCache;

  constructor(readonly config: ExecutorConfig) {
    const helpers = config.helpersDir ?? HELPERS_DIR;
    this.net = new ContainerNet(
      config.nodeId,
      config.dataPlaneAddress.replace(/:\d+$/, ''),
      config.netnsPrefix,
      path.join(helpers, 'zanshin-hold'),
    );
    this.store = new RemnantStore(path.join(config.dataDir, 'store'));
    this.runc = new Runc(path.join(config.dataDir, 'runc'), config.criu, path.join(helpers, 'zanshin-nothp'));
    // Images live beside the store: their files serve moves here like a remnant's (never written: copies are).
    this.images = new ImageCache(path.join(config.dataDir, 'images'), {
      nodeId: config.nodeId,
      ...(config.insecureRegistries ? { insecureRegistries: config.insecureRegistries } : {}),
    });
    const images = this.images;
    this.transfers = new TransferRegistry(this.store, (into) => images.heldChunks(into));
    const { store, runc, net, transfers } = this;
    // Looked for at once: only runc processes this worker did not start are an earlier worker's.
    const inherited = new InheritedRuncs(runc.global.root);
    this.coordination = new PcCoordination({
      openTransfersSince: (since) => transfers.openSince(since),
      readManifest: async (id, n) => (await store.readGeneration(id, n)).manifest,
      inheritedRuncEnded: (id) => inherited.awaitEnd(id),
    });
    const coordination = this.coordination;
    const configs = (this.configs = new ContainerConfigs(config, { store, runc, net }));
    this.lifecycle = new ContainerLifecycle(config, { store, runc, net, configs, images });
    this.checkpointer = new Checkpointer(config, { store, runc, net, configs, coordination });
    this.sender = new Sender({ store, coordination });
    const receiver = (this.receiver = new Receiver(config, { store, runc, transfers, configs, coordination }));
    this.restorer = new Restorer(config, { store, runc, net, transfers, receiver, coordination });
    this.remnants = new Remnants(config, { store, runc, net, transfers, coordination, images });
  }

  /**
   * The data dir (store, runc state, CRIU configs) is root's alone: whatever containers leave there (a setuid-root
   * copy of a shell, a rootfs of any content) is out of reach of the users logged in at the PC.
   */
  async secureDataDir(): Promise<void> {
    // Its parents as ordinary directories (a recursive mkdir would make them 0700 too: the cluster's data dir).
    await mkdir(path.dirname(this.config.dataDir), { recursive: true });
    await mkdir(this.config.dataDir, { recursive: true, mode: 0o700 });
    await chmod(this.config.dataDir, 0o700);
  }

  /** Whether this PC takes kernel-strategy (tracked, differential) dumps. */
  get tracksDirtyPages(): boolean {
    return tracksDirtyPages(this.config);
  }

  /** The paths runc would hide or make read-only in a container that this PC's kernel does not have. */
  absentKernelPaths(): Promise<string[]> {
    return this.configs.absentKernelPaths();
  }

  // Lifecycle.
  state(containerId: string): Promise<ContainerState> {
    return this.lifecycle.state(containerId);
  }
  /** Containers runc knows on this node. */
  list(): Promise<ContainerState[]> {
    return this.runc.list();
  }
  createContainer(input: CreateContainerInput & { epoch?: number }): Promise<ContainerState> {
    return this.coordination.oneAtATime(input.containerId, () => this.lifecycle.create(input));
  }

  /**
   * Network namespaces of containers that no longer run here (a worker died between a dump and its cleanup): removed,
   * so that their address answers only where the container runs. Each under its container's lock: a creation or
   * restore has made its namespace before the container exists.
   */
  async removeOrphanedNamespaces(): Promise<string[]> {
    const removed: string[] = [];
    // Only containers this PC holds (simulated PCs share /run/netns: pc1's "x-c1" could be pc1-x's "c1").
    const known = new Set(await this.store.containers());
    for (const id of this.net.containersWithNamespaces().filter((c) => known.has(c)))
      await this.coordination.oneAtATime(id, async () => {
        const { status } = await this.runc.state(id);
        if (status !== 'absent' && status !== 'stopped') return;
        if (this.net.isHolding(id)) return; // taken over for a move under way: the restore comes next
        await this.net.destroy(id);
        removed.push(id);
      });
    return removed;
  }
  stopContainer(containerId: string): Promise<ContainerState> {
    return this.lifecycle.stop(containerId);
  }
  /** A fresh start of the program on its current rootfs (its restart policy), one at a time with restores. */
  restartContainer(containerId: string, epoch?: number): Promise<ContainerState> {
    return this.coordination.oneAtATime(containerId, () => this.lifecycle.restart(containerId, epoch));
  }
  exec(containerId: string, args: string[], timeoutMs: number): ReturnType<ContainerLifecycle['exec']> {
    return this.lifecycle.exec(containerId, args, timeoutMs);
  }
  readLog(
    containerId: string,
    stream: 'stdout' | 'stderr',
    tailBytes: number,
  ): ReturnType<ContainerLifecycle['readLog']> {
    return this.lifecycle.readLog(containerId, stream, tailBytes);
  }
  exitOf(containerId: string): Promise<ContainerExit | null> {
    return this.lifecycle.exitOf(containerId);
  }
  deleteContainer(containerId: string): Promise<void> {
    return this.lifecycle.delete(containerId);
  }

  // A move, source side.
  async checkpoint(
    containerId: string,
    leaveRunning: boolean,
    options: CheckpointOptions = {},
  ): Promise<CheckpointReport> {
    await this.makeRoom(containerId);
    return this.checkpointer.checkpoint(containerId, leaveRunning, options);
  }
  syncBundle(
    containerId: string,
    target: TransferTarget,
    final: boolean,
    options?: SendOptions,
  ): Promise<TransferReport> {
    return this.sender.syncBundle(containerId, target, final, options);
  }
  sendCheckpoint(
    containerId: string,
    generation: number,
    target: TransferTarget,
    targetHolds: number[] = [],
    options?: SendOptions,
  ): Promise<TransferReport> {
    return this.sender.sendCheckpoint(containerId, generation, target, targetHolds, options);
  }
  leaveRemnant(containerId: string): Promise<{ expiresAt: string }> {
    return this.remnants.leave(containerId);
  }

  // A move, target side.
  async prepareReceive(containerId: string): Promise<ReceivePlan> {
    await this.makeRoom(containerId);
    return this.receiver.prepare(containerId);
  }

  /** Keeps the store's reserve free before it is written (node/remnants.ts), saying which remnants went. */
  private async makeRoom(containerId: string): Promise<void> {
    const removed = await this.remnants.makeRoom(containerId);
    if (removed.length)
      console.log(
        `${this.config.nodeId}: store under its reserve; removed to make room for ${containerId}: ${removed.join(', ')}`,
      );
  }
  applyRunningBundle(transferId: string): ReturnType<Receiver['applyRunningBundle']> {
    return this.receiver.applyRunningBundle(transferId);
  }
  keepGeneration(transferId: string, meta: GenerationMeta): Promise<{ generation: number }> {
    return this.receiver.keepGeneration(transferId, meta);
  }
  restoreFromTransfer(
    transferId: string,
    spec: ContainerSpec,
    meta: GenerationMeta,
    epoch?: number,
  ): Promise<RestoreReport> {
    return this.restorer.restoreFromTransfer(transferId, spec, meta, epoch);
  }
  storeFromTransfer(
    transferId: string,
    spec: ContainerSpec,
    meta: GenerationMeta,
  ): Promise<{ containerId: string; generation: number; bundle: ApplyStats; writeImageMs: number }> {
    return this.receiver.store(transferId, spec, meta);
  }
  takeOverAddress(transferId: string, spec: ContainerSpec): Promise<{ heldFromMs: number }> {
    return this.restorer.takeOverAddress(transferId, spec);
  }
  /** Drops a transfer, and the address this PC took over for it unless the container runs here (a failed move). */
  async abortReceive(transferId: string): Promise<void> {
    const containerId = (await this.transfers.get(transferId).catch(() => null))?.record.containerId;
    await this.receiver.abort(transferId);
    if (containerId && this.net.isHolding(containerId))
      await this.coordination.oneAtATime(containerId, async () => {
        if ((await this.runc.state(containerId)).status === 'absent') await this.net.destroy(containerId);
      });
  }
  restoreLocal(containerId: string, generation: number, options: RestoreOptions = {}): Promise<LocalRestore> {
    return this.restorer.restoreLocal(containerId, generation, options);
  }

  // Held data.
  mergeChain(containerId: string, generation: number): Promise<MergeReport | null> {
    return mergeChain(this.config, this, containerId, generation);
  }
  collectGarbage(stagingMaxAgeMs?: number, now?: Date): ReturnType<Remnants['collectGarbage']> {
    return this.remnants.collectGarbage(stagingMaxAgeMs, now);
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
  async startStopped(containerId: string, epoch?: number): Promise<{ generation: number; state: ContainerState }> {
    const mark = await this.store.stoppedMark(containerId);
    if (!mark)
      throw new ExecutorError(
        `container ${containerId} was not stopped on ${this.config.nodeId} (no final checkpoint here)`,
      );
    // Held for as long as the container was stopped: checked again, whoever wrote it.
    const restored = await this.restoreLocal(containerId, mark.generation, {
      verify: 'always',
      ...(epoch === undefined ? {} : { epoch }),
    });
    await this.store.clearStopped(containerId);
    return { generation: mark.generation, state: restored.state };
  }
}
