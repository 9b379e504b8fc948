// A byte flipped in a rootfs file a PC holds (issue 14): the PC must not claim the damaged chunk, so the source sends
// it, and the file is written again from it. One flipped byte costs one chunk, not every later move to that PC.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FILE_CHUNK_SIZE, readMissingPositions } from '../../domain/manifest';
import { ChunkReader } from '../../node/chunk-reader';
import { TransferRegistry } from '../../node/dataplane/transfers';
import { applyBundle } from '../../node/materialize';
import { scanDirectory } from '../../node/scan';
import { RemnantStore } from '../../node/store';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-held-damage-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

it('asks again for a held rootfs chunk damaged on disk, and writes its file again', async () => {
  // pc2 holds c1's rootfs as a remnant: a 3-chunk file and a small one.
  const store = new RemnantStore(path.join(tmp, 'store'));
  const rootfs = store.rootfsDir('c1');
  mkdirSync(path.join(rootfs, 'data'), { recursive: true });
  const big = randomBytes(3 * FILE_CHUNK_SIZE);
  writeFileSync(path.join(rootfs, 'data', 'big'), big);
  writeFileSync(path.join(rootfs, 'small'), 'hello');
  const { manifest } = await scanDirectory(rootfs, 'bundle', 'c1');
  await store.writeBundleManifest('c1', manifest);
  await store.markRemnant('c1', 60_000);
  // One byte of the second chunk flips on pc2's disk; size and mtime stay.
  const damaged = Buffer.from(big);
  damaged[FILE_CHUNK_SIZE + 10]! ^= 0xff;
  writeFileSync(path.join(rootfs, 'data', 'big'), damaged);

  // The container comes back with the same rootfs: the offer asks for exactly the damaged chunk.
  const registry = new TransferRegistry(store);
  const { transferId } = await registry.register('c1');
  const transfer = await registry.get(transferId);
  const answer = await transfer.offer(manifest);
  const { hashes, positions } = readMissingPositions(manifest, answer);
  expect(hashes.count).toBe(1);
  const bigIndex = manifest.entries.findIndex((e) => e.path === 'data/big');
  expect([positions[0], positions[1]]).toEqual([bigIndex, 1]);
  expect(transfer.isDamagedHeld(hashes.hash(0).toString('hex'))).toBe(true);

  // The source's copy arrives; applying the bundle rewrites the damaged file although its manifest is unchanged.
  const sourceDir = path.join(tmp, 'source');
  mkdirSync(sourceDir);
  writeFileSync(path.join(sourceDir, 'big'), big);
  const fromSource = await scanDirectory(sourceDir, 'bundle', 'c1');
  const sent = ChunkReader.fromLocations(fromSource.locations);
  const reader = new ChunkReader([(h) => sent.candidates(h), (h) => transfer.reader().candidates(h)]);
  const stats = await applyBundle(manifest, rootfs, manifest, reader, path.join(tmp, 'incoming'), {
    damaged: (h) => transfer.isDamagedHeld(h),
  });
  expect(stats).toMatchObject({ written: 1, unchanged: 1 });
  expect(readFileSync(path.join(rootfs, 'data', 'big')).equals(big)).toBe(true);
  await registry.closeAll();
});

it('writes a damaged file again even when an intact copy of its chunk lies elsewhere on the PC', async () => {
  const store = new RemnantStore(path.join(tmp, 'store'));
  const data = randomBytes(FILE_CHUNK_SIZE / 2);
  // c1's remnant and c3's both hold the same file; c1's copy gets a flipped byte.
  for (const id of ['c1', 'c3']) {
    const rootfs = store.rootfsDir(id);
    mkdirSync(rootfs, { recursive: true });
    writeFileSync(path.join(rootfs, 'lib.so'), data);
    await store.writeBundleManifest(id, (await scanDirectory(rootfs, 'bundle', id)).manifest);
    await store.markRemnant(id, 60_000);
  }
  const manifest = (await store.readBundleManifest('c1'))!;
  const damaged = Buffer.from(data);
  damaged[5]! ^= 0x40;
  writeFileSync(path.join(store.rootfsDir('c1'), 'lib.so'), damaged);

  const registry = new TransferRegistry(store);
  const { transferId } = await registry.register('c1');
  const transfer = await registry.get(transferId);
  await transfer.offer(manifest);
  const stats = await applyBundle(
    manifest,
    store.rootfsDir('c1'),
    manifest,
    transfer.reader(),
    path.join(tmp, 'incoming'),
    { damaged: (h) => transfer.isDamagedHeld(h) },
  );
  expect(stats).toMatchObject({ written: 1, unchanged: 0 });
  expect(readFileSync(path.join(store.rootfsDir('c1'), 'lib.so')).equals(data)).toBe(true);
  await registry.closeAll();
});
