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
