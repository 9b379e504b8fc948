// Differential checkpoints (kernel strategy): CRIU's pagemap format, merging a chain into one image, and how the
// store keeps chains: parent links, GC that keeps parents, merges that survive a power-off at any point.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  decodePagemap,
  encodePagemap,
  Pagemap,
  PE_LAZY,
  PE_PARENT,
  PE_PRESENT,
  planMerge,
} from '../../domain/criu-pagemap';
import { PAGE_SIZE } from '../../domain/manifest';
import type { GenerationMeta } from '../../domain/reports';
import { mergeImageChain } from '../../node/merge-generation';
import { scanDirectory } from '../../node/scan';
import { RemnantStore } from '../../node/store';
import { collectStoreGarbage } from '../../node/store-retention';

// pagemap-1.img of a CRIU 4.2.1 pre-dump in a guest PC, made with a parent (runc checkpoint --pre-dump --parent-path).
const REAL = Buffer.from(
  'GUNWVCVACFYCAAAACAELAAAACICggAIQACAEKAELAAAACIDAqQIQACABKAULAAAACIDArgIQACABKAELAAAACIDgrwIQACABKAIMAAAACIDg65QBEAAgBigBDAAAAAiAgOyUARAAIAEoAQ4AAAAIgMDzicf/HxAAIAEoAw4AAAAIgKD6icf/HxAAIAEoAg==',
  'base64',
);

const MAGIC = REAL.subarray(0, 8);
const pm = (pagesId: number, entries: [number, number, number][]): Pagemap => ({
  magic: MAGIC,
  pagesId,
  entries: entries.map(([page, pages, flags]) => ({ page, pages, flags })),
});

describe("CRIU's pagemap images", () => {
  it("reads a real differential pre-dump's pagemap and writes it back byte for byte", () => {
    const m = decodePagemap(REAL);
    expect(m.pagesId).toBe(1);
    expect(m.entries[0]).toEqual({ page: 0x401000 / PAGE_SIZE, pages: 1, flags: PE_PRESENT });
    expect(m.entries.filter((e) => e.flags & PE_PARENT).length).toBeGreaterThan(3);
    expect(encodePagemap(m).equals(REAL)).toBe(true);
  });

  it('refuses truncated or malformed images', () => {
    expect(() => decodePagemap(REAL.subarray(0, 20))).toThrow(/past its end/);
    expect(() => decodePagemap(Buffer.alloc(4))).toThrow(/truncated/);
  });
});

