// The data plane over real HTTP on 127.0.0.1 (no other service needed).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { digestHex, listHex, sliceList } from '../../domain/digest-index';
import { encodeManifest, Manifest } from '../../domain/manifest';
import { ChunkReader } from '../../node/chunk-reader';
import { DataPlaneClient, DataPlaneError } from '../../node/dataplane/client';
import { buildDataPlane } from '../../node/dataplane/server';
import { selfSignedPair } from '../../common/certificate-authority';
import { TransferRegistry } from '../../node/dataplane/transfers';
import { scanDirectory, ScanResult } from '../../node/scan';
import { RemnantStore } from '../../node/store';

let tmp: string;
let store: RemnantStore;
let registry: TransferRegistry;
let server: FastifyInstance;
let address: string;
let image: ScanResult;

async function startServer(): Promise<void> {
  registry = new TransferRegistry(store);
  server = buildDataPlane(registry);
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  address = url.replace('http://', '');
}

beforeEach(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-dp-'));
  store = new RemnantStore(path.join(tmp, 'target'));
  const src = path.join(tmp, 'src-image');
  mkdirSync(src);
  writeFileSync(path.join(src, 'pages-1.img'), Buffer.concat([randomBytes(200 * 4096), Buffer.alloc(56 * 4096)]));
  writeFileSync(path.join(src, 'core-1.img'), randomBytes(3000));
  image = await scanDirectory(src, 'checkpoint', 'c1', 1);
  await startServer();
});

afterEach(async () => {
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
});

const sourceReader = () => ChunkReader.fromLocations(image.locations);
const storeFiles = () =>
  readdirSync(store.root, { recursive: true })
    .filter((f) => !String(f).startsWith('staging'))
    .sort();

