// Prints the README's benchmark table (markdown) from a results file of `npm run bench:migration`.
// Run: npm run bench:table -- bench/results/<file>.json
import { readFileSync } from 'node:fs';
import type { BenchResults } from './measure';

const file = process.argv[2];
if (!file) {
  console.error('usage: npm run bench:table -- bench/results/<file>.json');
  process.exit(2);
}
const r = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
const s = (ms: number) => (ms / 1000).toFixed(2);
const mb = (b: number) => (b / 1e6 >= 100 ? (b / 1e6).toFixed(0) : (b / 1e6).toFixed(1));
const first = r.sizes[0];
if (!first) throw new Error(`${file} holds no results`);
console.log(
  `${first.workload} memory, ${first.dirtyPagesPerSecond} dirty pages/s, links ${first.linkRate ?? 'unshaped'}; downtime in s (wire MB)\n`,
);
// Every method any size measured (Podman may be missing at a size where it failed).
const names = [...new Set(r.sizes.flatMap((x) => Object.keys(x.methods)))];
console.log(
  `| MiB | ${names.join(' | ')} | first / stop-and-copy | return - (checkpoint + restore) | node workers' peak MiB |`,
);
console.log(`|---|${names.map(() => '---').join('|')}|---|---|---|`);
for (const x of r.sizes) {
  const m = x.methods;
  const cells = names.map((n) => (m[n] ? `${s(m[n].downtimeMs)} (${mb(m[n].wireBytes)})` : 'failed'));
  const sc = m['stop-and-copy (runc + rsync)']!;
  const rs = m['return with rsync -B4096']!;
  const ratio = m['zanshin first move']!.downtimeMs / sc.downtimeMs;
  const over = m['zanshin return move']!.downtimeMs - rs.steps.checkpoint! - rs.steps.restore!;
  const peaks = x.nodeWorkerPeakRssMiB ? Object.values(x.nodeWorkerPeakRssMiB).join(' / ') : '-';
  console.log(
    `| ${x.sizeMiB} | ${cells.join(' | ')} | ${ratio.toFixed(2)} | ${over >= 0 ? '+' : ''}${s(over)} | ${peaks} |`,
  );
}
for (const x of r.sizes) if (x.podmanUnavailable) console.log(`\nPodman at ${x.sizeMiB} MiB: ${x.podmanUnavailable}`);
console.log(`\nPeak resident memory of the node workers over all sizes: ${JSON.stringify(r.nodeWorkerPeakRssMiB)} MiB`);
const e = r.evacuation;
if (e)
  console.log(
    `\nRoom evacuation, ${e.containers} containers of ${e.sizeMiB} MiB leaving one PC at once: the PC was free after ` +
      `${s(e.pcFreeMs)} s (${e.outcomes.filter((o) => o.outcome === 'moved').length} moved)` +
      (e.stopAndCopyOneByOneMs !== null ? `; stop-and-copy of each in turn: ${s(e.stopAndCopyOneByOneMs)} s` : '') +
      `; node workers' peak memory ${JSON.stringify(e.nodeWorkerPeakRssMiB)} MiB`,
  );
