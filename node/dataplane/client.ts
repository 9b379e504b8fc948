import http from 'node:http';
import https from 'node:https';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CompressStream } from 'zstd-napi';
import { encodeFrame, FRAME_HEADER_BYTES, writeFrameHeader } from '../../domain/chunk-frames';
import type { ChunkList } from '../../domain/digest-index';
import { encodeManifest, Manifest, readMissingPositions } from '../../domain/manifest';
import type { TransferTarget, WireCounters } from '../../domain/reports';
import { ChunkReader, ChunkUnavailableError } from '../chunk-reader';
import type { ChunkLocation } from '../scan';
import { REQUEST_BATCH_BYTES } from '../../common/data-plane-limits';
import { ErrorType } from '../../common/errors';

// Raw chunk bytes per request (REQUEST_BATCH_BYTES). The target stores chunks as they arrive (in batches of a few
// MiB), so a broken connection loses little; fewer requests keep the link busy (each one waits for the previous
// one's answer). Targets take at least that much per request (MIN_STREAM_MIB).

/** How long a send that broke off waits for the target's answer (its reason) before failing without one. */
const ANSWER_GRACE_MS = 2000;

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
  /** What the target said it still lacks after the last chunk stream. */
  lastMissing: { checkpoint: number; bundle: number } | null = null;
  /** Where the chunks the last offer returned lie in the manifest offered: [entry, chunk] pairs, in their order. */
  missingPositions: Uint32Array = new Uint32Array(0);

  /** `signal`: the step was cancelled (e.g. its heartbeat timed out and a retry took over): stop sending at once. */
  constructor(
    private readonly target: TransferTarget,
    private readonly signal?: AbortSignal,
  ) {}

  private request(
    path: string,
    contentType: string,
    body: Readable | Buffer,
  ): Promise<{ status: number; body: Buffer }> {
    const [host, port] = this.target.address.split(':');
    // TLS to a target that gave its certificate: that certificate is the only one trusted (it came with the transfer,
    // through Temporal), so a machine that took over the target's address cannot read or answer the stream.
    const tls = this.target.certificate;
    return new Promise((resolve, reject) => {
      const req = (tls ? https : http).request(
        {
          host,
          port: Number(port),
          ...(tls ? { ca: tls, minVersion: 'TLSv1.3' as const } : {}),
          method: 'POST',
          path: `/v1/transfers/${encodeURIComponent(this.target.transferId)}${path}`,
          headers: { 'content-type': contentType, authorization: `Bearer ${this.target.token}` },
          ...(this.signal ? { signal: this.signal } : {}),
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (b: Buffer) => parts.push(b));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
          res.on('error', reject);
        },
      );
      // A target that refuses a body answers and closes before reading all of it: the sender then sees a reset. The
      // answer says why, so a broken send waits a moment for it before failing with the reset alone.
      let failed = false;
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        if (this.signal?.aborted)
          reject(new DataPlaneError(`transfer to ${this.target.address} cancelled: ${String(this.signal.reason)}`));
        else setTimeout(() => reject(err), ANSWER_GRACE_MS).unref();
      };
      req.on('error', (err) =>
        fail(new TargetUnreachableError(`data plane of ${this.target.address} unreachable: ${err.message}`)),
      );
      if (Buffer.isBuffer(body)) {
        req.end(body);
      } else {
        pipeline(body, req).catch((err: Error) =>
          fail(new DataPlaneError(`sending to ${this.target.address} broke off: ${err.message}`)),
        );
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

  /**
   * Offers a manifest; returns the chunks the target lacks. With a base (a checkpoint manifest the target holds)
   * only the differences travel; a target that turns out not to hold it gets the whole manifest.
   */
  async offer(manifest: Manifest, base?: Manifest): Promise<ChunkList> {
    const path = `/manifests/${manifest.kind}`;
    const post = async (body: Buffer) => {
      this.counters.manifestBytes += body.length;
      this.counters.wireBytes += body.length;
      return this.request(path, 'application/octet-stream', body);
    };
    let raw = await post(encodeManifest(manifest, base));
    if (base && raw.status === 409) raw = await post(encodeManifest(manifest));
    const res = this.check(raw, `${manifest.kind} manifest`);
    try {
      const { hashes, positions } = readMissingPositions(manifest, res);
      this.missingPositions = positions;
      return hashes;
    } catch (err) {
      throw new DataPlaneError(
        `the answer of ${this.target.address} to the ${manifest.kind} manifest: ${(err as Error).message}`,
      );
    }
  }

  /**
   * Streams the given chunks in compressed batches. With `verify` (the default) each chunk is read on its own and
   * checked against its hash first; with `skipChanged` as well, a chunk whose file changed since it was hashed is
   * left out instead of failing the transfer (a running container's rootfs). Without `verify` (a checkpoint image,
   * hashed when it was taken and read-only since) chunks lying side by side are read with one call: the target
   * verifies every chunk anyway; `locate` then says where the k-th of `hashes` lies (else the reader is asked).
   */
  async send(
    hashes: ChunkList,
    reader: ChunkReader,
    onProgress: (sentChunks: number) => void = () => undefined,
    {
      skipChanged = false,
      verify = true,
      locate,
    }: { skipChanged?: boolean; verify?: boolean; locate?: (k: number) => ChunkLocation } = {},
  ): Promise<void> {
    const { count } = hashes;
    const hex = (k: number) => hashes.hash(k).toString('hex');
    const where = locate ?? ((k: number) => firstLocation(reader, hex(k)));
    const frames = new FrameWriter(hashes);
    let i = 0;
    while (i < count) {
      this.signal?.throwIfAborted();
      const start = i;
      let raw = 0;
      while (i < count && raw < REQUEST_BATCH_BYTES) {
        raw += verify ? chunkLength(reader, hex(i)) : where(i).length;
        i++;
      }
      const end = i;
      const counters = this.counters;
      // zstd level 1: fast enough not to throttle a 1 Gbit/s link on one core; zero pages shrink to almost nothing.
      const compressor = new CompressStream({ compressionLevel: 1 });
      const counted = new Transform({
        transform(chunk: Buffer, _enc, done) {
          counters.wireBytes += chunk.length;
          done(null, chunk);
        },
      });
      const request = this.request('/chunks', 'application/zstd', counted);
      const signal = this.signal;
      const produce = async (): Promise<void> => {
        if (verify) {
          for (let k = start; k < end; k++) {
            signal?.throwIfAborted();
            let data: Buffer;
            try {
              data = await reader.read(hex(k));
            } catch (err) {
              if (!(skipChanged && err instanceof ChunkUnavailableError)) throw err;
              counters.skipped++;
              continue;
            }
            counters.chunkBytes += data.length;
            counters.chunks++;
            await writeTo(compressor, Buffer.concat(encodeFrame(hashes.hash(k), data)));
          }
        } else {
          for (const batch of runBatches(adjacentRuns(start, end, where))) {
            signal?.throwIfAborted();
            const buf = await frames.fill(batch, reader);
            signal?.throwIfAborted(); // reading a batch takes a while: a cancelled step sends none of it
            for (const run of batch) {
              counters.chunkBytes += run.bytes;
              counters.chunks += run.lengths.length;
            }
            await writeTo(compressor, buf);
          }
        }
        compressor.end();
      };
      // A chunk that cannot be read must abort the request, not hang it.
      const produced = Promise.all([produce(), pipeline(compressor, counted)]).catch((err: unknown) => {
        counted.destroy(err as Error);
        throw err;
      });
      const [res] = await Promise.all([request, produced]);
      const body = this.check(res, 'chunk stream');
      this.lastMissing = (
        JSON.parse(body.toString('utf8')) as { missing: { checkpoint: number; bundle: number } }
      ).missing;
      onProgress(i);
    }
  }
}

/** Resolves once the stream consumed `buf` (CompressStream compresses in its transform), so `buf` can be reused. */
function writeTo(stream: Writable, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => stream.write(buf, (err) => (err ? reject(err) : resolve())));
}

