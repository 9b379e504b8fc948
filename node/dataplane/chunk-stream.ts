// The receiving end of a chunk stream: zstd-decompressed straight into one of two reused buffers, cut into frames
// where they lie (views, no copies), and handed to `store` a batch at a time while the other buffer fills. Nothing
// is allocated per chunk: per-chunk buffers kept a node worker ~100 MiB above its working set during a 1 GiB
// transfer (dead buffers waiting for the collector), and fresh memory is slow to touch on some VMs.
import { DCtx, dStreamOutSize } from 'zstd-napi/binding';
import { FRAME_HEADER_BYTES, FrameBatch, FrameError } from '../../domain/chunk-frames';
import { FILE_CHUNK_SIZE, HASH_BYTES } from '../../domain/manifest';

/** Bytes of chunk data per batch handed to `store` (two buffers of about this size per open stream). */
export const STREAM_BATCH_BYTES = 4 << 20;

export class ChunkStreamError extends Error {
  override name = 'ChunkStreamError';
}

/** The stream decompresses to more than the receiver takes per request. */
export class StreamTooLargeError extends ChunkStreamError {
  override name = 'StreamTooLargeError';
}

/**
 * Decompresses and parses `source` (the zstd-compressed frames of one request) and stores its frames in batches;
 * resolves with the sum of what `store` returned. One batch is stored while the next is decompressed. Past
 * `maxBytes` of decompressed frames it stops reading (a few hundred KiB of zstd can expand to gigabytes).
 */
export async function receiveChunkStream(
  source: AsyncIterable<Buffer>,
  store: (batch: FrameBatch) => Promise<number>,
  { batchBytes = STREAM_BATCH_BYTES, maxBytes = Infinity }: { batchBytes?: number; maxBytes?: number } = {},
): Promise<number> {
  const out = dStreamOutSize();
  // A batch, the partial frame carried over from the previous buffer, and room for one decompression call.
  const size = batchBytes + FRAME_HEADER_BYTES + FILE_CHUNK_SIZE + out;
  const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
  // Where each frame of a buffer starts (a frame holds at least one byte of data).
  const startLists = [new Uint32Array(Math.ceil(size / (FRAME_HEADER_BYTES + 1))), new Uint32Array(0)];
  startLists[1] = new Uint32Array(startLists[0]!.length);
  const dctx = new DCtx();
  let current = 0;
  let buf = buffers[0]!;
  let written = 0; // decompressed bytes in buf
  let parsed = 0; // of which cut into frames
  let starts = startLists[0]!;
  let count = 0; // frames cut in buf
  let frameBytes = 0;
  let inFrame = false; // inside a zstd frame (input so far ends mid-frame)
  let stored = 0;
  let total = 0; // decompressed bytes so far
  let storing: Promise<void> = Promise.resolve();

  const cut = () => {
    while (written - parsed >= FRAME_HEADER_BYTES) {
      const length = buf.readUInt32BE(parsed + HASH_BYTES);
      if (length === 0 || length > FILE_CHUNK_SIZE)
        throw new FrameError(`chunk frame of ${length} bytes is out of bounds`);
      const end = parsed + FRAME_HEADER_BYTES + length;
      if (end > written) break;
      starts[count++] = parsed;
      frameBytes += length;
      parsed = end;
    }
  };
  /** Hands the parsed frames to `store` and continues in the other buffer (once its batch is stored). */
  const flush = async () => {
    const batch = new FrameBatch(buf, starts, count);
    count = 0;
    frameBytes = 0;
    await storing;
    const next = buffers[1 - current]!;
    const carried = buf.copy(next, 0, parsed, written);
    storing = batch.count
      ? store(batch).then((n) => {
          stored += n;
        })
      : Promise.resolve();
    storing.catch(() => undefined); // awaited at the next flush or at the end; never unhandled meanwhile
    current = 1 - current;
    buf = next;
    starts = startLists[current]!;
    written = carried;
    parsed = 0;
  };
  const decompress = (src: Buffer): { produced: number; consumed: number } => {
    try {
      const [ret, produced, consumed] = dctx.decompressStream(buf.subarray(written, written + out), src);
      inFrame = ret !== 0;
      written += produced;
      total += produced;
      return { produced, consumed };
    } catch (err) {
      throw new ChunkStreamError(`chunk stream is not valid zstd: ${(err as Error).message}`);
    }
  };

  for await (const input of source) {
    let src = input;
    for (;;) {
      const { produced, consumed } = decompress(src);
      src = src.subarray(consumed);
      if (total > maxBytes)
        throw new StreamTooLargeError(
          `chunk stream decompresses to more than ${Math.round(maxBytes / 2 ** 20)} MiB, all this PC takes per request ` +
            '(ZANSHIN_DATAPLANE_MAX_STREAM_MIB)',
        );
      cut();
      if (frameBytes >= batchBytes || buf.length - written < out) await flush();
      // Done with this input once it is consumed and zstd has no more output pending (it filled less than asked).
      if (src.length === 0 && produced < out) break;
    }
  }
  if (inFrame) throw new ChunkStreamError('chunk stream is not valid zstd: it ends inside a compressed frame');
  if (written !== parsed) throw new FrameError(`chunk stream ended inside a frame (${written - parsed} bytes left)`);
  await flush();
  await storing;
  return stored;
}
