// What every method of the benchmark reports, how its steps are timed, and what every baseline container is.
import { readFileSync } from 'node:fs';
import type { RedisBenchResult } from './redis-move';

export interface MethodResult {
  /** The container answers nothing: from the checkpoint's start to the restored container running. */
  downtimeMs: number;
  /** Pre-copy only: how long the rounds before the final checkpoint froze the container in all. */
  frozenInPreCopyMs?: number;
  /** The whole move, including work done while the container still ran. */
  totalMs: number;
  wireBytes: number;
  steps: Record<string, number>;
}

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number((process.hrtime.bigint() - t0) / 1_000_000n);
}

/** A container a baseline runs by hand, the same workload as Zanshin's. */
export interface BaselineWorkload {
  rootfs: string;
  env: string[];
  args: string[];
  /** Resident memory (bytes) the container reaches once its memory is filled. */
  readyRssBytes: number;
  workDir: string;
  /** CRIU to use. */
  criu: string;
  dwellMs: number;
  log: (line: string) => void;
}

/** Waits (at most a minute) until process `pid` holds `bytes` resident: the workload filled its memory. */
export async function waitUntilFilled(pid: number, bytes: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    if (rss >= bytes) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One size of a results file of `npm run bench:migration`. */
export interface SizeResult {
  sizeMiB: number;
  workload: string;
  dirtyPagesPerSecond: number;
  linkRate: string | null;
  methods: Record<string, MethodResult>;
  /** Why Podman's export/import could not be measured (the commands tried and their errors). */
  podmanUnavailable?: string;
  /** Peak resident memory of each node worker (MiB) during this size's two moves. */
  nodeWorkerPeakRssMiB?: Record<string, number>;
}

export interface EvacuationResult {
  containers: number;
  sizeMiB: number;
  /** From the lecture signal until no container is left on the PC. */
  pcFreeMs: number;
  outcomes: { containerId: string; outcome: string; to?: string; error?: string }[];
  /** Stop-and-copy of one container of this size in this run, times the number of containers (one after another). */
  stopAndCopyOneByOneMs: number | null;
  nodeWorkerPeakRssMiB: Record<string, number>;
}

/** A results file. */
export interface BenchResults {
  sizes: SizeResult[];
  nodeWorkerPeakRssMiB: Record<string, number>;
  evacuation: EvacuationResult | null;
  /** The real program (absent in results older than it). */
  redis?: RedisBenchResult | null;
}
