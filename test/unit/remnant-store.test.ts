import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  existsSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  readdirSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { unpackHex } from '../../domain/digest-index';
import { Manifest } from '../../domain/manifest';
import { ChunkReader, ChunkUnavailableError } from '../../node/chunk-reader';
import { applyBundle, writeImage } from '../../node/materialize';
import { scanDirectory, sha256, sha256Digest } from '../../node/scan';
import { StagingPack } from '../../node/staging';
import { RemnantStore } from '../../node/store';
import { collectStoreGarbage } from '../../node/store-retention';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-store-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

function makeRootfs(dir: string): void {
  mkdirSync(path.join(dir, 'bin'), { recursive: true });
  mkdirSync(path.join(dir, 'data'));
  writeFileSync(path.join(dir, 'bin', 'tool'), randomBytes(3 << 20)); // several 1-MiB chunks
  writeFileSync(path.join(dir, 'data', 'counter'), 'abc 1\n');
  writeFileSync(path.join(dir, 'data', 'old'), 'to be removed');
  symlinkSync('bin/tool', path.join(dir, 'tool-link'));
}

const withoutMtimes = (m: Manifest) => m.entries;

describe('bundle sync', () => {
  it('rebuilds a rootfs from chunks, then applies only what changed', async () => {
    const src = path.join(tmp, 'src');
    makeRootfs(src);
    const first = await scanDirectory(src, 'bundle', 'c1');
    const dst = path.join(tmp, 'dst');
    const reader = ChunkReader.fromLocations(first.locations);
    expect(await applyBundle(first.manifest, dst, null, reader, path.join(tmp, 'incoming'))).toMatchObject({
      written: 3,
      unchanged: 0,
      removed: 0,
      kept: 0,
    });
    await reader.close();
    expect(withoutMtimes((await scanDirectory(dst, 'bundle', 'c1')).manifest)).toEqual(withoutMtimes(first.manifest));

    writeFileSync(path.join(src, 'data', 'counter'), 'abc 2\n');
    writeFileSync(path.join(src, 'data', 'new'), 'fresh');
    rmSync(path.join(src, 'data', 'old'));
    const second = await scanDirectory(src, 'bundle', 'c1');
    const reader2 = ChunkReader.fromLocations(second.locations);
    const stats = await applyBundle(second.manifest, dst, first.manifest, reader2, path.join(tmp, 'incoming'));
    await reader2.close();
    expect(stats).toMatchObject({ written: 2, unchanged: 1, removed: 1, kept: 0 });
    expect(readFileSync(path.join(dst, 'data', 'counter'), 'utf8')).toBe('abc 2\n');
    expect(existsSync(path.join(dst, 'data', 'old'))).toBe(false);
    expect(withoutMtimes((await scanDirectory(dst, 'bundle', 'c1')).manifest)).toEqual(withoutMtimes(second.manifest));
  });

  it('in a partial apply, keeps the last copy of a file whose new content never arrived, and says so', async () => {
    const src = path.join(tmp, 'src');
    makeRootfs(src);
    const first = await scanDirectory(src, 'bundle', 'c1');
    const dst = path.join(tmp, 'dst');
    const r1 = ChunkReader.fromLocations(first.locations);
    await applyBundle(first.manifest, dst, null, r1, path.join(tmp, 'incoming'));
    await r1.close();
    writeFileSync(path.join(src, 'data', 'counter'), 'abc 9\n');
    writeFileSync(path.join(src, 'data', 'fresh'), 'new file');
    const second = await scanDirectory(src, 'bundle', 'c1');
    // Only the chunks of the first sync are held: the changed and the new file's content never arrived.
    const r2 = ChunkReader.fromLocations(first.locations);
    await expect(applyBundle(second.manifest, dst, first.manifest, r2, path.join(tmp, 'incoming'))).rejects.toThrow(
      /not held intact/,
    );
    const result = await applyBundle(second.manifest, dst, first.manifest, r2, path.join(tmp, 'incoming'), {
      partial: true,
    });
    await r2.close();
    expect(result.kept).toBe(2);
    expect(readFileSync(path.join(dst, 'data', 'counter'), 'utf8')).toBe('abc 1\n');
    expect(existsSync(path.join(dst, 'data', 'fresh'))).toBe(false);
    // The manifest returned describes the disk exactly.
    expect(withoutMtimes((await scanDirectory(dst, 'bundle', 'c1')).manifest)).toEqual(withoutMtimes(result.applied));
  });

  it('never writes through a symlink planted in the target rootfs', async () => {
    const outside = path.join(tmp, 'outside');
    mkdirSync(outside);
    const dst = path.join(tmp, 'dst');
    mkdirSync(dst);
    symlinkSync(outside, path.join(dst, 'etc'));
    const src = path.join(tmp, 'src');
    mkdirSync(path.join(src, 'etc'), { recursive: true });
    writeFileSync(path.join(src, 'etc', 'passwd'), 'root::0:0::/:/bin/sh\n');
    const { manifest, locations } = await scanDirectory(src, 'bundle', 'c1');
    const reader = ChunkReader.fromLocations(locations);
    // A manifest naming etc/passwd without the etc directory: the symlink in the way is refused.
    const fileOnly = { ...manifest, entries: manifest.entries.filter((e) => e.type === 'file') };
    await expect(applyBundle(fileOnly, dst, null, reader, path.join(tmp, 'incoming'))).rejects.toThrow(
      /etc is not a directory on this node/,
    );
    expect(readdirSync(outside)).toEqual([]);
    // With the directory entry, the symlink is replaced by a real directory before anything is written below it.
    await applyBundle(manifest, dst, null, reader, path.join(tmp, 'incoming'));
    await reader.close();
    expect(readdirSync(outside)).toEqual([]);
    expect(readFileSync(path.join(dst, 'etc', 'passwd'), 'utf8')).toMatch(/^root/);
  });
});