/** Chunks first, first+1, ... of a send, lying side by side in one file. */
interface Run {
  file: string;
  offset: number;
  bytes: number;
  first: number;
  lengths: number[];
}

/** Longest single read when chunks lie side by side in one file. */
const MAX_RUN_BYTES = 1 << 20;

function firstLocation(reader: ChunkReader, hash: string): ChunkLocation {
  const loc = reader.candidates(hash)[0];
  if (!loc) throw new ChunkUnavailableError(`chunk ${hash} is not held on this node`);
  return loc;
}

const chunkLength = (reader: ChunkReader, hash: string): number => reader.candidates(hash)[0]?.length ?? 0;

/** Runs read together and handed to the compressor as one buffer. */
const BATCH_BYTES = 512 << 10;
const BATCH_RUNS = 256;

/**
 * Groups runs into batches: a move back sends pages scattered over the image (a return at 1 GiB: ~1,200 runs of one
 * page), and one read and one compressor call per run, one after another, took ~0.4 s of the downtime for 5 MB.
 */
export function* runBatches(runs: Iterable<Run>): Generator<Run[]> {
  let batch: Run[] = [];
  let bytes = 0;
  for (const run of runs) {
    batch.push(run);
    bytes += run.bytes;
    if (bytes >= BATCH_BYTES || batch.length >= BATCH_RUNS) {
      yield batch;
      batch = [];
      bytes = 0;
    }
  }
  if (batch.length) yield batch;
}

