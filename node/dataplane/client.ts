import http from 'node:http';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CompressStream } from 'zstd-napi';
import { encodeFrame } from '../../domain/chunk-frames';
import { encodeManifest, HASH_BYTES, Manifest } from '../../domain/manifest';
import type { TransferTarget, WireCounters } from '../../domain/reports';
import { ChunkReader, ChunkUnavailableError } from '../chunk-reader';
import { ErrorType } from '../../common/errors';

/** Raw chunk bytes per request: a broken connection costs at most this much again. */
const REQUEST_BATCH_BYTES = 64 << 20;

export class DataPlaneError extends Error {
  override name = 'DataPlaneError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The target's data plane does not answer at all (its PC or worker is down): the workflow may pick another target. */
export class TargetUnreachableError extends DataPlaneError {
  override name = ErrorType.TargetUnreachable;
}

/** Source side of a transfer. */
export class DataPlaneClient {
  readonly counters: WireCounters = { wireBytes: 0, manifestBytes: 0, chunkBytes: 0, chunks: 0, skipped: 0 };

  constructor(private readonly target: TransferTarget) {}

  private request(
    path: string,
    contentType: string,
    body: Readable | Buffer,
  ): Promise<{ status: number; body: Buffer }> {
    const [host, port] = this.target.address.split(':');
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host,
          port: Number(port),
          method: 'POST',
          path: `/v1/transfers/${encodeURIComponent(this.target.transferId)}${path}`,
          headers: { 'content-type': contentType, authorization: `Bearer ${this.target.token}` },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (b: Buffer) => parts.push(b));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
          res.on('error', reject);
        },
      );
      req.on('error', (err) =>
        reject(new TargetUnreachableError(`data plane of ${this.target.address} unreachable: ${err.message}`)),
      );
      if (Buffer.isBuffer(body)) {
        req.end(body);
      } else {
        pipeline(body, req).catch(reject);
      }
    });
  }

  private check(res: { status: number; body: Buffer }, what: string): Buffer {
    this.counters.wireBytes += res.body.length;
    if (res.status === 200) return res.body;
    let message = res.body.toString('utf8');
    try {
      message = (JSON.parse(message) as { message: string }).message;
    } catch {
      /* keep the raw text */
    }
    throw new DataPlaneError(`${what} refused by ${this.target.address} (HTTP ${res.status}): ${message}`, res.status);
  }

  /** Offers a manifest; returns the chunk hashes the target lacks. */
  async offer(manifest: Manifest): Promise<string[]> {
    const body = encodeManifest(manifest);
    this.counters.manifestBytes += body.length;
    this.counters.wireBytes += body.length;
    const res = this.check(
      await this.request(`/manifests/${manifest.kind}`, 'application/octet-stream', body),
      `${manifest.kind} manifest`,
    );
    const missing: string[] = [];
    for (let at = 0; at + HASH_BYTES <= res.length; at += HASH_BYTES)
      missing.push(res.toString('hex', at, at + HASH_BYTES));
    return missing;
  }

  /**
   * Streams the given chunks, read (and verified) from this node, in compressed batches. With `skipChanged`, a chunk
   * whose file changed since it was hashed is left out instead of failing the transfer (a running container's rootfs).
   */
  async send(
    hashes: string[],
    reader: ChunkReader,
    onProgress: (sentChunks: number) => void = () => undefined,
    { skipChanged = false }: { skipChanged?: boolean } = {},
  ): Promise<void> {
    let i = 0;
    while (i < hashes.length) {
      const start = i;
      let raw = 0;
      while (i < hashes.length && raw < REQUEST_BATCH_BYTES) raw += reader.candidates(hashes[i++]!)[0]?.length ?? 0;
      const batch = hashes.slice(start, i);
      const counters = this.counters;
      const frames = Readable.from(
        (async function* () {
          for (const h of batch) {
            let data: Buffer;
            try {
              data = await reader.read(h);
            } catch (err) {
              if (!(skipChanged && err instanceof ChunkUnavailableError)) throw err;
              counters.skipped++;
              continue;
            }
            counters.chunkBytes += data.length;
            counters.chunks++;
            yield* encodeFrame(h, data);
          }
        })(),
      );
      const counted = new Transform({
        transform(chunk: Buffer, _enc, done) {
          counters.wireBytes += chunk.length;
          done(null, chunk);
        },
      });
      // zstd level 1: fast enough not to throttle a 1 Gbit/s link on one core; zero pages shrink to almost nothing.
      // pipeline, not pipe: a chunk that cannot be read must abort the request, not hang it.
      const produced = pipeline(frames, new CompressStream({ compressionLevel: 1 }), counted);
      const [res] = await Promise.all([this.request('/chunks', 'application/zstd', counted), produced]);
      this.check(res, 'chunk stream');
      onProgress(i);
    }
  }
}