describe('image materialization', () => {
  it('assembles an image from an older image and received chunks, verifying every page', async () => {
    const old = path.join(tmp, 'old');
    mkdirSync(old);
    const pages = randomBytes(64 * 4096);
    writeFileSync(path.join(old, 'pages-1.img'), pages);
    writeFileSync(path.join(old, 'core-1.img'), 'core');
    const oldScan = await scanDirectory(old, 'checkpoint', 'c1', 1);

    const fresh = path.join(tmp, 'fresh');
    mkdirSync(fresh);
    const changed = Buffer.from(pages);
    randomBytes(4096).copy(changed, 10 * 4096);
    writeFileSync(path.join(fresh, 'pages-1.img'), changed);
    writeFileSync(path.join(fresh, 'core-1.img'), 'core');
    const newScan = await scanDirectory(fresh, 'checkpoint', 'c1', 2);

    const staging = await StagingPack.open(path.join(tmp, 'staging'));
    const oldReader = ChunkReader.fromLocations(oldScan.locations);
    const missing = newScan.manifest.entries.flatMap((e) => unpackHex(e.chunks!)).filter((h) => !oldReader.has(h));
    expect(missing).toHaveLength(1);
    const page = changed.subarray(10 * 4096, 11 * 4096);
    await staging.append([{ hash: Buffer.from(missing[0]!, 'hex'), data: page }], () => true);

    const reader = new ChunkReader([
      (h) => oldScan.locations.get(h),
      (h) => {
        const l = staging.location(h);
        return l ? [l] : undefined;
      },
    ]);
    const out = path.join(tmp, 'out');
    await writeImage(newScan.manifest, out, reader);
    expect(readFileSync(path.join(out, 'pages-1.img')).equals(changed)).toBe(true);
    await reader.close();

    // A page of the old image corrupted on disk is never used: with no other copy, the write fails loudly.
    const corrupt = Buffer.from(pages);
    corrupt.writeUInt8(corrupt.readUInt8(5 * 4096) ^ 0xff, 5 * 4096);
    writeFileSync(path.join(old, 'pages-1.img'), corrupt);
    const reader2 = ChunkReader.fromLocations(oldScan.locations);
    await expect(writeImage(newScan.manifest, path.join(tmp, 'out2'), reader2)).rejects.toThrow(ChunkUnavailableError);
    await reader2.close();
    await staging.close();
  });
});

