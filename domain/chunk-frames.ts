/**
 * The chunk stream of the data plane: a sequence of frames [32-byte sha256][u32 length][data]
 * (the whole stream is zstd-compressed on the wire). Parsed on arrival by node/dataplane/chunk-stream.ts.
 */
import { HASH_BYTES } from './manifest';

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
