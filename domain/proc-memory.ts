/**
 * Which pages of a running process a CRIU dump would hold, read from /proc without stopping it (issue 29's live
 * pre-copy): private writable mappings (heap, stacks, anonymous memory, written pages of private file mappings),
 * and in them only the pages that are present and anonymous (pagemap: present, not file-backed) or swapped.
 * Reading a page that is not present would make the kernel allocate it: only these pages are ever read. Pure.
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

/** The mappings whose pages a dump holds: private and writable, not the kernel's own. */
export function dumpedMappings(maps: readonly Mapping[]): Mapping[] {
  return maps.filter((m) => m.perms[1] === 'w' && m.perms[3] === 'p' && !SPECIAL.has(m.name));
}

// pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
const PRESENT = 1n << 63n;
const SWAPPED = 1n << 62n;
const FILE_PAGE = 1n << 61n;

/** Whether a pagemap entry is a page the dump holds: present and anonymous, or swapped out. */
export function dumpedPage(entry: bigint): boolean {
  return ((entry & PRESENT) !== 0n && (entry & FILE_PAGE) === 0n) || (entry & SWAPPED) !== 0n;
}

/** The runs of dumped pages of a mapping from its pagemap entries (8 bytes each, little-endian, one per page). */
export function dumpedRuns(start: number, pagemap: Buffer): PageRun[] {
  const runs: PageRun[] = [];
  const count = Math.floor(pagemap.length / 8);
  let runStart = -1;
  for (let i = 0; i <= count; i++) {
    const keep = i < count && dumpedPage(pagemap.readBigUInt64LE(i * 8));
    if (keep && runStart < 0) runStart = i;
    if (!keep && runStart >= 0) {
      runs.push({ start: start + runStart * PAGE, pages: i - runStart });
      runStart = -1;
    }
  }
  return runs;
}