describe('staging pack', () => {
  it('keeps verified chunks across a reopen and drops a torn index record', async () => {
    const dir = path.join(tmp, 'st');
    const a = randomBytes(4096),
      b = randomBytes(100);
    const pack = await StagingPack.open(dir);
    expect(
      await pack.append(
        [
          { hash: sha256Digest(a), data: a },
          { hash: sha256Digest(b), data: b },
          { hash: sha256Digest(b), data: b },
        ],
        () => true,
      ),
    ).toBe(2); // b twice in one batch: stored once
    await pack.close();
    appendFileSync(path.join(dir, 'chunks.idx'), Buffer.alloc(20)); // a crash mid-record
    const again = await StagingPack.open(dir);
    expect(again.has(sha256(a)) && again.has(sha256(b))).toBe(true);
    const reader = new ChunkReader([
      (h) => {
        const l = again.location(h);
        return l ? [l] : undefined;
      },
    ]);
    expect((await reader.read(sha256(b))).equals(b)).toBe(true);
    await reader.close();
    await again.close();
  });

  it('refuses a tampered or unrequested chunk and keeps nothing of that batch', async () => {
    const pack = await StagingPack.open(path.join(tmp, 'st'));
    const good = randomBytes(64),
      bad = randomBytes(64);
    await expect(
      pack.append(
        [
          { hash: sha256Digest(good), data: good },
          { hash: sha256Digest(good), data: bad },
        ],
        () => true,
      ),
    ).rejects.toThrow(/does not match its content/);
    await expect(pack.append([{ hash: sha256Digest(good), data: good }], () => false)).rejects.toThrow(/not asked for/);
    expect(pack.chunkCount).toBe(0);
    await pack.close();
    expect(readFileSync(path.join(tmp, 'st', 'chunks.bin')).length).toBe(0);
  });
});

describe('remnant store retention', () => {
  it('keeps the newest generations and removes expired remnants with their chunks', async () => {
    const store = new RemnantStore(path.join(tmp, 'store'));
    for (const id of ['c1', 'c2']) {
      for (const n of [1, 2, 3]) {
        mkdirSync(store.imageDir(id, n), { recursive: true });
        writeFileSync(path.join(store.imageDir(id, n), 'core-1.img'), `${id}-${n}`);
        const { manifest } = await scanDirectory(store.imageDir(id, n), 'checkpoint', id, n);
        await store.commitGeneration(id, manifest, {
          generation: n,
          createdAt: '',
          strategy: 'content',
          sourceNode: 'pc1',
        });
      }
    }
    mkdirSync(store.imageDir('c1', 4), { recursive: true }); // a checkpoint in progress
    const now = new Date('2026-01-01T00:00:00Z');
    await store.markRemnant('c2', 60_000, new Date(now.getTime() - 120_000));
    const removed = await collectStoreGarbage(store, 2, now);
    expect(removed).toEqual({ remnants: ['c2'], generations: ['c1/1'] });
    expect(await store.generations('c1')).toEqual([2, 3]);
    expect(existsSync(store.imageDir('c1', 4))).toBe(true);
    expect(await store.containers()).toEqual(['c1']);
    // Only remnant bundles are indexed (images are reused as seeds): c1 runs here, so nothing of it is.
    expect((await store.heldChunks()).size).toBe(0);
    mkdirSync(path.join(store.rootfsDir('c1'), 'etc'), { recursive: true });
    writeFileSync(path.join(store.rootfsDir('c1'), 'etc', 'motd'), 'hello');
    const bundle = await scanDirectory(store.rootfsDir('c1'), 'bundle', 'c1');
    await store.writeBundleManifest('c1', bundle.manifest);
    await store.markRemnant('c1', 60_000, now);
    expect([...(await store.heldChunks()).keys()]).toEqual([sha256(Buffer.from('hello'))]);
  });

  it('recycles a generation without ever giving its number again', async () => {
    const store = new RemnantStore(path.join(tmp, 'store'));
    for (const n of [1, 2]) {
      mkdirSync(store.imageDir('c1', n), { recursive: true });
      writeFileSync(path.join(store.imageDir('c1', n), 'pages-1.img'), randomBytes(8192));
      const { manifest } = await scanDirectory(store.imageDir('c1', n), 'checkpoint', 'c1', n);
      await store.commitGeneration('c1', manifest, {
        generation: n,
        createdAt: '',
        strategy: 'content',
        sourceNode: 'pc1',
      });
    }
    expect(await store.nextGeneration('c1')).toBe(3);
    await store.recycleGeneration('c1', 2);
    // Gone from the list and from disk, but its number stays taken (another PC was sent generation 2).
    expect(await store.generations('c1')).toEqual([1]);
    expect(readdirSync(store.generationDir('c1', 2))).toEqual([]);
    expect(await store.nextGeneration('c1')).toBe(3);
    expect(await store.nextGeneration('fresh')).toBe(1);
    // GC removes the emptied directory like any unfinished older generation.
    mkdirSync(store.imageDir('c1', 3), { recursive: true });
    writeFileSync(path.join(store.imageDir('c1', 3), 'pages-1.img'), randomBytes(4096));
    const { manifest } = await scanDirectory(store.imageDir('c1', 3), 'checkpoint', 'c1', 3);
    await store.commitGeneration('c1', manifest, {
      generation: 3,
      createdAt: '',
      strategy: 'content',
      sourceNode: 'pc1',
    });
    expect((await collectStoreGarbage(store, 2, new Date())).generations).toEqual(['c1/2']);
    expect(await store.generations('c1')).toEqual([1, 3]);
  });
});