describe('data plane', () => {
  it('sends only missing chunks, compressed, and the target rebuilds the exact image', async () => {
    const { transferId, token } = await registry.register('c1');
    const client = new DataPlaneClient({ address, transferId, token });
    const missing = await client.offer(image.manifest);
    // Distinct random pages and the core file; not the zero pages: the new image file's holes already read as zeros.
    expect(missing.count).toBe(200 + 1);
    const reader = sourceReader();
    await client.send(missing, reader, undefined, { verify: false }); // as a checkpoint goes: read in runs
    await reader.close();
    expect(client.lastMissing).toEqual({ checkpoint: 0, bundle: 0 });
    expect((await client.offer(image.manifest)).count).toBe(0);
    // Random pages do not compress, zero pages do: the wire carries about the random part plus the manifest.
    expect(client.counters.chunkBytes).toBe(200 * 4096 + 3000);
    expect(client.counters.wireBytes).toBeLessThan(
      client.counters.chunkBytes + client.counters.manifestBytes * 2 + 4096,
    );

    // The image is built in place as chunks arrive: nothing left to write at restore time.
    const transfer = await registry.get(transferId);
    expect(await transfer.imageMissing()).toBe(0);
    for (const f of ['pages-1.img', 'core-1.img'])
      expect(readFileSync(path.join(transfer.imageDir, f)).equals(readFileSync(path.join(tmp, 'src-image', f)))).toBe(
        true,
      );
  });

  it('resumes after a broken transfer without re-sending what arrived, even across a worker restart', async () => {
    const { transferId, token } = await registry.register('c1');
    const first = new DataPlaneClient({ address, transferId, token });
    const missing = await first.offer(image.manifest);
    const reader = sourceReader();
    await first.send(sliceList(missing, 0, 120), reader);
    await server.close();
    await startServer(); // a new registry loads the transfer from disk
    const second = new DataPlaneClient({ address, transferId, token });
    const rest = await second.offer(image.manifest);
    expect(listHex(rest)).toEqual(listHex(sliceList(missing, 120)));
    await second.send(rest, reader);
    await reader.close();
    expect((await second.offer(image.manifest)).count).toBe(0);
  });

  it('keeps what was offered for a worker that restarts before the transfer ends, and drops it once it ends', async () => {
    const { transferId, token } = await registry.register('c1');
    const client = new DataPlaneClient({ address, transferId, token });
    const missing = await client.offer(image.manifest);
    await server.close(); // a worker shutting down writes the manifest it was offered
    await startServer();
    const reloaded = await registry.get(transferId);
    expect(reloaded.manifests.checkpoint?.entries).toEqual(image.manifest.entries);
    expect((await reloaded.missing()).checkpoint).toBe(missing.count);
    await registry.finish(transferId);
    expect(readdirSync(path.join(store.root, 'staging'))).toEqual([]);
  });

  it('leaves out a chunk whose file changed after hashing in a live sync, and refuses to in a strict one', async () => {
    const { transferId, token } = await registry.register('c1');
    const client = new DataPlaneClient({ address, transferId, token });
    const missing = await client.offer(image.manifest);
    writeFileSync(path.join(tmp, 'src-image', 'core-1.img'), randomBytes(3000)); // changed after the scan
    const reader = sourceReader();
    await expect(client.send(missing, reader)).rejects.toThrow(/is not held intact on this node/);
    await client.send(missing, reader, undefined, { skipChanged: true });
    await reader.close();
    expect(client.counters.skipped).toBe(1);
    const core = digestHex(image.manifest.entries.find((e) => e.path === 'core-1.img')!.chunks!, 0);
    expect(listHex(await client.offer(image.manifest))).toEqual([core]);
  });

  it('refuses a missing or wrong token and an unknown transfer, naming why', async () => {
    const { transferId } = await registry.register('c1');
    await expect(new DataPlaneClient({ address, transferId, token: 'guess' }).offer(image.manifest)).rejects.toThrow(
      /HTTP 403\): wrong token/,
    );
    await expect(new DataPlaneClient({ address, transferId, token: '' }).offer(image.manifest)).rejects.toThrow(
      /HTTP 401/,
    );
    await expect(
      new DataPlaneClient({ address, transferId: 'nope', token: 'x' }).offer(image.manifest),
    ).rejects.toThrow(/HTTP 404\): no transfer nope/);
    const res = await fetch(`http://${address}/v1/transfers/${transferId}/manifests/checkpoint`, {
      method: 'POST',
      body: encodeManifest(image.manifest),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(res.status).toBe(401);
  });

  it('refuses a tampered chunk and keeps neither it nor the store changed', async () => {
    const { transferId, token } = await registry.register('c1');
    const client = new DataPlaneClient({ address, transferId, token });
    const missing = await client.offer(image.manifest);
    const before = storeFiles();
    const honest = sourceReader();
    const tampering = new ChunkReader([(h) => honest.candidates(h)]);
    tampering.read = async (h: string) => {
      const d = Buffer.from(await honest.read(h));
      d.writeUInt8(d.readUInt8(0) ^ 1, 0);
      return d;
    };
    const err = await client.send(sliceList(missing, 0, 5), tampering).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataPlaneError);
    expect((err as DataPlaneError).status).toBe(422);
    expect((err as Error).message).toMatch(/does not match its content/);
    expect((await registry.get(transferId)).pack.chunkCount).toBe(0);
    expect(await (await registry.get(transferId)).imageMissing()).toBe(missing.count);
    expect(storeFiles()).toEqual(before);
    await honest.close();
  });

  const srcFile = (f: string) => path.join(tmp, 'src-image', f);
  const imageEquals = async (transferId: string) => {
    const transfer = await registry.get(transferId);
    expect(await transfer.imageMissing()).toBe(0);
    for (const f of ['pages-1.img', 'core-1.img'])
      expect(readFileSync(path.join(transfer.imageDir, f)).equals(readFileSync(srcFile(f)))).toBe(true);
  };
  /** The source image as generation 1 in the target's store (what a remnant holds). */
  const holdOnTarget = async () => {
    const dir = store.imageDir('c1', 1);
    mkdirSync(dir, { recursive: true });
    for (const f of ['pages-1.img', 'core-1.img']) writeFileSync(path.join(dir, f), readFileSync(srcFile(f)));
    await store.commitGeneration('c1', image.manifest, {
      generation: 1,
      createdAt: new Date().toISOString(),
      strategy: 'content',
      sourceNode: 'pc1',
    });
    return dir;
  };
  /** Rewrites pages of the source image and rescans it as generation 2. */
  const changeSource = async (pages: number[]) => {
    const pagesFile = readFileSync(srcFile('pages-1.img'));
    for (const p of pages) randomBytes(4096).copy(pagesFile, p * 4096);
    writeFileSync(srcFile('pages-1.img'), pagesFile);
    const base = image.manifest;
    image = await scanDirectory(path.join(tmp, 'src-image'), 'checkpoint', 'c1', 2);
    return base;
  };

  it('sends a return move as a delta manifest and only the changed pages, into a copy of the held image', async () => {
    const imageDir = await holdOnTarget();
    const { transferId, token } = await registry.register('c1', undefined, { generation: 1, imageDir });
    const base = await changeSource([3, 77, 150]);
    const client = new DataPlaneClient({ address, transferId, token });
    const missing = await client.offer(image.manifest, base);
    expect(missing.count).toBe(3);
    expect(client.counters.manifestBytes).toBeLessThan(1000); // not 32 bytes for each of 256 pages
    const reader = sourceReader();
    await client.send(missing, reader, undefined, { verify: false });
    await reader.close();
    await imageEquals(transferId);
  });

  it('falls back to the whole manifest when the target does not hold the delta base', async () => {
    const { transferId, token } = await registry.register('c1');
    const base = await changeSource([1]);
    const client = new DataPlaneClient({ address, transferId, token });
    const missing = await client.offer(image.manifest, base);
    expect(missing.count).toBe(201);
    expect(client.counters.manifestBytes).toBeGreaterThan(256 * 32);
  });

  // Hazard 1 of issue 28: two different checkpoints under one number. The target holds its own generation 1; the
  // source's "generation 1" (taken by another copy) differs. A delta to "1" rebuilt on the target's would describe
  // another image, and every chunk would then verify against the wrong manifest.
  it('refuses a delta whose base the target holds under the same number but with other content, and takes the whole manifest', async () => {
    await holdOnTarget();
    const { transferId, token } = await registry.register('c1');
    // The source's own generation 1: another image (pages 10, 20, 30 differ), same number; then its next dump.
    await changeSource([10, 20, 30]);
    const sourcesOne = { ...image.manifest, generation: 1 };
    await changeSource([40]);
    const client = new DataPlaneClient({ address, transferId, token });
    const missing = await client.offer(image.manifest, sourcesOne);
    // Sent whole (the target's generation 1 is not the base the delta names), so the target describes the right image:
    // the pages the source changed since ITS generation 1 and the ones that differ from the target's are asked for.
    expect(client.counters.manifestBytes).toBeGreaterThan(256 * 32);
    const reader = sourceReader();
    await client.send(missing, reader, undefined, { verify: false });
    await reader.close();
    await imageEquals(transferId);
  });

  it('finds a byte damaged in the held image before the freeze and asks for that page again', async () => {
    const imageDir = await holdOnTarget();
    const held = readFileSync(path.join(imageDir, 'pages-1.img'));
    held.writeUInt8(held.readUInt8(42 * 4096 + 7) ^ 0x10, 42 * 4096 + 7); // disk decay in the remnant
    writeFileSync(path.join(imageDir, 'pages-1.img'), held);
    const { transferId, token } = await registry.register('c1', undefined, { generation: 1, imageDir });
    const base = await changeSource([3]);
    const client = new DataPlaneClient({ address, transferId, token });
    const missing = await client.offer(image.manifest, base);
    const damaged = digestHex(image.manifest.entries.find((e) => e.path === 'pages-1.img')!.chunks!, 42);
    const changed = digestHex(image.manifest.entries[1]!.chunks!, 3);
    expect(listHex(missing).sort()).toEqual([damaged, changed].sort());
    const reader = sourceReader();
    await client.send(missing, reader, undefined, { verify: false });
    await reader.close();
    await imageEquals(transferId);
  });

  it('refuses a page damaged on the source after it was hashed, writing nothing of its batch', async () => {
    const { transferId, token } = await registry.register('c1');
    const client = new DataPlaneClient({ address, transferId, token });
    const missing = await client.offer(image.manifest);
    const pagesFile = readFileSync(srcFile('pages-1.img'));
    pagesFile.writeUInt8(pagesFile.readUInt8(5 * 4096) ^ 1, 5 * 4096);
    writeFileSync(srcFile('pages-1.img'), pagesFile);
    const reader = sourceReader();
    const err = await client.send(missing, reader, undefined, { verify: false }).catch((e: unknown) => e);
    await reader.close();
    expect((err as DataPlaneError).status).toBe(422);
    expect((err as Error).message).toMatch(/does not match its content/);
    expect(await (await registry.get(transferId)).imageMissing()).toBe(missing.count);
  });

  it('takes two streams of the same chunks at once (a retried step whose first attempt still runs) intact', async () => {
    const { transferId, token } = await registry.register('c1');
    const first = new DataPlaneClient({ address, transferId, token });
    const second = new DataPlaneClient({ address, transferId, token });
    const missing = await first.offer(image.manifest);
    const [r1, r2] = [sourceReader(), sourceReader()];
    await Promise.all([
      first.send(missing, r1, undefined, { verify: false }),
      second.send(missing, r2, undefined, { verify: false }),
    ]);
    await Promise.all([r1.close(), r2.close()]);
    expect(first.lastMissing).toEqual({ checkpoint: 0, bundle: 0 });
    expect(second.lastMissing).toEqual({ checkpoint: 0, bundle: 0 });
    await imageEquals(transferId);
  });

  it('stops sending when its step is cancelled mid-stream, and the retry completes the image', async () => {
    const { transferId, token } = await registry.register('c1');
    const cancel = new AbortController();
    const first = new DataPlaneClient({ address, transferId, token }, cancel.signal);
    const missing = await first.offer(image.manifest);
    // The first read of the stream is where the heartbeat learns the attempt timed out.
    class CancelledOnFirstRead extends ChunkReader {
      override readAt(...args: Parameters<ChunkReader['readAt']>) {
        cancel.abort(new Error('activity heartbeat timed out'));
        return super.readAt(...args);
      }
    }
    const cancelled = new CancelledOnFirstRead([(h) => image.locations.get(h)]);
    await expect(first.send(missing, cancelled, undefined, { verify: false })).rejects.toThrow(
      /cancelled|heartbeat timed out/,
    );
    await cancelled.close();
    expect(first.counters.chunks).toBeLessThan(missing.count);
    const transfer = await registry.get(transferId);
    expect(await transfer.imageMissing()).toBeGreaterThan(0);

    const retry = new DataPlaneClient({ address, transferId, token });
    const left = await retry.offer(image.manifest);
    const reader = sourceReader();
    await retry.send(left, reader, undefined, { verify: false });
    await reader.close();
    expect(retry.lastMissing).toEqual({ checkpoint: 0, bundle: 0 });
    await imageEquals(transferId);
  });

  it('refuses a manifest whose path leaves the image directory', async () => {
    const { transferId, token } = await registry.register('c1');
    const evil: Manifest = {
      ...image.manifest,
      entries: [{ ...image.manifest.entries[0]!, path: '../../etc/cron.d/x' }],
    };
    const err = await new DataPlaneClient({ address, transferId, token }).offer(evil).catch((e: unknown) => e);
    expect((err as DataPlaneError).status).toBe(400);
    expect((err as Error).message).toMatch(/has a "\.\." segment/);
    expect((await registry.get(transferId)).manifests.checkpoint).toBeUndefined();
  });

  it("refuses a manifest of another container than the transfer's", async () => {
    const { transferId, token } = await registry.register('c2');
    await expect(new DataPlaneClient({ address, transferId, token }).offer(image.manifest)).rejects.toThrow(
      /container c1 offered to a transfer of c2/,
    );
  });
});

