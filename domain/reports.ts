/**
 * The shared vocabulary of a migration: what a PC is asked to do and what it reports back, and what the control
 * plane records. Node code produces these, workflows pass them along, the API and the CLI show them. Pure types.
 */
import type { ManifestStats } from './manifest';
import type { ContainerNetwork } from './container-network';
import type { Freeze } from './freezes';
import type { PlacementDecision } from './placement';

/** What a container is, independent of where it runs. */
export interface ContainerSpec {
  containerId: string;
  args: string[];
  env: string[];
  /** Memory the container needs, for placement. */
  memoryMiB: number;
  /**
   * Disk its rootfs may take (holes of sparse files not counted), checked whenever it is synced to another PC.
   * Specs written before quotas existed lack it: DEFAULT_DISK_MIB.
   */
  diskMiB?: number;
  /** CPUs it may use (a CFS quota; 0.5 = half a core). Absent in older specs: DEFAULT_LIMITS.cpus. */
  cpus?: number;
  /** Processes and threads it may have at once (a fork bomb stops there). Absent in older specs: DEFAULT_LIMITS.pids. */
  pids?: number;
  /** Its own LAN address, kept across moves (absent: loopback only). */
  network?: ContainerNetwork;
  /** The user its program runs as (numbers of its own rootfs); absent: root, with runc's few capabilities. */
  user?: ContainerUser;
  /** The program's working directory (absent: /). */
  cwd?: string;
  /** The OCI image it was created from: the reference as given and the manifest digest pulled. */
  image?: { ref: string; digest: string };
  /** Ports its image exposes ("6379/tcp"), recorded for its users (nothing is published or forwarded). */
  ports?: string[];
}

/** A numeric user and group of a container's rootfs. */
export interface ContainerUser {
  uid: number;
  gid: number;
}

/** A container's disk quota when its registration names none. */
export const DEFAULT_DISK_MIB = 2048;
/** CPU and process limits when a registration names none (memory is always named: memoryMiB). */
export const DEFAULT_LIMITS = { cpus: 1, pids: 512 } as const;

/** Where a checkpoint generation came from. */
export interface GenerationMeta {
  generation: number;
  createdAt: string;
  strategy: 'content' | 'kernel';
  /** Where the checkpoint was taken. */
  sourceNode: string;
  /**
   * Kernel strategy: the generation this one is a differential checkpoint of (its unchanged pages are there, or
   * further up that one's chain). Absent: the image is self-contained.
   */
  parent?: number;
  /** A pre-dump (memory only): a parent for later dumps, never restored from. */
  preDump?: boolean;
  /**
   * This PC's copy differs from the one the source made (merged into a self-contained image, or its dump time moved
   * when tracking restarted): its manifest is not the sender's, so it never serves as a delta base.
   */
  rewritten?: 'merged' | 'tracking';
}

export interface ContainerState {
  containerId: string;
  status: 'running' | 'paused' | 'stopped' | 'created' | 'absent';
  pid: number;
  /** Running containers: anonymous memory of their cgroup (what a checkpoint dumps), null when unreadable. */
  memoryBytes?: number | null;
}

export interface RootfsSource {
  /** A directory on the PC to copy the rootfs from. */
  dir?: string;
  /** A tar archive (optionally compressed) on the PC to unpack the rootfs from. */
  tarball?: string;
  /**
   * An OCI image in skopeo's transport syntax (oci:/DIR:TAG, oci-archive:/FILE, docker-archive:/FILE,
   * docker://HOST/NAME:TAG): its config gives the program (args then replace its command), environment, working
   * directory and user.
   */
  image?: string;
}

export interface CreateContainerInput extends ContainerSpec {
  rootfs: RootfsSource;
}

/** Where a source sends data: the target's data plane and the transfer it opened. */
export interface TransferTarget {
  /** host:port of the target's data plane. */
  address: string;
  transferId: string;
  token: string;
  /**
   * The target data plane's own certificate (PEM): the source speaks TLS to it and trusts that certificate alone.
   * Absent: a target with TLS off (ZANSHIN_DATAPLANE_TLS=off), spoken to in plain HTTP.
   */
  certificate?: string;
}

export interface WireCounters {
  /** Request and response bodies that crossed the network (compressed chunks, manifests, missing lists). */
  wireBytes: number;
  manifestBytes: number;
  /** Chunk bytes before compression. */
  chunkBytes: number;
  chunks: number;
  /** Chunks left out because their file changed since it was described (live syncs only). */
  skipped: number;
}

export interface TransferReport extends WireCounters {
  kind: 'bundle' | 'checkpoint';
  manifest: ManifestStats;
  missingChunks: number;
  ms: number;
  /** Of ms: the manifest's round trip (the target plans from what it holds) and the chunks' streaming. */
  offerMs?: number;
  streamMs?: number;
}

