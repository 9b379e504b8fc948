import { mkdir, open, FileHandle, readFile, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { HASH_BYTES } from '../domain/manifest';
import type { ChunkFrame } from '../domain/chunk-frames';
import { ChunkLocation, sha256Digest } from './scan';

const RECORD = HASH_BYTES + 8 + 4;

export class ChunkRejectedError extends Error {
  override name = 'ChunkRejectedError';
}

/**
 * Chunks received for one transfer: appended to chunks.bin, indexed in chunks.idx. Every chunk is verified
 * against its hash before it is written, so a resumed transfer only needs what is not here yet.
 */
export class StagingPack {
  private readonly index = new Map<string, ChunkLocation>();
  private binSize = 0;
  private idxSize = 0;

  private constructor(
    readonly dir: string,
    private readonly bin: FileHandle,
    private readonly idx: FileHandle,
  ) {}

  static async open(dir: string): Promise<StagingPack> {
    await mkdir(dir, { recursive: true });
    const binPath = path.join(dir, 'chunks.bin');
    const idxPath = path.join(dir, 'chunks.idx');
    const pack = new StagingPack(dir, await open(binPath, 'a+'), await open(idxPath, 'a+'));
    pack.binSize = (await stat(binPath)).size;
    const idx = await readFile(idxPath);
    // A crash may leave a partial record or a record whose data never reached chunks.bin: keep what is whole.
    for (let at = 0; at + RECORD <= idx.length; at += RECORD) {
      const hash = idx.toString('hex', at, at + HASH_BYTES);
      const offset = Number(idx.readBigUInt64BE(at + HASH_BYTES));
      const length = idx.readUInt32BE(at + HASH_BYTES + 8);
      if (offset + length > pack.binSize) break;
      pack.index.set(hash, { file: binPath, offset, length });
      pack.idxSize = at + RECORD;
    }
    if (pack.idxSize !== idx.length) await truncate(idxPath, pack.idxSize);
    return pack;
  }

  has(hash: string): boolean {
    return this.index.has(hash);
  }
  location(hash: string): ChunkLocation | undefined {
    return this.index.get(hash);
  }
  get chunkCount(): number {
    return this.index.size;
  }

  /** Verifies then appends frames; the first mismatch throws and nothing of the batch stays. */
  async append(frames: ChunkFrame[], wanted: (hash: Buffer) => boolean): Promise<number> {
    const fresh: (ChunkFrame & { hex: string })[] = [];
    const inBatch = new Set<string>();
    for (const f of frames) {
      const hex = f.hash.toString('hex');
      if (!wanted(f.hash))
        throw new ChunkRejectedError(`chunk ${hex} was not asked for by any manifest of this transfer`);
      if (!sha256Digest(f.data).equals(f.hash))
        throw new ChunkRejectedError(`chunk ${hex} does not match its content (corrupted or tampered)`);
      // A chunk twice in one batch is written once.
      if (!this.index.has(hex) && !inBatch.has(hex)) fresh.push({ ...f, hex });
      inBatch.add(hex);
    }
    if (!fresh.length) return 0;
    const records = Buffer.allocUnsafe(RECORD * fresh.length);
    let offset = this.binSize;
    fresh.forEach((f, i) => {
      f.hash.copy(records, i * RECORD, 0, HASH_BYTES);
      records.writeBigUInt64BE(BigInt(offset), i * RECORD + HASH_BYTES);
      records.writeUInt32BE(f.data.length, i * RECORD + HASH_BYTES + 8);
      offset += f.data.length;
    });
    // Data first, then the index: a crash between the two leaves index records that the next open drops.
    await this.bin.writev(
      fresh.map((f) => f.data),
      this.binSize,
    );
    await this.bin.datasync();
    await this.idx.write(records, 0, records.length, this.idxSize);
    const binPath = path.join(this.dir, 'chunks.bin');
    let at = this.binSize;
    for (const f of fresh) {
      this.index.set(f.hex, { file: binPath, offset: at, length: f.data.length });
      at += f.data.length;
    }
    this.binSize = at;
    this.idxSize += records.length;
    return fresh.length;
  }

  async close(): Promise<void> {
    await this.bin.close();
    await this.idx.close();
  }
}
