/**
 * The chunk stream of the data plane: a sequence of frames [32-byte sha256][u32 length][data]
 * (the whole stream is zstd-compressed on the wire). Pure: parsing is incremental and bounded.
 */
import { FILE_CHUNK_SIZE, HASH_BYTES } from './manifest';

const HEADER = HASH_BYTES + 4;
export const FRAME_HEADER_BYTES = HEADER;

export interface ChunkFrame {
  hash: string;
  data: Buffer;
}

export class FrameError extends Error {
  override name = 'FrameError';
}

export function encodeFrame(hash: string, data: Buffer): Buffer[] {
  const header = Buffer.allocUnsafe(HEADER);
  writeFrameHeader(header, 0, hash, data.length);
  return [header, data];
}

/** Writes a frame header at `at`; returns its length. */
export function writeFrameHeader(buf: Buffer, at: number, hash: string, length: number): number {
  buf.write(hash, at, HASH_BYTES, 'hex');
  buf.writeUInt32BE(length, at + HASH_BYTES);
  return HEADER;
}

/** Cuts an arbitrarily split byte stream back into frames; refuses a frame longer than any chunk can be. */
export class FrameParser {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  push(buf: Buffer): ChunkFrame[] {
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    const frames: ChunkFrame[] = [];
    while (this.pendingBytes >= HEADER) {
      const head = this.peek(HEADER);
      const length = head.readUInt32BE(HASH_BYTES);
      if (length === 0 || length > FILE_CHUNK_SIZE)
        throw new FrameError(`chunk frame of ${length} bytes is out of bounds`);
      if (this.pendingBytes < HEADER + length) break;
      const all = this.take(HEADER + length);
      frames.push({ hash: all.toString('hex', 0, HASH_BYTES), data: all.subarray(HEADER) });
    }
    return frames;
  }

  /** Call at the end of the stream: a partial frame left means the stream was cut. */
  end(): void {
    if (this.pendingBytes !== 0)
      throw new FrameError(`chunk stream ended inside a frame (${this.pendingBytes} bytes left)`);
  }

  /** The first n pending bytes as one buffer: a view when they lie in one buffer, else a copy of just those bytes. */
  private peek(n: number): Buffer {
    const first = this.pending[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    for (const b of this.pending) {
      at += b.copy(out, at, 0, Math.min(b.length, n - at));
      if (at === n) break;
    }
    return out;
  }

  private take(n: number): Buffer {
    const out = this.peek(n);
    let left = n;
    while (left > 0) {
      const first = this.pending[0]!;
      if (first.length <= left) {
        this.pending.shift();
        left -= first.length;
      } else {
        this.pending[0] = first.subarray(left);
        left = 0;
      }
    }
    this.pendingBytes -= n;
    return out;
  }
}