describe('data plane over TLS', () => {
  it('sends to a target that gave its certificate, and refuses a server showing any other', async () => {
    const [mine, other] = await Promise.all([
      selfSignedPair('zanshin-dataplane-test', '127.0.0.1'),
      selfSignedPair('zanshin-dataplane-impostor', '127.0.0.1'),
    ]);
    await server.close();
    registry = new TransferRegistry(store);
    server = buildDataPlane(registry, undefined, { cert: mine.certPem, key: mine.keyPem });
    address = (await server.listen({ host: '127.0.0.1', port: 0 })).replace('https://', '');
    const { transferId, token } = await registry.register('c1');
    const client = new DataPlaneClient({ address, transferId, token, certificate: mine.certPem });
    const missing = await client.offer(image.manifest);
    const reader = sourceReader();
    await client.send(missing, reader, undefined, { verify: false });
    await reader.close();
    expect(client.lastMissing).toEqual({ checkpoint: 0, bundle: 0 });
    // A source told to trust another certificate (what a machine that took over the address would show) sends nothing.
    const fooled = new DataPlaneClient({ address, transferId, token, certificate: other.certPem });
    await expect(fooled.offer(image.manifest)).rejects.toThrow(/unreachable: .*self-signed certificate/);
    // Nor does the target answer plain HTTP.
    await expect(new DataPlaneClient({ address, transferId, token }).offer(image.manifest)).rejects.toThrow(
      DataPlaneError,
    );
  });
});
