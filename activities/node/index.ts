import { cancellationSignal, heartbeat } from '@temporalio/activity';
import { readNodeDescription } from '../../node/node-description';
import type { NodeDescription } from '../../domain/node-description';
import type {
  CheckpointReport,
  ContainerSpec,
  ContainerState,
  CreateContainerInput,
  GenerationMeta,
  RestoreReport,
  TransferReport,
  TransferTarget,
} from '../../domain/reports';
import type { KernelDump, NodeExecutor } from '../../node/executor';
import { checkNodeInput, InvalidInput, isKnownDataPlane } from '../../domain/node-input';
import type { NodeCapabilities } from '../../node/capabilities';
import type { ProtectionLease } from '../../domain/protection';
import type { ProtectionLoop } from '../../node/protection';
import type { ProtectionHolder } from '../../node/protection-holder';

export interface NodeActivityDeps {
  /** The id of the PC these activities run on. */
  nodeId: string;
  /** Container work on this PC (absent on a worker that only answers probes). */
  executor?: NodeExecutor;
  /**
   * The data planes of the registered PCs (from migration-api): a source sends only to one of them. Absent: no
   * registry (a worker without migration-api), and every well-formed address is taken.
   */
  dataPlanes?: (refresh?: boolean) => Promise<string[]>;
  /** Continuous protection of this PC's containers (absent: off). */
  protection?: ProtectionLoop;
  /** Keeps other PCs' protected containers' checkpoints. */
  holder?: ProtectionHolder;
}