describe('merging a chain of pagemaps', () => {
  // Grandparent: pages 10-19 present. Parent: 10-11 dirtied, 12-19 in grandparent, 30 new. Newest: 11 dirtied,
  // 10 and 12-19 in parent, 30 in parent (lazy), 31 new.
  const grand = pm(1, [[10, 10, PE_PRESENT]]);
  const parent = pm(1, [
    [10, 2, PE_PRESENT],
    [12, 8, PE_PARENT],
    [30, 1, PE_PRESENT],
  ]);
  const newest = pm(1, [
    [10, 1, PE_PARENT],
    [11, 1, PE_PRESENT],
    [12, 8, PE_PARENT],
    [30, 1, PE_PARENT | PE_LAZY],
    [31, 1, PE_PRESENT],
  ]);

  it('reads every page from the newest image that holds it, in order, every run present', () => {
    const { pagemap, runs } = planMerge([newest, parent, grand]);
    expect(pagemap.entries.map((e) => e.flags)).toEqual([
      PE_PRESENT,
      PE_PRESENT,
      PE_PRESENT,
      PE_PRESENT | PE_LAZY,
      PE_PRESENT,
    ]);
    expect(runs).toEqual([
      { level: 1, offset: 0, pages: 1 }, // page 10: parent's first
      { level: 0, offset: 0, pages: 1 }, // page 11: newest
      { level: 2, offset: 2, pages: 8 }, // 12-19: grandparent's 3rd on
      { level: 1, offset: 2, pages: 1 }, // 30: parent's third present page
      { level: 0, offset: 1, pages: 1 }, // 31
    ]);
  });

  it('names a page the chain holds nowhere', () => {
    expect(() => planMerge([newest, parent])).toThrow(/in no image of the chain/);
    expect(() => planMerge([pm(1, [[5, 1, PE_PARENT]]), grand])).toThrow(/missing from image 1/);
  });

  it('writes a self-contained image whose pages are those of the chain', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-merge-'));
    try {
      // Each page's content names the image and the page it came from.
      const page = (level: number, p: number) => Buffer.alloc(PAGE_SIZE, `${level}:${p};`);
      const write = (dir: string, m: Pagemap, pages: number[], level: number) => {
        mkdirSync(dir, { recursive: true });
        writeFileSync(path.join(dir, 'pagemap-1.img'), encodePagemap(m));
        writeFileSync(path.join(dir, 'pages-1.img'), Buffer.concat(pages.map((p) => page(level, p))));
        writeFileSync(path.join(dir, 'core-1.img'), `core of ${level}`);
      };
      const dirs = ['2', '1', '0'].map((d) => path.join(tmp, d));
      write(dirs[2]!, grand, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 2);
      write(dirs[1]!, parent, [10, 11, 30], 1);
      write(dirs[0]!, newest, [11, 31], 0);
      const out = path.join(tmp, 'merged');
      const result = await mergeImageChain(dirs, out);
      expect(result.pages).toBe(12);
      // The merged pages' hashes, taken from the chain's manifests by the runs, are those of the merged file.
      const levels = await Promise.all(dirs.map(async (d) => (await scanDirectory(d, 'checkpoint', 'c1', 1)).manifest));
      const [pagesFile] = result.merged;
      const fromChain = Buffer.concat(
        pagesFile!.runs.map((r) =>
          levels[r.level]!.entries.find((e) => e.path === pagesFile!.sources[r.level])!.chunks!.subarray(
            r.offset * 32,
            (r.offset + r.pages) * 32,
          ),
        ),
      );
      const scanned = (await scanDirectory(out, 'checkpoint', 'c1', 1)).manifest.entries.find(
        (e) => e.path === 'pages-1.img',
      );
      expect(fromChain.equals(scanned!.chunks!)).toBe(true);
      const merged = readFileSync(path.join(out, 'pages-1.img'));
      const expected = [[1, 10], [0, 11], ...[12, 13, 14, 15, 16, 17, 18, 19].map((p) => [2, p]), [1, 30], [0, 31]].map(
        ([l, p]) => page(l!, p!),
      );
      expect(merged.equals(Buffer.concat(expected))).toBe(true);
      expect(readFileSync(path.join(out, 'core-1.img'), 'utf8')).toBe('core of 0');
      expect(
        decodePagemap(readFileSync(path.join(out, 'pagemap-1.img'))).entries.every((e) => e.flags & PE_PRESENT),
      ).toBe(true);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('chains in the store', () => {
  let tmp: string;
  let store: RemnantStore;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-chain-'));
    store = new RemnantStore(tmp);
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  /** A generation whose image is one file; differential ones linked to their parent. */
  async function generation(n: number, parent?: number): Promise<void> {
    mkdirSync(store.imageDir('c1', n), { recursive: true });
    writeFileSync(path.join(store.imageDir('c1', n), 'core-1.img'), `generation ${n}`);
    const meta: GenerationMeta = {
      generation: n,
      createdAt: new Date().toISOString(),
      strategy: 'kernel',
      sourceNode: 'vm1',
      ...(parent ? { parent } : {}),
    };
    await store.writeMeta('c1', meta);
    if (parent) await store.linkParent('c1', n, parent);
    const { manifest } = await scanDirectory(store.imageDir('c1', n), 'checkpoint', 'c1', n);
    await store.writeManifest('c1', n, manifest);
  }

  it('links a differential generation to its parent, and refuses one whose parent is not here', async () => {
    await generation(1);
    await generation(2, 1);
    expect(readlinkSync(path.join(store.imageDir('c1', 2), 'parent'))).toBe('../../1/image');
    expect(await store.chain('c1', 2)).toEqual([2, 1]);
    await expect(store.linkParent('c1', 3, 7)).rejects.toThrow(/invalid parent/);
    mkdirSync(store.imageDir('c1', 9), { recursive: true });
    await expect(store.linkParent('c1', 9, 5)).rejects.toThrow(/generation 5, which this PC does not hold/);
  });

  it('garbage collection keeps every parent a kept generation needs', async () => {
    await generation(1);
    await generation(2, 1);
    await generation(3, 2);
    await generation(4);
    await generation(5, 3);
    const removed = await collectStoreGarbage(store, 1);
    expect(removed.generations).toEqual(['c1/4']);
    expect(await store.generations('c1')).toEqual([1, 2, 3, 5]);
  });

  const fakeMerge = (dirs: string[], out: string) => {
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'core-1.img'), `merged ${dirs.length}`);
    return Promise.resolve({ pages: dirs.length });
  };
  const describeDir = async (dir: string) => (await scanDirectory(dir, 'checkpoint', 'c1', 3)).manifest;

  it('merges a chain into a self-contained generation whose parents can then go', async () => {
    await generation(1);
    await generation(2, 1);
    await generation(3, 2);
    expect(await store.mergeGeneration('c1', 3, fakeMerge, describeDir)).toEqual({ chainLength: 3, pages: 3 });
    expect(await store.chain('c1', 3)).toEqual([3]);
    expect((await store.readMeta('c1', 3)).rewritten).toBe('merged');
    expect(readFileSync(path.join(store.imageDir('c1', 3), 'core-1.img'), 'utf8')).toBe('merged 3');
    expect(existsSync(path.join(store.generationDir('c1', 3), 'image.chained'))).toBe(false);
    // The manifest describes the merged image.
    const { manifest } = await store.readGeneration('c1', 3);
    expect(manifest.entries.find((e) => e.path === 'core-1.img')?.size).toBe('merged 3'.length);
    await collectStoreGarbage(store, 1);
    expect(await store.generations('c1')).toEqual([3]);
  });

  it('a merge cut by a power-off before its commit leaves the old chain as it was', async () => {
    await generation(1);
    await generation(2, 1);
    await generation(3, 2);
    const before = await store.readGeneration('c1', 3);
    // Power-off after the image was swapped, before meta.json was written.
    const dir = store.generationDir('c1', 3);
    const original = store.writeMeta.bind(store);
    store.writeMeta = () => Promise.reject(new Error('power off'));
    await expect(store.mergeGeneration('c1', 3, fakeMerge, describeDir)).rejects.toThrow(/power off/);
    store.writeMeta = original;
    expect(existsSync(path.join(dir, 'image.chained'))).toBe(true); // the interrupted state
    await store.recoverMerge('c1', 3);
    expect(readFileSync(path.join(store.imageDir('c1', 3), 'core-1.img'), 'utf8')).toBe('generation 3');
    expect(await store.chain('c1', 3)).toEqual([3, 2, 1]);
    expect((await store.readGeneration('c1', 3)).manifest).toEqual(before.manifest);
    expect(existsSync(path.join(dir, 'manifest.merged'))).toBe(false);
  });

  it('a merge cut by a power-off after its commit is finished at recovery', async () => {
    await generation(1);
    await generation(2, 1);
    await generation(3, 2);
    const dir = store.generationDir('c1', 3);
    // Power-off right after meta.json was committed: the old image and the new manifest are still aside (the merge's
    // own final recovery, its second call, never runs).
    let calls = 0;
    const recover = store.recoverMerge.bind(store);
    store.recoverMerge = (id, n) => (++calls === 2 ? Promise.reject(new Error('power off')) : recover(id, n));
    await expect(store.mergeGeneration('c1', 3, fakeMerge, describeDir)).rejects.toThrow(/power off/);
    store.recoverMerge = recover;
    expect(existsSync(path.join(dir, 'image.chained'))).toBe(true);
    expect(existsSync(path.join(dir, 'manifest.merged'))).toBe(true);
    await store.recoverMerge('c1', 3);
    expect(await store.chain('c1', 3)).toEqual([3]);
    expect(readFileSync(path.join(store.imageDir('c1', 3), 'core-1.img'), 'utf8')).toBe('merged 3');
    expect((await store.readGeneration('c1', 3)).manifest.entries[0]?.size).toBe('merged 3'.length);
    expect(existsSync(path.join(dir, 'image.chained'))).toBe(false);
  });
});
