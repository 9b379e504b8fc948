// The frozen rootfs sync hashes again only what changed since the live one (issue 29), and never trusts a file that
// changed lately: a write through a shared mapping to a page already dirty stamps no time.
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Manifest } from '../../domain/manifest';
import { scanDirectory, StatCache } from '../../node/scan';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'zanshin-statcache-'));
  mkdirSync(path.join(root, 'etc'));
  writeFileSync(path.join(root, 'etc', 'config'), 'setting = 1\n');
  writeFileSync(path.join(root, 'data'), Buffer.alloc(3 << 20, 7)); // three 1 MiB chunks
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const scan = (statCache?: StatCache, live = true) =>
  scanDirectory(root, 'bundle', 'c1', undefined, { live, statCache });
const chunksOf = (m: Manifest, p: string) => m.entries.find((e) => e.path === p)!.chunks!;

it('reuses the hashes of files whose stat is unchanged, hashes again what changed, and gives the same manifest', async () => {
  const cache = new StatCache(-60_000); // every file counts as long left alone
  await scan(cache);
  expect([...cache.keys()].sort()).toEqual(['data', 'etc/config']);
  // Proof the cache is what answers for an unchanged file: a planted hash comes back.
  const planted = Buffer.alloc(3 * 32, 1);
  cache.set('data', { ...cache.get('data')!, chunks: planted });
  appendFileSync(path.join(root, 'etc', 'config'), 'setting = 2\n');
  const frozen = await scan(cache, false);
  expect(chunksOf(frozen.manifest, 'data')).toEqual(planted);
  // The changed file was read again: its hash is the fresh scan's.
  const fresh = await scan(undefined, false);
  expect(chunksOf(frozen.manifest, 'etc/config')).toEqual(chunksOf(fresh.manifest, 'etc/config'));
  cache.delete('data');
  expect((await scan(cache, false)).manifest).toEqual(fresh.manifest);
});

it('keeps nothing of files changed lately, nor of a file replaced by another of the same size', async () => {
  const cache = new StatCache(); // the default: five minutes
  await scan(cache);
  expect(cache.size).toBe(0);
  const shortCache = new StatCache(-60_000);
  await scan(shortCache);
  const before = shortCache.get('data')!.chunks;
  // Same path, same size, another inode and content: hashed again.
  rmSync(path.join(root, 'data'));
  writeFileSync(path.join(root, 'data'), Buffer.alloc(3 << 20, 8));
  const after = chunksOf((await scan(shortCache, false)).manifest, 'data');
  expect(after).not.toEqual(before);
  expect(after).toEqual(chunksOf((await scan(undefined, false)).manifest, 'data'));
});
