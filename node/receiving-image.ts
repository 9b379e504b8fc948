import execa from 'execa';
import { copyFile, FileHandle, mkdir, open, readdir, rename, rm, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { DIGEST_BYTES, DigestIndex, digestHex, digestsEqual, zeroDigest } from '../domain/digest-index';
import {
  chunkCountOf,
  chunkSizeFor,
  Manifest,
  PAGE_SIZE,
  ManifestEntry,
  ManifestError,
  resolveInside,
} from '../domain/manifest';
import { ChunkFrame, FrameBatch } from '../domain/chunk-frames';
import { alignPages, pagesLeftOut, PageShift, shiftedContent, shiftedOrder } from '../domain/page-alignment';
import { ChunkReader } from './chunk-reader';
import { hashFileChunks, sha256Digest } from './scan';
import { ChunkRejectedError } from './staging';

/**
 * What each chunk position of one file holds: where `known[i]` is 1, the chunk whose hash is digest i of `digests`
 * (verified). `digests` is never written to: hashes of the files as found on disk, or, once planned, the manifest's
 * own chunk list (a position then either holds its chunk or waits for it: no second copy of the list).
 */
interface FileContent {
  digests: Buffer;
  known: Uint8Array;
}

/** A file the new manifest does not name, kept until the plan has taken what it wants from it. */
interface Dropped {
  file: string;
  chunkSize: number;
  content: FileContent;
}

/** Bytes of held chunks read with one call when they lie side by side. */
const MAX_WRITE_RUN = 8 << 20;
/** Bytes of received chunks copied together and written with one call when their positions lie side by side. */
const WRITE_RUN_BYTES = 1 << 20;
/** Writes of one batch in flight at once (the thread pool runs four; more keep it fed). */
const WRITES_AT_ONCE = 32;
/** Frames of one batch a position key can name (a batch of a few MiB holds far fewer). */
const FRAMES_PER_KEY = 2 ** 21;

/**
 * A checkpoint image being received, built in place: its files have their final size from the first offer, and
 * every chunk is written, once verified, straight to each position that needs it. Nothing is staged elsewhere and
 * rewritten at restore time. What a position holds is always known and verified (`content`): chunks written here
 * were hashed on arrival, and files seeded from a held generation or left by a restarted worker are hashed first.
 * So a later offer (the next pre-copy round, or the final checkpoint) keeps every position that already holds the
 * right bytes, and the target asks only for the rest.
 */
export class ReceivingImage {
  /** Per file: what each chunk position holds (unknown, or about to be overwritten, where `known` is 0). */
  private readonly content = new Map<string, FileContent>();
  private entries: ManifestEntry[] = [];
  /**
   * Positions are numbered through the whole manifest (entry k's chunk i is starts[k] + i): one 32-bit number each,
   * kept in typed arrays, not an object or Map entry per page (262,144 per GiB).
   */
  private starts: number[] = [];
  /** Distinct hashes the plan asked for, numbered by the index (which reads them from the manifest). */
  private wanted = new DigestIndex();
  /** Per wanted hash: the first position waiting for it (where the index finds the hash, too). */
  private firstWaiting = new Int32Array(0);
  /** Per wanted hash: 1 once written. */
  private written = new Uint8Array(0);
  /** Per position: the next position waiting for the same hash, or -1. */
  private nextWaiting = new Int32Array(0);
  private unfilled = 0;

  private constructor(readonly dir: string) {}

  /** Opens the image directory as it is on disk (hashing what is there: a worker may have restarted mid-transfer). */
  static async open(dir: string): Promise<ReceivingImage> {
    await mkdir(dir, { recursive: true });
    const image = new ReceivingImage(dir);
    await image.rescan();
    return image;
  }

  /**
   * Seeds an empty image with a copy of a held generation's files (copy_file_range: no user-space copy), then
   * verifies them by hashing: a chunk damaged on disk is simply asked for again. Runs before the freeze.
   */
  async seedFrom(imageDir: string): Promise<void> {
    for (const name of await readdir(imageDir)) {
      const st = await stat(path.join(imageDir, name));
      if (st.isFile()) await copyFile(path.join(imageDir, name), path.join(this.dir, name));
    }
    await this.rescan();
  }

  private async rescan(): Promise<void> {
    this.content.clear();
    for (const name of await readdir(this.dir)) {
      const full = path.join(this.dir, name);
      const st = await stat(full);
      if (!st.isFile()) continue;
      const digests = await hashFileChunks(full, st.size, chunkSizeFor('checkpoint', name));
      this.content.set(name, { digests, known: new Uint8Array(digests.length / DIGEST_BYTES).fill(1) });
    }
  }

  /** Gives an entry's file its size and mode (created empty if this image had none); returns the size it had. */
  private async sizeFile(e: ManifestEntry, existed: boolean): Promise<number> {
    const handle = await open(resolveInside(this.dir, e.path), existed ? 'r+' : 'w', e.mode);
    try {
      const st = await handle.stat();
      if (st.size !== e.size) await handle.truncate(e.size);
      if ((st.mode & 0o7777) !== e.mode) await handle.chmod(e.mode);
      return existed ? st.size : 0;
    } finally {
      await handle.close();
    }
  }

  /** The entry a position lies in. */
  private entryOf(p: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= p) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The entry and chunk index of a position. */
  private place(p: number): { k: number; i: number } {
    const k = this.entryOf(p);
    return { k, i: p - this.starts[k]! };
  }

  /** File, offset and length of a position. */
  private locate(p: number): { entry: ManifestEntry; offset: number; length: number } {
    const { k, i } = this.place(p);
    const entry = this.entries[k]!;
    const offset = i * entry.chunkSize!;
    return { entry, offset, length: Math.min(entry.chunkSize!, entry.size! - offset) };
  }

  /**
   * Lays the image out as `manifest` says and fills every position it can from what this node holds (positions
   * that already hold their chunk, other positions of this image, `held` chunks); `wants` then says what is missing.
   */
  async plan(manifest: Manifest, held: ChunkReader): Promise<void> {
    if (manifest.kind !== 'checkpoint') throw new ManifestError('a receiving image takes a checkpoint manifest');
    const names = new Set(manifest.entries.map((e) => e.path));
    // Files the new manifest does not name go, but only once their chunks were offered to its positions: a live
    // pre-copy round names its pages files by process id, CRIU by page-file id, and the final dump must find the
    // round's pages by digest (found by the 1 GiB bench: it found none and sent the whole image again).
    const dropped: Dropped[] = [];
    for (const [name, content] of [...this.content])
      if (!names.has(name)) {
        dropped.push({ file: path.join(this.dir, name), chunkSize: chunkSizeFor('checkpoint', name), content });
        this.content.delete(name);
      }
    await this.adoptDropped(manifest.entries, dropped);
    this.entries = manifest.entries;
    this.starts = [];
    let total = 0;
    for (const e of manifest.entries) {
      this.starts.push(total);
      total += chunkCountOf(e);
    }
    this.wanted = new DigestIndex(total, {
      // Looked up on every probe of the index: no object per call.
      list: (n) => this.entries[this.entryOf(this.firstWaiting[n]!)]!.chunks!,
      index: (n) => this.firstWaiting[n]! - this.starts[this.entryOf(this.firstWaiting[n]!)]!,
    });
    this.firstWaiting = new Int32Array(total);
    this.written = new Uint8Array(total);
    this.nextWaiting = new Int32Array(total).fill(-1);
    this.unfilled = 0;
    // The files are sized side by side (this is in the downtime: one after another, a return move's 30 files took
    // 0.27 s of a busy worker's event loop), then their positions are noted in order (first use first).
    const sizes = await Promise.all(manifest.entries.map((e) => this.sizeFile(e, this.content.has(e.path))));
    for (const [k, e] of manifest.entries.entries()) {
      const size = e.size!;
      const cs = e.chunkSize!;
      const count = chunkCountOf(e);
      const old = this.content.get(e.path);
      const oldSize = sizes[k]!;
      // A position whose chunk length changed with the size holds nothing useful.
      const kept = old ? (oldSize === size ? count : Math.floor(Math.min(oldSize, size) / cs)) : 0;
      // What lies past the old end is a hole: it reads as zeros, so zero pages need not travel.
      const zerosFrom = old ? Math.ceil(oldSize / cs) : 0;
      const known = old?.known.length === count ? old.known : new Uint8Array(count);
      for (let i = 0; i < count; i++) {
        const holds =
          i < kept
            ? old!.known[i] === 1 && digestsEqual(old!.digests, i, e.chunks!, i)
            : i >= zerosFrom && digestsEqual(zeroDigest(Math.min(cs, size - i * cs)), 0, e.chunks!, i);
        known[i] = holds ? 1 : 0;
      }
      this.content.set(e.path, { digests: e.chunks!, known });
      for (let i = 0; i < count; i++) if (!known[i]) this.await(e.chunks!, i, this.starts[k]! + i);
    }
    try {
      if (this.unfilled) await this.fillFromHeld(held, dropped);
    } finally {
      for (const d of dropped) await rm(d.file, { force: true });
    }
  }

  /**
   * A file the manifest names and this image lacks takes over, by renaming, the dropped file that holds most of its
   * pages, shifted into place: a live pre-copy round names its files by process id and lays its pages out as CRIU
   * does (node/live-copy.ts), so the final dump's pages-1.img finds them where it wants them, but for the pages the
   * program gained or lost since (a few holes inserted, a few ranges collapsed: domain/page-alignment.ts). Without
   * this a GiB was copied into place inside the freeze.
   */
  private async adoptDropped(entries: ManifestEntry[], dropped: Dropped[]): Promise<void> {
    for (const e of entries) {
      if (e.chunkSize !== PAGE_SIZE) continue;
      const held = this.content.get(e.path);
      if (held) {
        await this.realign(e, held, dropped);
        continue;
      }
      if (!dropped.length) continue;
      const count = chunkCountOf(e);
      // The processes of a container differ in size by far: the nearest in size is the same process's round.
      const candidates = dropped
        .map((d, f) => ({ ...d, f }))
        .filter((d) => d.chunkSize === PAGE_SIZE)
        .sort((a, b) => Math.abs(a.content.known.length - count) - Math.abs(b.content.known.length - count))
        .slice(0, 2);
      for (const c of candidates) {
        const alignment = alignPages(c.content.digests, e.chunks!);
        // Worth it only where most of the file stays: else the copies of the plan are as cheap.
        if (!alignment || alignment.inPlace * 2 < count) continue;
        const shifted = await shiftPages(c.file, c.content, alignment.shifts, count);
        dropped.splice(c.f, 1);
        if (shifted.leftOut) dropped.push(shifted.leftOut);
        await rename(c.file, resolveInside(this.dir, e.path));
        this.content.set(e.path, shifted.content);
        break;
      }
    }
  }

  /**
   * A held file of the same name (the remnant's image, on a move back) whose pages sit off their places: a program
   * that gained or freed pages since shifts everything after them. Shifted back into place when that keeps far more
   * (a 1 GiB redis moved back sent 131 MB where it had changed far less).
   */
  private async realign(e: ManifestEntry, held: FileContent, dropped: Dropped[]): Promise<void> {
    const count = chunkCountOf(e);
    let inPlace = 0;
    for (let i = 0; i < Math.min(count, held.known.length); i++)
      if (held.known[i] && digestsEqual(held.digests, i, e.chunks!, i)) inPlace++;
    if (inPlace * 10 >= count * 9) return; // in place already but for pages written since
    const alignment = alignPages(held.digests, e.chunks!);
    if (!alignment || alignment.inPlace < inPlace + Math.max(8, count / 100)) return;
    const file = resolveInside(this.dir, e.path);
    const shifted = await shiftPages(file, held, alignment.shifts, count);
    if (shifted.leftOut) dropped.push(shifted.leftOut);
    this.content.set(e.path, shifted.content);
  }

  /** Notes that position p waits for hash i of `list`. */
  private await(list: Buffer, i: number, p: number): void {
    const before = this.wanted.size;
    const n = this.wanted.add(list, i);
    if (n === before) {
      this.firstWaiting[n] = p;
      this.unfilled++;
    } else {
      // After the first: the first position stays the one the answer names (first-use order).
      const head = this.firstWaiting[n]!;
      this.nextWaiting[p] = this.nextWaiting[head]!;
      this.nextWaiting[head] = p;
    }
  }

  /**
   * Copies in wanted chunks this node holds: another position of this image (a page that moved) or a `held` chunk,
   * in batches, each verified as it is read. Sources are sorted by place and read in runs: after a layout shift
   * most of an image is found elsewhere in it.
   */
  private async fillFromHeld(held: ChunkReader, dropped: Dropped[] = []): Promise<void> {
    // Where in this image a wanted chunk already lies: one pass of lookups, no index of all positions.
    const filledAt = new Int32Array(this.wanted.size).fill(-1);
    this.entries.forEach((e, k) => {
      const content = this.content.get(e.path)!;
      for (let i = 0; i < content.known.length; i++) {
        if (!content.known[i]) continue;
        const n = this.wanted.find(content.digests, i);
        if (n >= 0 && filledAt[n]! < 0) filledAt[n] = this.starts[k]! + i;
      }
    });
    // Then in the files the previous image had and this one does not name (read before they are removed): which
    // file and chunk, one number each per wanted chunk (a GiB image wants 262,144: no object per chunk here).
    const droppedFile = new Int32Array(this.wanted.size).fill(-1);
    const droppedChunk = new Int32Array(this.wanted.size);
    dropped.forEach(({ content }, f) => {
      for (let i = 0; i < content.known.length; i++) {
        if (!content.known[i]) continue;
        const n = this.wanted.find(content.digests, i);
        if (n >= 0 && filledAt[n]! < 0 && droppedFile[n]! < 0) {
          droppedFile[n] = f;
          droppedChunk[n] = i;
        }
      }
    });
    const sources: { n: number; file: string; offset: number; length: number }[] = [];
    for (let n = 0; n < this.wanted.size; n++) {
      if (filledAt[n]! >= 0) {
        const { entry, offset, length } = this.locate(filledAt[n]!);
        sources.push({ n, file: path.join(this.dir, entry.path), offset, length });
      } else if (droppedFile[n]! >= 0) {
        const { file, chunkSize: cs } = dropped[droppedFile[n]!]!;
        sources.push({ n, file, offset: droppedChunk[n]! * cs, length: cs });
      } else {
        const loc = held.candidates(digestHex(this.wanted.digest(n)))[0];
        if (loc) sources.push({ n, ...loc });
      }
    }
    sources.sort((a, b) => (a.file === b.file ? a.offset - b.offset : a.file < b.file ? -1 : 1));
    const handles = new Map<string, FileHandle>();
    // One buffer for every run (a run stops once past MAX_WRITE_RUN, so it is at most one chunk longer).
    const longest = sources.reduce((n, x) => Math.max(n, x.length), 0);
    const runBuffer = sources.length ? Buffer.allocUnsafe(MAX_WRITE_RUN + longest) : Buffer.alloc(0);
    try {
      let i = 0;
      while (i < sources.length) {
        const first = sources[i]!;
        let end = first.offset + first.length;
        let j = i + 1;
        while (
          j < sources.length &&
          sources[j]!.file === first.file &&
          sources[j]!.offset === end &&
          end - first.offset < MAX_WRITE_RUN
        ) {
          end += sources[j]!.length;
          j++;
        }
        let handle = handles.get(first.file);
        if (!handle) handles.set(first.file, (handle = await open(first.file, 'r')));
        const buf = runBuffer.subarray(0, end - first.offset);
        const { bytesRead } = await handle.read(buf, 0, buf.length, first.offset);
        const found: ChunkFrame[] = [];
        for (let k = i; k < j; k++) {
          const at = sources[k]!.offset - first.offset;
          const data = buf.subarray(at, at + sources[k]!.length);
          const hash = this.wanted.digest(sources[k]!.n);
          // A held chunk that no longer matches its hash (damaged on disk) is simply asked for.
          if (at + sources[k]!.length <= bytesRead && sha256Digest(data).equals(hash)) found.push({ hash, data });
        }
        await this.write(FrameBatch.of(found), true);
        i = j;
      }
    } finally {
      for (const handle of handles.values()) await handle.close();
    }
  }

  /** Whether a position still waits for this chunk. */
  wants(hash: Buffer): boolean {
    const n = this.wanted.find(hash);
    return n >= 0 && !this.written[n];
  }

  /**
   * The answer to the offer just planned: one place in the manifest of each chunk still wanted, as [u32 entry]
   * [u32 chunk] pairs (see domain/manifest.ts, missingPositions), read from what is waiting, not from every page.
   */
  missingPositions(): Buffer {
    const buf = Buffer.allocUnsafe(this.unfilled * 8);
    let at = 0;
    for (let n = 0; n < this.wanted.size; n++) {
      if (this.written[n]) continue;
      const { k, i } = this.place(this.firstWaiting[n]!);
      buf.writeUInt32BE(k, at);
      buf.writeUInt32BE(i, at + 4);
      at += 8;
    }
    return buf;
  }

  get missingCount(): number {
    return this.unfilled;
  }

  /**
   * Writes chunks to every position waiting for them, verifying each first (unless the caller just did). A chunk no
   * position waits for (a duplicate, or one a concurrent stream already wrote) is dropped. Returns how many were used.
   * Nothing is allocated per chunk: what to write is one number per position (sorted, positions come in file order).
   */
  async write(batch: FrameBatch, verified = false): Promise<number> {
    const { buf } = batch;
    if (batch.count >= FRAMES_PER_KEY) throw new ChunkRejectedError(`a batch of ${batch.count} chunks is too many`);
    const taken = new Set<number>();
    const keys: number[] = []; // position * FRAMES_PER_KEY + frame
    for (let j = 0; j < batch.count; j++) {
      const n = this.wanted.findAt(buf, batch.hashOffset(j));
      if (n < 0 || this.written[n] || taken.has(n)) continue;
      const at = batch.hashOffset(j);
      const hex = () => buf.toString('hex', at, at + DIGEST_BYTES);
      if (!verified && buf.compare(sha256Digest(batch.data(j)), 0, DIGEST_BYTES, at, at + DIGEST_BYTES) !== 0)
        throw new ChunkRejectedError(`chunk ${hex()} does not match its content (corrupted or tampered)`);
      taken.add(n);
      for (let p = this.firstWaiting[n]!; p >= 0; p = this.nextWaiting[p]!) {
        const { entry, length } = this.locate(p);
        if (batch.length(j) !== length)
          throw new ChunkRejectedError(
            `chunk ${hex()} has ${batch.length(j)} bytes where ${entry.path} needs ${length}`,
          );
        keys.push(p * FRAMES_PER_KEY + j);
      }
    }
    keys.sort((a, b) => a - b);
    // Runs of positions side by side in one file, each written with one call. The writes of a batch go side by side:
    // a move back's pages are scattered (one run per page), and 828 writes one after another took ~0.2 s of the
    // downtime. A one-chunk run is written straight from the batch.
    const runs: { k: number; start: number; end: number; data: Buffer }[] = [];
    let i = 0;
    while (i < keys.length) {
      const start = Math.floor(keys[i]! / FRAMES_PER_KEY);
      const k = this.entryOf(start);
      const parts: Buffer[] = [];
      let bytes = 0;
      let p = start;
      while (i < keys.length && bytes < WRITE_RUN_BYTES) {
        const key = keys[i]!;
        const at = Math.floor(key / FRAMES_PER_KEY);
        if (at !== p || (p !== start && this.entryOf(p) !== k)) break;
        const j = key - at * FRAMES_PER_KEY;
        parts.push(buf.subarray(batch.dataOffset(j), batch.dataOffset(j) + batch.length(j)));
        bytes += batch.length(j);
        p++;
        i++;
      }
      runs.push({ k, start, end: p, data: parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes) });
    }
    const handles = new Map<number, Promise<FileHandle>>();
    const handleOf = (k: number) => {
      let h = handles.get(k);
      if (!h) handles.set(k, (h = open(path.join(this.dir, this.entries[k]!.path), 'r+')));
      return h;
    };
    try {
      for (let r = 0; r < runs.length; r += WRITES_AT_ONCE)
        await Promise.all(
          runs.slice(r, r + WRITES_AT_ONCE).map(async ({ k, start, end, data }) => {
            const entry = this.entries[k]!;
            await (await handleOf(k)).write(data, 0, data.length, (start - this.starts[k]!) * entry.chunkSize!);
            // The positions now hold their manifest chunks (`digests` is the manifest's list since the plan).
            this.content.get(entry.path)!.known.fill(1, start - this.starts[k]!, end - this.starts[k]!);
          }),
        );
    } finally {
      await Promise.all([...handles.values()].map((h) => h.then((handle) => handle.close()).catch(() => undefined)));
    }
    // Only now: a failed write leaves its chunks asked for.
    for (const n of taken) {
      this.written[n] = 1;
      this.unfilled--;
    }
    return taken.size;
  }
}