/** Groups chunks [from, to) of a send into runs that lie side by side in one file, each read with one call. */
export function* adjacentRuns(from: number, to: number, locate: (k: number) => ChunkLocation): Generator<Run> {
  let run: Run | null = null;
  for (let k = from; k < to; k++) {
    const loc = locate(k);
    if (
      run &&
      loc.file === run.file &&
      loc.offset === run.offset + run.bytes &&
      run.bytes + loc.length <= MAX_RUN_BYTES
    ) {
      run.bytes += loc.length;
      run.lengths.push(loc.length);
      continue;
    }
    if (run) yield run;
    run = { file: loc.file, offset: loc.offset, bytes: loc.length, first: k, lengths: [loc.length] };
  }
  if (run) yield run;
}

/** Builds frames of a run in buffers reused from run to run (fresh pages are slow to fault in on some VMs). */
class FrameWriter {
  constructor(private readonly hashes: ChunkList) {}

  private readBuf = Buffer.allocUnsafe(BATCH_BYTES + MAX_RUN_BYTES);
  private frameBuf = Buffer.allocUnsafe(BATCH_BYTES + MAX_RUN_BYTES + 256 * FRAME_HEADER_BYTES);

  /** The frames of a batch of runs, their reads issued side by side (the buffer is reused by the next call). */
  async fill(batch: Run[], reader: ChunkReader): Promise<Buffer> {
    let bytes = 0;
    let chunks = 0;
    for (const run of batch) {
      bytes += run.bytes;
      chunks += run.lengths.length;
    }
    if (this.readBuf.length < bytes) this.readBuf = Buffer.allocUnsafe(bytes);
    const need = bytes + chunks * FRAME_HEADER_BYTES;
    if (this.frameBuf.length < need) this.frameBuf = Buffer.allocUnsafe(need);
    const starts: number[] = [];
    for (let i = 0, at = 0; i < batch.length; at += batch[i]!.bytes, i++) starts.push(at);
    const datas = await Promise.all(
      batch.map((run, i) =>
        reader.readAt(
          { file: run.file, offset: run.offset, length: run.bytes },
          this.readBuf.subarray(starts[i], starts[i]! + run.bytes),
        ),
      ),
    );
    let at = 0;
    batch.forEach((run, i) => {
      const data = datas[i]!;
      if (data.length !== run.bytes)
        throw new ChunkUnavailableError(
          `${run.file} is shorter than its manifest says (${data.length} of ${run.bytes} bytes at ${run.offset})`,
        );
      let from = 0;
      run.lengths.forEach((len, k) => {
        at += writeFrameHeader(this.frameBuf, at, this.hashes.hash(run.first + k), len);
        data.copy(this.frameBuf, at, from, from + len);
        at += len;
        from += len;
      });
    });
    return this.frameBuf.subarray(0, at);
  }
}
