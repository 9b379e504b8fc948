// Benchmark: the frozen rootfs sync's scan (in a move's downtime), without and with the live scan's stat cache.
// Run: npm run bench:frozen-scan [-- DIR]   (default: the redis test image's rootfs, built by the tests; read only).
// Prints the median of 5 of each, measured in one run, with the page cache warm for both (as after a live scan).
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { scanDirectory, StatCache } from '../node/scan';

const IMAGES = '/var/cache/zanshin/images';

function defaultRootfs(): string {
  const redis = existsSync(IMAGES) ? readdirSync(IMAGES).find((d) => d.startsWith('redis-')) : undefined;
  if (!redis) throw new Error(`no redis image under ${IMAGES}: run the tests once (npm test), or name a directory`);
  return path.join(IMAGES, redis, 'rootfs');
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const root = process.argv[2] ?? defaultRootfs();
  const cache = new StatCache();
  const live = await timed(() => scanDirectory(root, 'bundle', 'bench', undefined, { live: true, statCache: cache }));
  const { manifest } = await scanDirectory(root, 'bundle', 'bench');
  const files = manifest.entries.filter((e) => e.type === 'file');
  const bytes = files.reduce((n, e) => n + (e.size ?? 0), 0);
  console.log(
    `${root}: ${files.length} files, ${(bytes / 2 ** 20).toFixed(1)} MiB; ${cache.size} left alone for 5 min+`,
  );
  console.log(`live scan (fills the cache): ${live.toFixed(0)} ms`);
  const without: number[] = [];
  const withCache: number[] = [];
  for (let i = 0; i < 5; i++) {
    without.push(await timed(() => scanDirectory(root, 'bundle', 'bench')));
    withCache.push(await timed(() => scanDirectory(root, 'bundle', 'bench', undefined, { statCache: cache })));
  }
  const [a, b] = [median(without), median(withCache)];
  console.log(`frozen scan, every file hashed: ${a.toFixed(0)} ms (median of 5)`);
  console.log(`frozen scan, with the stat cache: ${b.toFixed(0)} ms (median of 5); ratio ${(a / b).toFixed(1)}x`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
