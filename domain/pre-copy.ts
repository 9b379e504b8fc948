/**
 * When pre-copy pays. Without kernel dirty tracking every pre-copy round is a full dump, which freezes the
 * container about as long as the final one; what it saves is sending the image during the downtime. A small image
 * crosses a 1 Gbit/s link in about a second, less than the extra freeze costs (64 MiB measured: first move 4.6 s
 * with pre-copy, 2.0 s for stop-and-copy by hand), so only containers holding more than this are pre-copied.
 */
export const PRE_COPY_MIN_BYTES = 128 * 1024 * 1024;

/** Rounds at most, and a round that sent less than this ends pre-copy (the rest goes at the freeze). */
export const PRE_COPY_MAX_ROUNDS = 2;
export const PRE_COPY_ENOUGH_BYTES = 64 << 20;

/** Whether to pre-copy a container using `memoryBytes` (unknown: yes, as a large container must). */
export function preCopyPays(memoryBytes: number | null | undefined): boolean {
  return memoryBytes === null || memoryBytes === undefined || memoryBytes >= PRE_COPY_MIN_BYTES;
}

/**
 * Anonymous memory of a cgroup from its memory.stat: `total_rss` (cgroup v1, this cgroup and below) or `anon`
 * (cgroup v2). Page cache is left out: CRIU does not dump it.
 */
export function anonymousBytes(memoryStat: string): number | null {
  const m = /^(?:total_rss|anon) (\d+)$/m.exec(memoryStat);
  return m ? Number(m[1]) : null;
}

/** The memory cgroup of a process from /proc/<pid>/cgroup: its v1 memory line, else the v2 one. */
export function memoryCgroup(procCgroup: string): { version: 1 | 2; path: string } | null {
  const v1 = /^\d+:(?:[^:\n]*,)?memory(?:,[^:\n]*)?:(.*)$/m.exec(procCgroup);
  if (v1) return { version: 1, path: v1[1]! };
  const v2 = /^0::(.*)$/m.exec(procCgroup);
  return v2 ? { version: 2, path: v2[1]! } : null;
}

/**
 * Kernel strategy: a pre-copy round costs a pre-dump of only the pages dirtied since the last one, so rounds go on
 * while they converge. Rounds stop when the last one wrote few pages (the final dump will be as small), when it did
 * not shrink (the container dirties pages as fast as they are sent), or after the maximum.
 */
export const KERNEL_PRE_COPY_MAX_ROUNDS = 4;
export const KERNEL_PRE_COPY_FEW_PAGES = 256;

/** Whether kernel pre-copy stops after rounds that wrote these many pages each (in order). */
export function kernelPreCopyDone(pagesPerRound: number[]): boolean {
  const last = pagesPerRound[pagesPerRound.length - 1];
  const before = pagesPerRound[pagesPerRound.length - 2];
  if (last === undefined) return false;
  return (
    last <= KERNEL_PRE_COPY_FEW_PAGES ||
    (before !== undefined && last >= before) ||
    pagesPerRound.length >= KERNEL_PRE_COPY_MAX_ROUNDS
  );
}
