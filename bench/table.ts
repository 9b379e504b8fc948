// Prints the README's benchmark table (markdown) from a results file of `npm run bench:migration`.
// Run: npm run bench:table -- bench/results/<file>.json
import { readFileSync } from 'node:fs';
import type { MethodResult } from './baselines';

interface Results {
  sizes: {
    sizeMiB: number;
    workload: string;
    dirtyPagesPerSecond: number;
    linkRate: string | null;
    methods: Record<string, MethodResult>;
  }[];
  nodeWorkerPeakRssMiB: Record<string, number>;
}

const file = process.argv[2];
if (!file) {
  console.error('usage: npm run bench:table -- bench/results/<file>.json');
  process.exit(2);
}
const r = JSON.parse(readFileSync(file, 'utf8')) as Results;
const s = (ms: number) => (ms / 1000).toFixed(2);
const mb = (b: number) => (b / 1e6 >= 100 ? (b / 1e6).toFixed(0) : (b / 1e6).toFixed(1));
const first = r.sizes[0];
if (!first) throw new Error(`${file} holds no results`);
console.log(
  `${first.workload} memory, ${first.dirtyPagesPerSecond} dirty pages/s, links ${first.linkRate ?? 'unshaped'}; downtime in s (wire MB)\n`,
);
const names = Object.keys(first.methods);
console.log(`| MiB | ${names.join(' | ')} | first / stop-and-copy | return - (checkpoint + restore) |`);
console.log(`|---|${names.map(() => '---').join('|')}|---|---|`);
for (const x of r.sizes) {
  const m = x.methods;
  const cells = names.map((n) => `${s(m[n]!.downtimeMs)} (${mb(m[n]!.wireBytes)})`);
  const sc = m['stop-and-copy (runc + rsync)']!;
  const rs = m['return with rsync -B4096']!;
  const ratio = m['zanshin first move']!.downtimeMs / sc.downtimeMs;
  const over = m['zanshin return move']!.downtimeMs - rs.steps.checkpoint! - rs.steps.restore!;
  console.log(`| ${x.sizeMiB} | ${cells.join(' | ')} | ${ratio.toFixed(2)} | ${over >= 0 ? '+' : ''}${s(over)} |`);
}
console.log(`\nPeak resident memory of the node workers: ${JSON.stringify(r.nodeWorkerPeakRssMiB)} MiB`);
