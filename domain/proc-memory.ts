/**
 * Which pages of a running process a CRIU dump would hold, read from /proc without stopping it (issue 29's live
 * pre-copy), and in CRIU's order: private mappings, writable or not (heap, stacks, anonymous memory, the written
 * pages of private file mappings, a library's relocated read-only data), in address order, and in them only the
 * pages that are present and anonymous (pagemap: present, not file-backed, not the shared zero page) or swapped.
 * Reading a page that is not present would make the kernel allocate it: only these pages are ever read. Pure.
 *
 * The same pages in the same order as CRIU's pages file (criu/mem.c, should_dump_page and generate_vma_iovs), so
 * that the target finds a live round's pages where the final dump puts them and keeps them in place: a copy that
 * left out read-only private mappings and kept zero pages was shifted by a few pages from its start, no position
 * matched, and the target copied the whole image again inside the freeze (1 GiB: 7.2 s of downtime, not 3.7 s).
 */

export interface Mapping {
  start: number;
  end: number;
  /** e.g. "rw-p". */
  perms: string;
  /** The mapped file, "[heap]", "[stack]", ... or "" for anonymous memory. */
  name: string;
}

/** A run of consecutive pages to read: [start, start + pages * 4096). */
export interface PageRun {
  start: number;
  pages: number;
}

const PAGE = 4096;
/** Kernel-provided mappings CRIU never dumps as memory. */
const SPECIAL = new Set(['[vvar]', '[vvar_vclock]', '[vdso]', '[vsyscall]', '[uprobes]']);

/** /proc/PID/maps, each line parsed; throws naming the line it cannot read. */
export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+([-rwxps]{4})\s+[0-9a-f]+\s+\S+\s+\d+\s*(.*)$/.exec(line);
    if (!m) throw new Error(`/proc/PID/maps: cannot read ${JSON.stringify(line)}`);
    out.push({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), perms: m[3]!, name: m[4]!.trim() });
  }
  return out;
}

/** A mapping a dump holds pages of, and how they are chosen. */
export interface DumpedMapping extends Mapping {
  /** Every page, present or not (CRIU dumps the vDSO whole: a restore may need to build a proxy of it). */
  whole: boolean;
  /**
   * Its first page, present or not: CRIU's parasite enters each process through the first executable mapping's
   * first page, writing code there and back, which copies that page for the process; every dump from the first
   * on holds it (a live copy of a process never dumped would otherwise be one page short from its start).
   */
  parasitePage: boolean;
}

/** Addresses from here on are the kernel's (vsyscall): CRIU's task size on x86-64. */
const TASK_SIZE = 2 ** 47;

/** The mappings whose pages a dump holds: private ones and the vDSO, not the kernel's own, in address order. */
export function dumpedMappings(maps: readonly Mapping[]): DumpedMapping[] {
  const entry = maps.find((m) => m.perms[2] === 'x' && m.end <= TASK_SIZE && m.end - m.start >= PAGE);
  return maps
    .filter((m) => m.end <= TASK_SIZE && (m.name === '[vdso]' || (m.perms[3] === 'p' && !SPECIAL.has(m.name))))
    .map((m) => ({ ...m, whole: m.name === '[vdso]', parasitePage: m === entry }));
}

// pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
const PRESENT = 1n << 63n;
const SWAPPED = 1n << 62n;
const FILE_PAGE = 1n << 61n;
/** Bits 0-54 of a present page's entry: its page frame number (0 unless read by root). */
const PFN_MASK = (1n << 55n) - 1n;

/**
 * Whether a pagemap entry is a page the dump holds: present and anonymous but not the shared zero page (a page only
 * read, never written: CRIU leaves it out), or swapped out. `zeroPfn`: the zero page's frame number, when known.
 */
export function dumpedPage(entry: bigint, zeroPfn: bigint | null = null): boolean {
  if ((entry & SWAPPED) !== 0n) return true;
  if ((entry & PRESENT) === 0n || (entry & FILE_PAGE) !== 0n) return false;
  return zeroPfn === null || (entry & PFN_MASK) !== zeroPfn;
}

/**
 * The runs of dumped pages from pagemap entries (8 bytes each, little-endian, one per page) from `start` on; with
 * `keepFirst`, the first page whatever its entry says (a parasite page at a mapping's start).
 */
export function dumpedRuns(
  start: number,
  pagemap: Buffer,
  zeroPfn: bigint | null = null,
  keepFirst = false,
): PageRun[] {
  const runs: PageRun[] = [];
  const count = Math.floor(pagemap.length / 8);
  let runStart = -1;
  for (let i = 0; i <= count; i++) {
    const keep = i < count && ((keepFirst && i === 0) || dumpedPage(pagemap.readBigUInt64LE(i * 8), zeroPfn));
    if (keep && runStart < 0) runStart = i;
    if (!keep && runStart >= 0) {
      runs.push({ start: start + runStart * PAGE, pages: i - runStart });
      runStart = -1;
    }
  }
  return runs;
}

/** KPF_ZERO_PAGE in /proc/kpageflags (include/uapi/linux/kernel-page-flags.h). */
const KPF_ZERO_PAGE = 1n << 24n;

/** The first frame in a block of /proc/kpageflags (8 bytes per frame) that is a zero page, or -1. */
export function zeroPageIn(kpageflags: Buffer): number {
  for (let i = 0; i + 8 <= kpageflags.length; i += 8)
    if ((kpageflags.readBigUInt64LE(i) & KPF_ZERO_PAGE) !== 0n) return i / 8;
  return -1;
}