/** Activities that run on one PC's own task queue (node-<id>). Thin: the executor does the work. */
export function createNodeActivities(deps: NodeActivityDeps) {
  const executor = (): NodeExecutor => {
    if (!deps.executor) throw new Error(`node ${deps.nodeId} runs without a container executor`);
    return deps.executor;
  };
  const progress = (p: string): void => heartbeat(p);
  /** Work on a container that is not protection's own (a move, a stop): protection of it waits. */
  const yieldProtection = (containerId: string): void => deps.protection?.yieldTo(containerId);
  /** Refuses to send to anything but a registered PC's data plane (a caller could name any address). */
  const knownTarget = async (address: string): Promise<void> => {
    if (!deps.dataPlanes) return;
    let known = await deps.dataPlanes();
    if (!isKnownDataPlane(address, known)) known = await deps.dataPlanes(true); // registered since the last look?
    if (!isKnownDataPlane(address, known))
      throw new InvalidInput(
        `${address} is not the data plane of a registered PC (registered: ${known.join(', ') || 'none'})`,
      );
  };
  /** Heartbeats every few seconds while long work runs, so only a dead worker misses its heartbeat timeout. */
  const beating = async <T>(work: () => Promise<T>): Promise<T> => {
    const timer = setInterval(() => heartbeat(), 3_000);
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  };
  return {
    /** Reports this PC's identity, addresses and current load. */
    async describeNode(): Promise<NodeDescription> {
      return readNodeDescription(deps.nodeId);
    },
    async capabilities(): Promise<NodeCapabilities> {
      return Promise.resolve(executor().config.capabilities);
    },
    /** `epoch`: the copy's epoch (migration-api's containers), which its dumps' generation numbers carry. */
    async createContainer(input: CreateContainerInput & { epoch?: number }): Promise<ContainerState> {
      checkNodeInput('createContainer', input);
      return beating(() => executor().createContainer(input));
    },
    async containerState(input: { containerId: string }): Promise<ContainerState> {
      checkNodeInput('containerState', input);
      return executor().state(input.containerId);
    },
    async listContainers(): Promise<ContainerState[]> {
      return executor().list();
    },
    async stopContainer(input: { containerId: string }): Promise<ContainerState> {
      checkNodeInput('stopContainer', input);
      yieldProtection(input.containerId);
      return executor().stopContainer(input.containerId);
    },
    async prepareReceive(input: { containerId: string }) {
      checkNodeInput('prepareReceive', input);
      return executor().prepareReceive(input.containerId);
    },
    async syncBundle(input: { containerId: string; target: TransferTarget; final: boolean }): Promise<TransferReport> {
      checkNodeInput('syncBundle', input);
      yieldProtection(input.containerId);
      await knownTarget(input.target.address);
      return beating(() =>
        executor().syncBundle(input.containerId, input.target, input.final, {
          onProgress: progress,
          signal: cancellationSignal(),
        }),
      );
    },
    async checkpointContainer(input: {
      containerId: string;
      leaveRunning: boolean;
      /** Generations here that this dump replaces (a move's earlier pre-copy rounds, what its target holds). */
      supersedes?: number[];
      /** Kernel strategy: a tracked pre-dump or final dump, differential where the target holds the parent. */
      kernel?: KernelDump;
      /** The target's absentKernelPaths (prepareReceive): mounts over them stay out of the dump. */
      targetLacks?: string[];
      /** With leaveRunning: a live copy of the memory (nothing frozen, pages only) instead of a dump. */
      live?: boolean;
    }): Promise<CheckpointReport> {
      checkNodeInput('checkpointContainer', input);
      yieldProtection(input.containerId);
      return beating(() =>
        executor().checkpoint(input.containerId, input.leaveRunning, {
          supersedes: input.supersedes ?? [],
          ...(input.kernel ? { kernel: input.kernel } : {}),
          ...(input.targetLacks ? { targetLacks: input.targetLacks } : {}),
          ...(input.live ? { live: true } : {}),
        }),
      );
    },
    /** Target, kernel strategy: keeps a pre-copy round just received as a generation (later dumps build on it). */
    async keepGeneration(input: { transferId: string; meta: GenerationMeta }): Promise<{ generation: number }> {
      checkNodeInput('keepGeneration', input);
      return beating(() => executor().keepGeneration(input.transferId, input.meta));
    },
    /** Kernel strategy: merges a generation's chain of differential checkpoints when it is past the threshold. */
    async mergeChain(input: { containerId: string; generation: number }) {
      checkNodeInput('mergeChain', input);
      return beating(() => executor().mergeChain(input.containerId, input.generation));
    },
    async sendCheckpoint(input: {
      containerId: string;
      generation: number;
      target: TransferTarget;
      /** Generations the target holds (or was sent in this transfer): the manifest travels as a delta to one. */
      targetHolds?: number[];
    }): Promise<TransferReport> {
      checkNodeInput('sendCheckpoint', input);
      yieldProtection(input.containerId);
      await knownTarget(input.target.address);
      return beating(() =>
        executor().sendCheckpoint(input.containerId, input.generation, input.target, input.targetHolds ?? [], {
          onProgress: progress,
          signal: cancellationSignal(),
        }),
      );
    },
    async restoreFromTransfer(input: {
      transferId: string;
      spec: ContainerSpec;
      meta: GenerationMeta;
      /** The new copy's epoch (every restore runs one). */
      epoch?: number;
    }): Promise<RestoreReport> {
      checkNodeInput('restoreFromTransfer', input);
      return beating(() => executor().restoreFromTransfer(input.transferId, input.spec, input.meta, input.epoch));
    },
    /** A move's target takes the address over while the image is on its way: peers' packets are kept, not lost. */
    async applyRunningBundle(input: { transferId: string }) {
      checkNodeInput('applyRunningBundle', input);
      return beating(() => executor().applyRunningBundle(input.transferId));
    },
    async takeOverAddress(input: { transferId: string; spec: ContainerSpec }): Promise<{ heldFromMs: number }> {
      checkNodeInput('takeOverAddress', input);
      return executor().takeOverAddress(input.transferId, input.spec);
    },
    async storeFromTransfer(input: { transferId: string; spec: ContainerSpec; meta: GenerationMeta }) {
      checkNodeInput('storeFromTransfer', input);
      return beating(() => executor().storeFromTransfer(input.transferId, input.spec, input.meta));
    },
    async restoreLocal(input: { containerId: string; generation: number; epoch?: number }) {
      checkNodeInput('restoreLocal', input);
      const { containerId, generation, epoch } = input;
      return beating(() => executor().restoreLocal(containerId, generation, epoch === undefined ? {} : { epoch }));
    },
    async leaveRemnant(input: { containerId: string }): Promise<{ expiresAt: string }> {
      checkNodeInput('leaveRemnant', input);
      yieldProtection(input.containerId);
      return executor().leaveRemnant(input.containerId);
    },
    async abortReceive(input: { transferId: string }): Promise<void> {
      checkNodeInput('abortReceive', input);
      return executor().abortReceive(input.transferId);
    },
    async collectGarbage() {
      return beating(() => executor().collectGarbage());
    },
    async deleteContainer(input: { containerId: string }): Promise<void> {
      checkNodeInput('deleteContainer', input);
      yieldProtection(input.containerId);
      return beating(() => executor().deleteContainer(input.containerId));
    },
    /** Its restart policy: the program starts afresh on the container's current rootfs, as a new copy. */
    async restartContainer(input: { containerId: string; epoch?: number }): Promise<ContainerState> {
      checkNodeInput('restartContainer', input);
      return beating(() => executor().restartContainer(input.containerId, input.epoch));
    },
    async stopWithCheckpoint(input: { containerId: string }): Promise<{ generation: number; stoppedAt: string }> {
      checkNodeInput('stopWithCheckpoint', input);
      yieldProtection(input.containerId);
      return beating(() => executor().stopWithCheckpoint(input.containerId));
    },
    async startStopped(input: {
      containerId: string;
      epoch?: number;
    }): Promise<{ generation: number; state: ContainerState }> {
      checkNodeInput('startStopped', input);
      return beating(() => executor().startStopped(input.containerId, input.epoch));
    },
    async execInContainer(input: { containerId: string; args: string[]; timeoutSeconds: number }) {
      checkNodeInput('execInContainer', input);
      return beating(() => executor().exec(input.containerId, input.args, input.timeoutSeconds * 1000));
    },
    /** Holder: lets `source` keep the container's checkpoints here (continuous protection); gives the lease. */
    openProtection(input: { containerId: string; source: string }): Promise<ProtectionLease> {
      checkNodeInput('openProtection', input);
      if (!deps.holder) throw new Error(`${deps.nodeId} keeps no protected checkpoints (its data plane is off)`);
      const { leaseId, token } = deps.holder.open(input.containerId, input.source);
      const plane = executor().config;
      return Promise.resolve({
        containerId: input.containerId,
        holder: deps.nodeId,
        leaseId,
        token,
        address: plane.dataPlaneAddress,
        ...(plane.dataPlaneCertificate ? { certificate: plane.dataPlaneCertificate } : {}),
      });
    },
    /** Source: the lease a holder gave for one of this PC's containers; its checkpoints go there from now on. */
    async acceptProtection(input: { lease: ProtectionLease }): Promise<void> {
      checkNodeInput('acceptProtection', input);
      await knownTarget(input.lease.address);
      deps.protection?.acceptLease(input.lease);
    },
    async readLog(input: { containerId: string; stream: 'stdout' | 'stderr'; tailBytes: number }) {
      checkNodeInput('readLog', input);
      return executor().readLog(input.containerId, input.stream, input.tailBytes);
    },
  };
}

export type NodeActivities = ReturnType<typeof createNodeActivities>;