describe('a store after a power-off cut its writes short', () => {
  it('leaves out a remnant whose mark came back empty (and GC removes it), and takes an empty manifest for an unfinished generation', async () => {
    const store = new RemnantStore(path.join(tmp, 'store'));
    for (const id of ['ok', 'torn']) {
      makeRootfs(store.rootfsDir(id));
      await store.writeBundleManifest(id, (await scanDirectory(store.rootfsDir(id), 'bundle', id)).manifest);
      await store.markRemnant(id, 3_600_000);
    }
    writeFileSync(path.join(store.containerDir('torn'), 'remnant.json'), ''); // what ext4 left after the power cut
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect((await store.inventory()).map((c) => c.containerId)).toEqual(['ok']);
      // Every transfer reads the held chunks: one damaged remnant must not stop them all.
      expect((await store.heldChunks()).size).toBeGreaterThan(0);
      await expect(store.remnant('torn')).rejects.toThrow(/remnant.json is damaged \(0 bytes, not JSON\)/);
      expect((await collectStoreGarbage(store, 1)).remnants).toEqual(['torn']);
      expect(await store.containers()).toEqual(['ok']);
    } finally {
      errors.mockRestore();
    }

    // A generation's manifest is written last: empty, the generation is not complete.
    mkdirSync(store.imageDir('ok', 1), { recursive: true });
    writeFileSync(path.join(store.generationDir('ok', 1), 'manifest'), '');
    expect(await store.generations('ok')).toEqual([]);
  });
});

// Issue 28, hazard 1: generation numbers were per-PC counts. pc2 holds generations 1-5 of c1 (taken on pc1); pc3
// restores c1 from its older generation 3 (a recovery): its next dumps were numbered 4 and 5 again, two different
// checkpoints under numbers pc2 also holds, and "newest is highest" pointed at pc2's stale 5.
describe('generation numbers are unique in the cluster', () => {
  it("numbers a restored copy's dumps past every earlier copy's, and refuses to dump a stale copy", async () => {
    const pc3 = new RemnantStore(path.join(tmp, 'pc3'));
    const hold = async (store: RemnantStore, generation: number) => {
      mkdirSync(store.imageDir('c1', generation), { recursive: true });
      await store.commitGeneration(
        'c1',
        { kind: 'checkpoint', containerId: 'c1', generation, entries: [] },
        {
          generation,
          createdAt: new Date().toISOString(),
          strategy: 'content',
          sourceNode: 'pc1',
        },
      );
    };
    // pc1 ran c1 under epoch 1: its dumps are 1000001..1000005; pc3 holds the third.
    await hold(pc3, 1_000_003);
    await pc3.setEpoch('c1', 2); // the recovery restored it here under the next epoch
    const next = await pc3.nextGeneration('c1');
    expect(next).toBe(2_000_001);
    expect(next).toBeGreaterThan(1_000_005);
    // An epoch never goes back.
    await expect(pc3.setEpoch('c1', 1)).rejects.toThrow(/epoch 1 is older than epoch 2/);

    // pc4 still runs c1 under epoch 1 (cut off while pc3 took over) and was sent a checkpoint of epoch 2: stale.
    const pc4 = new RemnantStore(path.join(tmp, 'pc4'));
    await pc4.setEpoch('c1', 1);
    await hold(pc4, 2_000_001);
    await expect(pc4.nextGeneration('c1')).rejects.toThrow(/stale/);
  });
});
