// What every part of a PC's work shares: its settings, its one error type, and the options of a send.
import { readdir, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { isPagesFile } from '../domain/manifest';
import { ErrorType } from '../common/errors';
import type { NodeCapabilities } from './capabilities';

export interface ExecutorConfig {
  nodeId: string;
  /** This node's data directory (store, runc state). */
  dataDir: string;
  /** host:port where this node's data plane listens (its LAN address). */
  dataPlaneAddress: string;
  /** The data plane's own certificate (PEM), handed to sources with each transfer; null: plain HTTP. */
  dataPlaneCertificate?: string | null;
  criu: string;
  capabilities: NodeCapabilities;
  /** How long a remnant is kept after its container left. */
  remnantRetentionMs: number;
  keepGenerations: number;
  /** Free space the store keeps for checkpoints and receives (remnants go to keep it). @default storeReserve() */
  storeReserveBytes?: number;
  /** Start of the names of containers' network namespaces. @default zc */
  netnsPrefix?: string;
  /** Restore with CRIU's lazy-pages daemon (memory copied in after the process resumes). @default true */
  lazyRestore?: boolean;
  /** Images with fewer bytes of memory pages are restored plainly. @default LAZY_RESTORE_MIN_BYTES */
  lazyRestoreMinBytes?: number;
  /** Where zanshin-init, zanshin-nothp and zanshin-hold are. @default HELPERS_DIR */
  helpersDir?: string;
  /** Kernel strategy: a restored generation whose chain is longer than this is merged. @default 3 */
  chainMergeThreshold?: number;
  /** Directories new containers' rootfs sources must lie in (symlinks resolved). Absent: anywhere. */
  rootfsRoots?: string[];
  /** Registries (host[:port]) whose images are pulled without checking their TLS certificate. */
  insecureRegistries?: string[];
}

/** The default reserve: 10 % of the store's disk, at least 256 MiB and at most 2 GiB. */
export function defaultStoreReserve(diskBytes: number): number {
  return Math.min(2 * 2 ** 30, Math.max(256 * 2 ** 20, Math.round(diskBytes / 10)));
}

/** A PC refused an operation's precondition (container absent, already running, image damaged, ...). */
export class ExecutorError extends Error {
  override name = ErrorType.Executor;
}

/**
 * The error to tell for a failed write into the store: when the store's disk is (nearly) full, that, and what to do
 * (Node's recursive mkdir says ENOENT on a full disk: found by the soak); else the error itself.
 */
export async function storeWriteError(err: unknown, storeRoot: string, nodeId: string, what: string): Promise<unknown> {
  const disk = await statfs(storeRoot).catch(() => null);
  if (!disk || disk.bavail * disk.bsize >= 64 * 2 ** 20) return err;
  return new ExecutorError(
    `${nodeId}'s store is full (${Math.round((disk.bavail * disk.bsize) / 2 ** 20)} MiB free of ` +
      `${Math.round((disk.blocks * disk.bsize) / 2 ** 30)} GiB): it cannot ${what}. ` +
      'Free space there (remnant GC, zanshin doctor shows the disk) or choose another PC.',
  );
}

/** Kernel strategy: how a dump of a move is taken (see Checkpointer.checkpoint). */
export interface KernelDump {
  /** A pre-dump (memory only; the container keeps running) instead of a restorable checkpoint. */
  preDump: boolean;
  /** Generations the target holds: the dump is differential to the tracking base only if it is one of them. */
  parentCandidates: number[];
}

export interface SendOptions {
  onProgress?: (p: string) => void;
  /** Aborts the transfer (the step was cancelled: a retry of it may already be running). */
  signal?: AbortSignal;
}

/** Whether a PC takes kernel-strategy (tracked, differential) dumps. */
export const tracksDirtyPages = (config: ExecutorConfig): boolean => config.capabilities.strategy === 'kernel';

/** Milliseconds since a process.hrtime.bigint() reading. */
export const msSince = (t0: bigint): number => Number((process.hrtime.bigint() - t0) / 1_000_000n);

/** Bytes of memory pages in a checkpoint image (its pages-*.img files). */
export async function pagesBytes(imageDir: string): Promise<number> {
  let n = 0;
  for (const name of await readdir(imageDir)) if (isPagesFile(name)) n += (await stat(path.join(imageDir, name))).size;
  return n;
}
