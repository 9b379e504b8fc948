// Live pre-copy (issue 29): the memory a dump would hold, read from the running container's processes through /proc
// while they run, never frozen. A content-strategy pre-copy round was a full `runc checkpoint --leave-running`,
// which froze the program for seconds at 1 GiB; this one freezes nothing. Pages are content-addressed, so a page
// torn by a write during the read is simply a page the target lacks, sent again by the final dump.
// The copy is a generation like a pre-dump (pages only, never restored): the move sends it as it sent the rounds
// before, and the final dump then sends only the pages the target holds nowhere.
import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { PAGE_SIZE } from '../domain/manifest';
import { memoryCgroup } from '../domain/pre-copy';
import { dumpedMappings, dumpedRuns, parseMaps, zeroPageIn } from '../domain/proc-memory';

/** Bytes read from /proc/PID/mem at once (and pagemap entries: 8 bytes per page). */
const BLOCK = 1 << 20;

export interface LiveCopy {
  /** Pages copied, in all processes. */
  pages: number;
  processes: number;
}

/** How much of /proc/kpageflags is searched for the zero page (it lies in the kernel's image, near the start). */
const ZERO_PAGE_SEARCH_BYTES = 64 << 20;
let zeroPfn: Promise<bigint | null> | null = null;

/**
 * The shared zero page's frame number (what a page only read maps to), looked up once: CRIU leaves such pages out
 * of its dump, and so must a live copy that lays its pages out as CRIU does. Null where /proc/kpageflags cannot be
 * read (not root): such pages are then copied too, which only shifts the layout.
 */
export function zeroPagePfn(): Promise<bigint | null> {
  zeroPfn ??= (async () => {
    const flags = await open('/proc/kpageflags', 'r');
    try {
      const block = Buffer.allocUnsafe(BLOCK);
      for (let at = 0; at < ZERO_PAGE_SEARCH_BYTES; at += BLOCK) {
        const { bytesRead } = await flags.read(block, 0, BLOCK, at);
        const i = zeroPageIn(block.subarray(0, bytesRead));
        if (i >= 0) return BigInt(at / 8 + i);
        if (bytesRead < BLOCK) break;
      }
      return null;
    } finally {
      await flags.close();
    }
  })().catch(() => null);
  return zeroPfn;
}

/** The processes of the container whose first process is `pid` (its memory cgroup's), or just that one. */
export async function containerPids(pid: number, cgroupRoot = '/sys/fs/cgroup'): Promise<number[]> {
  try {
    const cg = memoryCgroup(await readFile(`/proc/${pid}/cgroup`, 'utf8'));
    if (cg) {
      const dir = cg.version === 1 ? path.join(cgroupRoot, 'memory', cg.path) : path.join(cgroupRoot, cg.path);
      const pids = (await readFile(path.join(dir, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean).map(Number);
      if (pids.length) return pids;
    }
  } catch {
    // no memory cgroup to read: the first process alone
  }
  return [pid];
}

/**
 * Copies every page a dump would hold of the container's processes into `imageDir/pages-<pid>.img` (one file per
 * process, the pages in the order of CRIU's pages file: domain/proc-memory.ts), reading them while they run.
 */
export async function copyLiveMemory(
  pid: number,
  imageDir: string,
  pids?: number[], // the processes to read (default: the container's, from its memory cgroup)
): Promise<LiveCopy> {
  let pages = 0;
  let processes = 0;
  for (const p of pids ?? (await containerPids(pid))) {
    const copied = await copyProcess(p, path.join(imageDir, `pages-${p}.img`)).catch(() => null);
    if (copied === null) continue; // gone meanwhile: whatever it held is not the container's any more
    pages += copied;
    processes++;
  }
  if (!processes) throw new Error(`could not read the memory of any process of the container (first pid ${pid})`);
  return { pages, processes };
}

async function copyProcess(pid: number, out: string): Promise<number> {
  const maps = dumpedMappings(parseMaps(await readFile(`/proc/${pid}/maps`, 'utf8')));
  const zero = await zeroPagePfn();
  const [pagemap, mem, file] = await Promise.all([
    open(`/proc/${pid}/pagemap`, 'r'),
    open(`/proc/${pid}/mem`, 'r'),
    open(out, 'w'),
  ]);
  const buf = Buffer.allocUnsafe(BLOCK);
  let written = 0;
  try {
    for (const m of maps) {
      if (m.end > Number.MAX_SAFE_INTEGER) continue;
      for (let at = m.start; at < m.end; at += (BLOCK / 8) * PAGE_SIZE) {
        const pagesHere = Math.min(BLOCK / 8, (m.end - at) / PAGE_SIZE);
        const entries = Buffer.allocUnsafe(pagesHere * 8);
        const { bytesRead } = await pagemap.read(entries, 0, entries.length, (at / PAGE_SIZE) * 8);
        const runs = m.whole
          ? [{ start: at, pages: pagesHere }]
          : dumpedRuns(at, entries.subarray(0, bytesRead), zero, m.parasitePage && at === m.start);
        for (const run of runs) {
          for (let done = 0; done < run.pages * PAGE_SIZE;) {
            const want = Math.min(BLOCK, run.pages * PAGE_SIZE - done);
            const r = await mem.read(buf, 0, want, run.start + done).catch(() => ({ bytesRead: 0 }));
            if (r.bytesRead < PAGE_SIZE) break; // unmapped meanwhile: the final dump has what is there now
            const whole = r.bytesRead - (r.bytesRead % PAGE_SIZE);
            await file.write(buf, 0, whole);
            written += whole / PAGE_SIZE;
            done += whole;
          }
        }
      }
    }
  } catch (err) {
    await file.close().catch(() => undefined);
    await rm(out, { force: true });
    throw err;
  } finally {
    await Promise.all([pagemap.close(), mem.close()]);
  }
  await file.close();
  return written;
}
