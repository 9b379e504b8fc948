import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { compress } from 'zstd-napi';
import { encodeFrame, FrameBatch } from '../../domain/chunk-frames';
import { FILE_CHUNK_SIZE } from '../../domain/manifest';
import { ChunkStreamError, receiveChunkStream } from '../../node/dataplane/chunk-stream';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const framesOf = (chunks: Buffer[]) =>
  Buffer.concat(chunks.flatMap((c) => encodeFrame(createHash('sha256').update(c).digest(), c)));

/** The compressed stream cut into pieces of `step` bytes, as a socket might deliver it. */
function pieces(bytes: Buffer, step: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += step) parts.push(bytes.subarray(i, i + step));
  return Readable.from(parts);
}

/** Receives a stream; records each batch as copies (the receiver reuses its buffers once a batch is stored). */
async function receive(bytes: Buffer, step: number, batchBytes?: number) {
  const batches: { hash: string; data: Buffer }[][] = [];
  const stored = await receiveChunkStream(
    pieces(bytes, step),
    async (batch: FrameBatch) => {
      batches.push(
        Array.from({ length: batch.count }, (_, j) => ({
          hash: batch.hash(j).toString('hex'),
          data: Buffer.from(batch.data(j)),
        })),
      );
      await new Promise((r) => setTimeout(r, 1)); // storing takes a while: the next batch is decompressed meanwhile
      return batch.count;
    },
    batchBytes === undefined ? {} : { batchBytes },
  );
  return { stored, batches, frames: batches.flat() };
}

describe('chunk stream receiver', () => {
  it('gives back every frame intact, however the stream is split and however small the batches', async () => {
    // Random pages and full-size compressible chunks, so frames straddle the receiver's two buffers.
    const chunks = [
      ...Array.from({ length: 300 }, () => randomBytes(4096)),
      Buffer.alloc(FILE_CHUNK_SIZE, 7),
      ...Array.from({ length: 5 }, (_, i) => Buffer.from(`small ${i}`)),
      Buffer.from(randomBytes(FILE_CHUNK_SIZE)),
    ];
    const compressed = compress(framesOf(chunks), { compressionLevel: 1 });
    for (const [step, batch] of [
      [1 << 16, undefined],
      [97, 64 << 10],
      [4093, 10_000],
      [compressed.length, 1 << 20],
    ] as const) {
      const got = await receive(compressed, step, batch);
      expect(got.stored).toBe(chunks.length);
      expect(got.frames.map((f) => f.hash)).toEqual(chunks.map(sha));
      for (const f of got.frames) expect(sha(f.data)).toBe(f.hash);
      if (batch) expect(got.batches.length).toBeGreaterThan(1);
    }
  });

  it('refuses an oversized frame, a stream cut inside a frame, and bytes that are not zstd', async () => {
    const huge = framesOf([Buffer.alloc(1)]);
    huge.writeUInt32BE(FILE_CHUNK_SIZE + 1, 32);
    await expect(receive(compress(huge), 100)).rejects.toThrow(/out of bounds/);
    const cut = framesOf([Buffer.from('abc')]).subarray(0, 38);
    await expect(receive(compress(cut), 100)).rejects.toThrow(/ended inside a frame \(38 bytes left\)/);
    await expect(receive(Buffer.from('not zstd at all'), 100)).rejects.toThrow(ChunkStreamError);
    const truncated = compress(framesOf([randomBytes(50_000)]));
    await expect(receive(truncated.subarray(0, truncated.length - 10), 1000)).rejects.toThrow(
      /ends inside a compressed frame/,
    );
  });
});
