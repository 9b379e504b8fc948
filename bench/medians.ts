// Issue 29's goals over repeated runs of bench:migration: each figure is taken within one run (a move against the
// stop-and-copy of that same run), then the median of the runs is printed, per size.
//   npm run bench:medians -- bench/results/<run 1>.json bench/results/<run 2>.json bench/results/<run 3>.json
import { readFileSync } from 'node:fs';
import type { BenchResults, SizeResult } from './measure';

export interface GoalRow {
  sizeMiB: number;
  runs: number;
  /** First move: the client's longest silence, and that over the same run's stop-and-copy (goal <= 0.15). */
  firstMs: number;
  stopAndCopyMs: number;
  firstOverStopAndCopy: number;
  /** First move: every freeze (pre-copy rounds and the move) over the final one (goal <= 1.2). */
  freezesOverFinal: number;
  /** Return move: the client's longest silence, Zanshin's own dump + runc restore, and the rest (goal <= 300 ms). */
  returnMs: number;
  dumpPlusRestoreMs: number;
  returnOverheadMs: number;
  /** Request to done, both moves. */
  firstTotalMs: number;
  returnTotalMs: number;
}

export function median(values: number[]): number {
  if (!values.length) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function perRun(size: SizeResult) {
  const first = size.methods['zanshin first move'];
  const back = size.methods['zanshin return move'];
  const stop = size.methods['stop-and-copy (runc + rsync)'];
  if (!first || !back || !stop) throw new Error(`${size.sizeMiB} MiB: a run lacks a Zanshin move or stop-and-copy`);
  // CRIU's dump alone where the run has it (its `dump (final)` also holds the traffic and writes CRIU's config).
  const dump = back.steps['checkpoint: dump'] ?? back.steps['dump (final)'];
  const restore = back.steps['runc restore'];
  if (dump === undefined || restore === undefined)
    throw new Error(`${size.sizeMiB} MiB: the return move's steps lack its dump or runc restore (an older run?)`);
  return {
    firstMs: first.downtimeMs,
    stopAndCopyMs: stop.downtimeMs,
    firstOverStopAndCopy: first.downtimeMs / stop.downtimeMs,
    freezesOverFinal: (first.downtimeMs + (first.frozenInPreCopyMs ?? 0)) / first.downtimeMs,
    returnMs: back.downtimeMs,
    dumpPlusRestoreMs: dump + restore,
    returnOverheadMs: back.downtimeMs - dump - restore,
    firstTotalMs: first.totalMs,
    returnTotalMs: back.totalMs,
  };
}

/** The medians, per size present in every run. */
export function goalMedians(runs: BenchResults[]): GoalRow[] {
  if (!runs.length) throw new Error('no runs given');
  const sizes = runs[0]!.sizes
    .map((s) => s.sizeMiB)
    .filter((mib) => runs.every((r) => r.sizes.some((s) => s.sizeMiB === mib)));
  return sizes.map((mib) => {
    const figures = runs.map((r) => perRun(r.sizes.find((s) => s.sizeMiB === mib)!));
    const m = (k: keyof ReturnType<typeof perRun>) => median(figures.map((f) => f[k]));
    return {
      sizeMiB: mib,
      runs: runs.length,
      firstMs: m('firstMs'),
      stopAndCopyMs: m('stopAndCopyMs'),
      firstOverStopAndCopy: m('firstOverStopAndCopy'),
      freezesOverFinal: m('freezesOverFinal'),
      returnMs: m('returnMs'),
      dumpPlusRestoreMs: m('dumpPlusRestoreMs'),
      returnOverheadMs: m('returnOverheadMs'),
      firstTotalMs: m('firstTotalMs'),
      returnTotalMs: m('returnTotalMs'),
    };
  });
}

export function goalTable(rows: GoalRow[]): string {
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const lines = [
    '| MiB | first move (client) | stop-and-copy | first / stop-and-copy (goal <= 0.15) | freezes / final (goal <= 1.2) | return move (client) | own dump + runc restore | return - both (goal <= 0.30 s) | request to done, first / return |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows)
    lines.push(
      `| ${r.sizeMiB} | ${s(r.firstMs)} s | ${s(r.stopAndCopyMs)} s | ${r.firstOverStopAndCopy.toFixed(2)} | ${r.freezesOverFinal.toFixed(2)} | ${s(r.returnMs)} s | ${s(r.dumpPlusRestoreMs)} s | ${s(r.returnOverheadMs)} s | ${s(r.firstTotalMs)} / ${s(r.returnTotalMs)} s |`,
    );
  return lines.join('\n');
}

if (require.main === module) {
  const files = process.argv.slice(2);
  if (!files.length) {
    console.error('usage: npm run bench:medians -- <bench result .json> ... (the runs to take medians of)');
    process.exit(2);
  }
  const runs = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as BenchResults);
  console.log(`medians of ${runs.length} run(s): ${files.join(', ')}\n`);
  console.log(goalTable(goalMedians(runs)));
  const redis = runs.flatMap((r) => (r.redis ? [r.redis] : []));
  if (redis.length) {
    console.log('\nredis (medians):');
    for (const [i, route] of redis[0]!.moves.map((m) => m.route).entries()) {
      const moves = redis.map((r) => r.moves[i]!).filter(Boolean);
      const m = (f: (x: (typeof moves)[number]) => number) => (median(moves.map(f)) / 1000).toFixed(2);
      console.log(
        `  ${route}: reported ${m((x) => x.downtimeMs)} s, client's longest wait ${m((x) => x.clientLongestWaitMs)} s, ` +
          `writer's ${m((x) => x.writerLongestWaitMs)} s, wire ${(median(moves.map((x) => x.wireBytes)) / 1e6).toFixed(1)} MB`,
      );
    }
  }
}