/**
 * Makes the shifts in the file itself (fallocate's insert and collapse ranges: extents move, data does not) and says
 * what its first `pages` places hold after them. The held pages they push past those places or collapse away are
 * first copied to a file of their own (`<file>.left`, few pages), which the plan can still take them from. A
 * filesystem without these operations (tmpfs) leaves the file as it was: null then, and the plan copies.
 */
async function shiftPages(
  file: string,
  content: FileContent,
  shifts: readonly PageShift[],
  pages: number,
): Promise<{ content: FileContent; leftOut: Dropped | null }> {
  const order = shiftedOrder(content.known.length, shifts);
  const left = pagesLeftOut(content.known, order, pages);
  let leftOut: Dropped | null = null;
  if (left.length) {
    const leftFile = `${file}.left`;
    const from = await open(file, 'r');
    const to = await open(leftFile, 'w');
    try {
      const page = Buffer.allocUnsafe(PAGE_SIZE);
      const digests = Buffer.allocUnsafe(left.length * DIGEST_BYTES);
      for (const [k, at] of left.entries()) {
        await from.read(page, 0, PAGE_SIZE, at * PAGE_SIZE);
        await to.write(page, 0, PAGE_SIZE, k * PAGE_SIZE);
        content.digests.copy(digests, k * DIGEST_BYTES, at * DIGEST_BYTES, (at + 1) * DIGEST_BYTES);
      }
      leftOut = {
        file: leftFile,
        chunkSize: PAGE_SIZE,
        content: { digests, known: new Uint8Array(left.length).fill(1) },
      };
    } finally {
      await Promise.all([from.close(), to.close()]);
    }
  }
  let size = (await stat(file)).size;
  try {
    for (const s of shifts) {
      const at = s.at * PAGE_SIZE;
      const length = s.pages * PAGE_SIZE;
      if (s.kind === 'insert') {
        if (at >= size) break; // past the end: the plan extends the file
        await execa('fallocate', ['--insert-range', '--offset', String(at), '--length', String(length), file]);
        size += length;
      } else if (at + length >= size) {
        await truncate(file, at); // a range up to the end cannot be collapsed: nothing after it to move
        size = at;
      } else {
        await execa('fallocate', ['--collapse-range', '--offset', String(at), '--length', String(length), file]);
        size -= length;
      }
    }
  } catch {
    // Shifted part-way, or not at all: what it holds now is not known without hashing it again.
    const digests = await hashFileChunks(file, size, PAGE_SIZE);
    return { content: { digests, known: new Uint8Array(digests.length / DIGEST_BYTES).fill(1) }, leftOut };
  }
  const shifted = shiftedContent(content.digests, content.known, order, pages);
  // Past the file's end (an insert there was left to the plan) nothing is held.
  const end = Math.floor(size / PAGE_SIZE);
  if (shifted.known.length > end) shifted.known.fill(0, end);
  return { content: shifted, leftOut };
}
