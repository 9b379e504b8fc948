/**
 * The chunk stream of the data plane: a sequence of frames [32-byte sha256][u32 length][data]
 * (the whole stream is zstd-compressed on the wire). Parsed on arrival by node/dataplane/chunk-stream.ts.
 */
import { HASH_BYTES } from './manifest';

const HEADER = HASH_BYTES + 4;
export const FRAME_HEADER_BYTES = HEADER;

export interface ChunkFrame {
  /** The raw sha256 the data must have (32 bytes; a view into the stream's buffer on arrival). */
  hash: Buffer;
  data: Buffer;
}

export class FrameError extends Error {
  override name = 'FrameError';
}

export function encodeFrame(hash: Buffer, data: Buffer): Buffer[] {
  const header = Buffer.allocUnsafe(HEADER);
  writeFrameHeader(header, 0, hash, data.length);
  return [header, data];
}

/** Writes a frame header at `at`; returns its length. */
export function writeFrameHeader(buf: Buffer, at: number, hash: Buffer, length: number): number {
  if (hash.copy(buf, at, 0, HASH_BYTES) !== HASH_BYTES) throw new FrameError('a frame needs a 32-byte hash');
  buf.writeUInt32BE(length, at + HASH_BYTES);
  return HEADER;
}

/**
 * Frames lying one after another in one buffer, found by where each starts: a received batch is read in place, with
 * no object per chunk (objects kept across a batch's disk writes outlived the young generation and piled up).
 */
export class FrameBatch {
  constructor(
    readonly buf: Buffer,
    /** Offset in `buf` of each frame's header. */
    private readonly starts: Uint32Array,
    readonly count: number,
  ) {}

  /** Offset in `buf` of frame j's hash. */
  hashOffset(j: number): number {
    return this.starts[j]!;
  }

  /** Offset in `buf` of frame j's data. */
  dataOffset(j: number): number {
    return this.starts[j]! + HEADER;
  }

  length(j: number): number {
    return this.buf.readUInt32BE(this.starts[j]! + HASH_BYTES);
  }

  hash(j: number): Buffer {
    return this.buf.subarray(this.starts[j], this.starts[j]! + HASH_BYTES);
  }

  data(j: number): Buffer {
    return this.buf.subarray(this.dataOffset(j), this.dataOffset(j) + this.length(j));
  }

  /** Frames copied into one new buffer. */
  static of(frames: ChunkFrame[]): FrameBatch {
    const buf = Buffer.allocUnsafe(frames.reduce((n, f) => n + HEADER + f.data.length, 0));
    const starts = new Uint32Array(frames.length);
    let at = 0;
    frames.forEach((f, j) => {
      starts[j] = at;
      at += writeFrameHeader(buf, at, f.hash, f.data.length);
      at += f.data.copy(buf, at);
    });
    return new FrameBatch(buf, starts, frames.length);
  }
}