export interface CheckpointReport {
  containerId: string;
  generation: number;
  strategy: string;
  /** Memory pages the dump wrote (a differential one: only those dirtied since its parent). */
  pages: number;
  /** Why a kernel-strategy dump was taken with the content strategy instead (its tracked dump failed). */
  fallback?: string;
  /** Mounts left out of the dump because the target's kernel lacks their file (domain/oci-spec.ts). */
  skippedMounts?: string[];
  dumpMs: number;
  /** Where the checkpoint step's time went on the source, by part (ms); absent from workers before it was kept. */
  partsMs?: Record<string, number>;
  /** A final dump: when the source began holding the container's traffic (ms since the epoch, its clock). */
  frozeAt?: number;
  /** How long the program was stopped by the dump, as CRIU measured it (freezing + frozen; absent: no figures). */
  frozenMs?: number;
  hashMs: number;
  image: ManifestStats;
  /**
   * A differential dump: the bytes of the whole image it stands for (its own files plus the pages it leaves to its
   * parents), what a full dump would have held; a move's "full image" is measured against this.
   */
  fullImageBytes?: number;
  spec: ContainerSpec;
  meta: GenerationMeta;
}

/** What bringing a rootfs up to a manifest did. */
export interface ApplyStats {
  written: number;
  unchanged: number;
  removed: number;
  /** Partial applies only: files left as they were because their new content did not arrive. */
  kept: number;
}

export interface RestoreReport {
  containerId: string;
  generation: number;
  bundle: ApplyStats;
  applyBundleMs: number;
  writeImageMs: number;
  restoreMs: number;
  /** Packets peers sent during the move, kept on this PC and passed after the restore (null: dropped instead). */
  heldPackets?: number | null;
  state: ContainerState;
  /** Where the restore step's time went on the target, by part (ms); absent from workers before it was kept. */
  partsMs?: Record<string, number>;
  /** When the target let the restored container's traffic in (ms since the epoch, its clock). */
  runningAt?: number;
}

/** One step of a migration as the workflow saw it. */
export interface StepReport {
  step: string;
  node: string;
  startedAt: number;
  ms: number;
}

/** One move of a container from one PC to another, as reported to users and stored with the migration. */
export interface MoveReport {
  containerId: string;
  from: string;
  to: string;
  generation: number;
  strategy: string;
  /**
   * From the source holding the container's traffic for the final dump to the target letting it in again, by the
   * PCs' clocks (domain/freezes.ts moveDowntime); the workflow's view where they gave none.
   */
  downtimeMs: number;
  /** From scheduling the final checkpoint to the restore step's completion, as the workflow saw it. */
  workflowDowntimeMs?: number;
  /**
   * Pre-copy rounds before the final checkpoint (none when the target held a remnant): each froze the container
   * for its dump (frozenMs) while it kept running on the source, and sent what the target lacked.
   */
  preCopy?: PreCopyRound[];
  /**
   * Every stop of the program in this move, as a client lives them (domain/freezes.ts): the pre-copy rounds' dumps
   * and the move's own downtime; with their sum and the longest. Absent in reports older than them.
   */
  freezes?: Freeze[];
  frozenTotalMs?: number;
  longestFreezeMs?: number;
  /** Bytes that crossed the data plane (bundle syncs, checkpoint, manifests). */
  wireBytes: number;
  /** Size of the full image plus the rootfs: what a move without remnants would send. */
  fullBytes: number;
  /** Whether the target already held remnants of this container. */
  targetHadRemnant: boolean;
  /** Set when the source could not be marked as holding a remnant (the move itself succeeded). */
  remnantError?: string;
  /** The target merged the restored generation's chain of differential checkpoints (after the restore). */
  merged?: { generation: number; chainLength: number; pages: number; ms: number } | { error: string };
  steps: StepReport[];
  transfers: TransferReport[];
  checkpoint: CheckpointReport;
  restore: RestoreReport;
}

export interface PreCopyRound {
  generation: number;
  /** Memory pages the round's dump wrote. */
  pages: number;
  /** How long the round stopped the program (CRIU's own figure; the dump's wall time where it gave none). */
  frozenMs: number;
  wireBytes: number;
  transferMs: number;
}

/** One target tried by a migration, and how it went. */
export interface MigrationAttempt {
  to: string;
  outcome: 'completed' | 'target failed' | 'failed';
  error?: string;
}

/** A migration's result: the move that succeeded, every target tried, and the policy's decision. */
export interface MigrationResult extends MoveReport {
  migrationId: string;
  /** From the request (the workflow's start) to the container running on the target. */
  totalMs?: number;
  attempts: MigrationAttempt[];
  /** The placement decision that chose the target (null when the caller named it). */
  decision: PlacementDecision | null;
}

/** What a crash recovery records in place of a move's report: from which generation, and the work lost. */
export interface RecoveryReport {
  recovery: true;
  generation: number | null;
  checkpointAgeMs: number | null;
  /** Always true: a container brought back from an older checkpoint cannot keep its established connections. */
  connectionsLost: true;
}

/** The move report of a migration record, or null for a crash recovery (or a migration without one yet). */
export function moveReportOf(report: MoveReport | RecoveryReport | null | undefined): MoveReport | null {
  return report && !('recovery' in report) ? report : null;
}
