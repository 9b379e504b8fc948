/**
 * CRIU's pagemap images and the merge of a chain of differential checkpoints into a self-contained one. Pure.
 *
 * A pagemap-*.img is two 32-bit magics, then length-prefixed protobuf messages: a head naming the pages file
 * (pages-<pages_id>.img), then one entry per run of pages: its address, its page count and flags. A PRESENT run's
 * pages follow one another in the pages file, in entry order; a PARENT run's pages are in the parent image (the
 * `parent` link of a dump made with --parent-path), at the same addresses, possibly further up the chain.
 */
import { ErrorType } from '../common/errors';
import { fields, readVarint, varintField } from './protobuf-wire';

export const PE_PARENT = 1;
export const PE_LAZY = 2;
export const PE_PRESENT = 4;
const PAGE_SHIFT = 12n;

export class PagemapError extends Error {
  override name = ErrorType.Manifest;
}

export interface PagemapEntry {
  /** First page (address / 4096). */
  page: number;
  pages: number;
  flags: number;
}

export interface Pagemap {
  /** The file's two magics, written back as they were. */
  magic: Buffer;
  pagesId: number;
  entries: PagemapEntry[];
}

/** CRIU's pagemap files: one per process (pagemap-<pid>.img) and per shared memory segment. */
export function isPagemapFile(name: string): boolean {
  return /^pagemap-[\w-]+\.img$/.test(name);
}

export function pagesFileName(pagesId: number): string {
  return `pages-${pagesId}.img`;
}

function messages(buf: Buffer, what: string): Buffer[] {
  if (buf.length < 8) throw new PagemapError(`${what} is truncated`);
  const out: Buffer[] = [];
  for (let at = 8; at < buf.length;) {
    if (at + 4 > buf.length) throw new PagemapError(`${what} ends inside a message length`);
    const len = buf.readUInt32LE(at);
    if (at + 4 + len > buf.length) throw new PagemapError(`${what} says ${len} bytes of message past its end`);
    out.push(buf.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

export function decodePagemap(buf: Buffer, what = 'pagemap image'): Pagemap {
  const [head, ...rest] = messages(buf, what);
  if (!head) throw new PagemapError(`${what} has no head`);
  let pagesId = -1;
  for (const f of fields(head)) if (f.number === 1 && f.wire === 0) pagesId = Number(readVarint(head, f.valueAt).value);
  if (pagesId < 0) throw new PagemapError(`${what} names no pages file`);
  const entries = rest.map((msg): PagemapEntry => {
    let vaddr = -1n;
    let compatPages = 0;
    let pages = -1;
    let flags = 0;
    for (const f of fields(msg)) {
      if (f.wire !== 0) continue;
      const v = readVarint(msg, f.valueAt).value;
      if (f.number === 1) vaddr = v;
      else if (f.number === 2) compatPages = Number(v);
      else if (f.number === 3 && v)
        flags |= PE_PARENT; // in_parent, from before flags existed
      else if (f.number === 4) flags |= Number(v);
      else if (f.number === 5) pages = Number(v);
    }
    if (vaddr < 0n || vaddr & ((1n << PAGE_SHIFT) - 1n)) throw new PagemapError(`${what} has an unaligned address`);
    return { page: Number(vaddr >> PAGE_SHIFT), pages: pages >= 0 ? pages : compatPages, flags };
  });
  return { magic: Buffer.from(buf.subarray(0, 8)), pagesId, entries };
}

export function encodePagemap(pm: Pagemap): Buffer {
  const framed = (msg: Buffer): Buffer[] => {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(msg.length);
    return [len, msg];
  };
  const parts: Buffer[] = [pm.magic, ...framed(varintField(1, pm.pagesId))];
  for (const e of pm.entries) {
    // As CRIU 4 writes it: the 32-bit count field left 0, the count in the 64-bit one.
    const msg = Buffer.concat([
      varintField(1, BigInt(e.page) << PAGE_SHIFT),
      varintField(2, 0),
      varintField(4, e.flags),
      varintField(5, e.pages),
    ]);
    parts.push(...framed(msg));
  }
  return Buffer.concat(parts);
}

/** Pages to copy into the merged pages file, in order: `pages` pages from `level`'s pages file at page `offset`. */
export interface PageRun {
  level: number;
  offset: number;
  pages: number;
}

interface Indexed {
  entries: PagemapEntry[];
  /** Each entry's first page in its pages file (PRESENT entries only). */
  offsets: number[];
}

function index(pm: Pagemap): Indexed {
  const offsets: number[] = [];
  let at = 0;
  for (const e of pm.entries) {
    offsets.push(at);
    if (e.flags & PE_PRESENT) at += e.pages;
  }
  return { entries: pm.entries, offsets };
}

/**
 * Plans a self-contained pagemap from a chain of one process's pagemaps, newest first (`chain[i + 1]` is the parent
 * of `chain[i]`; null where a level has no pagemap for it). The result keeps the newest level's runs and head, every
 * run PRESENT; `runs` say where each of its pages is read. A page the chain holds nowhere is an error (CRIU would
 * fail the restore the same way).
 */
export function planMerge(chain: (Pagemap | null)[], what = 'pagemap'): { pagemap: Pagemap; runs: PageRun[] } {
  const newest = chain[0];
  if (!newest) throw new PagemapError(`${what}: the newest image has no pagemap`);
  const levels = chain.map((pm) => (pm ? index(pm) : null));
  const runs: PageRun[] = [];
  const push = (level: number, offset: number, pages: number): void => {
    const last = runs[runs.length - 1];
    if (last && last.level === level && last.offset + last.pages === offset) last.pages += pages;
    else runs.push({ level, offset, pages });
  };
  const resolve = (level: number, page: number, count: number): void => {
    const ix = levels[level];
    if (!ix)
      throw new PagemapError(
        `${what}: pages at 0x${(BigInt(page) << PAGE_SHIFT).toString(16)} are in no image of the chain`,
      );
    // The first entry ending after `page` (entries are sorted by address).
    let lo = 0;
    let hi = ix.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const e = ix.entries[mid]!;
      if (e.page + e.pages <= page) lo = mid + 1;
      else hi = mid;
    }
    let at = page;
    const end = page + count;
    for (let i = lo; at < end; i++) {
      const e = ix.entries[i];
      if (!e || e.page > at)
        throw new PagemapError(
          `${what}: the page at 0x${(BigInt(at) << PAGE_SHIFT).toString(16)} is missing from image ${level} of the chain`,
        );
      const upto = Math.min(end, e.page + e.pages);
      if (e.flags & PE_PRESENT) push(level, ix.offsets[i]! + (at - e.page), upto - at);
      else if (e.flags & PE_PARENT) resolve(level + 1, at, upto - at);
      else throw new PagemapError(`${what}: a run of image ${level} is neither present nor in its parent`);
      at = upto;
    }
  };
  for (const e of newest.entries) resolve(0, e.page, e.pages);
  const entries = newest.entries.map((e) => ({ ...e, flags: PE_PRESENT | (e.flags & PE_LAZY) }));
  return { pagemap: { magic: newest.magic, pagesId: newest.pagesId, entries }, runs };
}
