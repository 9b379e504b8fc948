import { copyFile, FileHandle, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { chunkSizeFor, Manifest, ManifestEntry, ManifestError, resolveInside } from '../domain/manifest';
import type { ChunkFrame } from '../domain/chunk-frames';
import { ChunkReader } from './chunk-reader';
import { hashFileChunks, sha256 } from './scan';
import { ChunkRejectedError } from './staging';

const zeroHashes = new Map<number, string>();
function zeroHash(length: number): string {
  let h = zeroHashes.get(length);
  if (!h) zeroHashes.set(length, (h = sha256(Buffer.alloc(length))));
  return h;
}

/** A chunk position: entry k of the manifest, chunk i, in one number (no object per page: 262,144 per GiB). */
const pack = (k: number, i: number): number => k * 2 ** 32 + i;
const entryOf = (p: number): number => Math.floor(p / 2 ** 32);
const indexOf = (p: number): number => p % 2 ** 32;

/** Bytes of received chunks written with one call when their positions lie side by side. */
const MAX_WRITE_RUN = 8 << 20;

/**
 * A checkpoint image being received, built in place: its files have their final size from the first offer, and
 * every chunk is written, once verified, straight to each position that needs it. Nothing is staged elsewhere and
 * rewritten at restore time. What a position holds is always known and verified (`content`): chunks written here
 * were hashed on arrival, and files seeded from a held generation or left by a restarted worker are hashed first.
 * So a later offer (the next pre-copy round, or the final checkpoint) keeps every position that already holds the
 * right bytes, and the target asks only for the rest.
 */
export class ReceivingImage {
  /** Per file: the verified hash each chunk position holds, or null (unknown, or about to be overwritten). */
  private readonly content = new Map<string, (string | null)[]>();
  /** Positions still waiting for their chunk, by hash: one number, or a list when several positions want it. */
  private readonly unfilled = new Map<string, number | number[]>();
  private entries: ManifestEntry[] = [];

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
      this.content.set(name, await hashFileChunks(full, st.size, chunkSizeFor('checkpoint', name)));
    }
  }

  /**
   * Lays the image out as `manifest` says and fills every position it can from what this node holds (positions
   * that already hold their chunk, other positions of this image, `held` chunks); `wants` then says what is missing.
   */
  async plan(manifest: Manifest, held: ChunkReader): Promise<void> {
    if (manifest.kind !== 'checkpoint') throw new ManifestError('a receiving image takes a checkpoint manifest');
    const names = new Set(manifest.entries.map((e) => e.path));
    for (const name of [...this.content.keys()])
      if (!names.has(name)) {
        await rm(path.join(this.dir, name), { force: true });
        this.content.delete(name);
      }
    this.unfilled.clear();
    for (const [k, e] of manifest.entries.entries()) {
      const full = resolveInside(this.dir, e.path);
      const size = e.size!;
      const cs = e.chunkSize!;
      let content = this.content.get(e.path);
      const handle = await open(full, content ? 'r+' : 'w', e.mode);
      try {
        const oldSize = (await handle.stat()).size;
        if (oldSize !== size) await handle.truncate(size);
        await handle.chmod(e.mode);
        // A position whose chunk length changed with the size holds nothing useful.
        const count = e.chunks!.length;
        const next = new Array<string | null>(count).fill(null);
        const kept = content ? (oldSize === size ? count : Math.floor(Math.min(oldSize, size) / cs)) : 0;
        for (let i = 0; i < kept; i++) next[i] = content![i] ?? null;
        // What lies past the old end is a hole: it reads as zeros, so zero pages need not travel.
        const zerosFrom = content ? Math.ceil(oldSize / cs) : 0;
        for (let i = Math.max(kept, zerosFrom); i < count; i++) next[i] = zeroHash(Math.min(cs, size - i * cs));
        content = next;
      } finally {
        await handle.close();
      }
      this.content.set(e.path, content);
      e.chunks!.forEach((h, index) => {
        if (content[index] === h) return;
        content[index] = null;
        const waiting = this.unfilled.get(h);
        if (waiting === undefined) this.unfilled.set(h, pack(k, index));
        else if (typeof waiting === 'number') this.unfilled.set(h, [waiting, pack(k, index)]);
        else waiting.push(pack(k, index));
      });
    }
    this.entries = manifest.entries;
    // Where in this image a wanted chunk already lies (a page that moved): one pass of lookups, no index of all.
    const filledAt = new Map<string, number>();
    if (this.unfilled.size)
      manifest.entries.forEach((e, k) => {
        const content = this.content.get(e.path)!;
        for (let index = 0; index < content.length; index++) {
          const h = content[index];
          if (h && this.unfilled.has(h) && !filledAt.has(h)) filledAt.set(h, pack(k, index));
        }
      });
    // Chunks this node holds elsewhere (a moved page, a page of another image): copied here now, in batches, each
    // verified as it is read.
    // Sources sorted by place and read in runs: after a layout shift most of an image is found elsewhere in it.
    const sources: { hash: string; file: string; offset: number; length: number }[] = [];
    for (const h of this.unfilled.keys()) {
      const local = filledAt.get(h);
      if (local !== undefined) {
        const e = this.entries[entryOf(local)]!;
        const offset = indexOf(local) * e.chunkSize!;
        sources.push({
          hash: h,
          file: path.join(this.dir, e.path),
          offset,
          length: Math.min(e.chunkSize!, e.size! - offset),
        });
      } else {
        const loc = held.candidates(h)[0];
        if (loc) sources.push({ hash: h, ...loc });
      }
    }
    sources.sort((a, b) => (a.file === b.file ? a.offset - b.offset : a.file < b.file ? -1 : 1));
    const handles = new Map<string, FileHandle>();
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
        const buf = Buffer.allocUnsafe(end - first.offset);
        const { bytesRead } = await handle.read(buf, 0, buf.length, first.offset);
        const frames: ChunkFrame[] = [];
        for (let k = i; k < j; k++) {
          const at = sources[k]!.offset - first.offset;
          const data = buf.subarray(at, at + sources[k]!.length);
          // A held chunk that no longer matches its hash (damaged on disk) is simply asked for.
          if (at + sources[k]!.length <= bytesRead && sha256(data) === sources[k]!.hash)
            frames.push({ hash: sources[k]!.hash, data });
        }
        await this.write(frames, true);
        i = j;
      }
    } finally {
      for (const handle of handles.values()) await handle.close();
    }
  }

  wants(hash: string): boolean {
    return this.unfilled.has(hash);
  }

  /**
   * The answer to the offer just planned: one place in the manifest of each chunk still wanted, as [u32 entry]
   * [u32 chunk] pairs (see domain/manifest.ts, missingPositions), read from what is waiting, not from every page.
   */
  missingPositions(): Buffer {
    const buf = Buffer.allocUnsafe(this.unfilled.size * 8);
    let at = 0;
    for (const waiting of this.unfilled.values()) {
      const p = typeof waiting === 'number' ? waiting : waiting[0]!;
      buf.writeUInt32BE(entryOf(p), at);
      buf.writeUInt32BE(indexOf(p), at + 4);
      at += 8;
    }
    return buf;
  }

  get missingCount(): number {
    return this.unfilled.size;
  }

  /**
   * Writes chunks to every position waiting for them, verifying each first (unless the caller just did). A chunk no
   * position waits for (a duplicate, or one a concurrent stream already wrote) is dropped. Returns how many were used.
   */
  async write(frames: ChunkFrame[], verified = false): Promise<number> {
    const writes: { file: string; offset: number; data: Buffer; hash: string; index: number }[] = [];
    const taken = new Set<string>();
    for (const f of frames) {
      const waiting = this.unfilled.get(f.hash);
      if (waiting === undefined || taken.has(f.hash)) continue;
      if (!verified && sha256(f.data) !== f.hash)
        throw new ChunkRejectedError(`chunk ${f.hash} does not match its content (corrupted or tampered)`);
      taken.add(f.hash);
      for (const p of typeof waiting === 'number' ? [waiting] : waiting) {
        const e = this.entries[entryOf(p)]!;
        const index = indexOf(p);
        const length = Math.min(e.chunkSize!, e.size! - index * e.chunkSize!);
        if (f.data.length !== length)
          throw new ChunkRejectedError(`chunk ${f.hash} has ${f.data.length} bytes where ${e.path} needs ${length}`);
        writes.push({ file: e.path, offset: index * e.chunkSize!, data: f.data, hash: f.hash, index });
      }
    }
    writes.sort((a, b) => (a.file === b.file ? a.offset - b.offset : a.file < b.file ? -1 : 1));
    let i = 0;
    while (i < writes.length) {
      const first = writes[i]!;
      const handle = await open(path.join(this.dir, first.file), 'r+');
      try {
        while (i < writes.length && writes[i]!.file === first.file) {
          const start = writes[i]!;
          const run = [start.data];
          let end = start.offset + start.data.length;
          let j = i + 1;
          let bytes = start.data.length;
          while (
            j < writes.length &&
            writes[j]!.file === start.file &&
            writes[j]!.offset === end &&
            bytes < MAX_WRITE_RUN
          ) {
            run.push(writes[j]!.data);
            end += writes[j]!.data.length;
            bytes += writes[j]!.data.length;
            j++;
          }
          await handle.writev(run, start.offset);
          for (let k = i; k < j; k++) this.content.get(writes[k]!.file)![writes[k]!.index] = writes[k]!.hash;
          i = j;
        }
      } finally {
        await handle.close();
      }
    }
    // Only now: a failed write leaves its chunks asked for.
    for (const h of taken) this.unfilled.delete(h);
    return taken.size;
  }
}
