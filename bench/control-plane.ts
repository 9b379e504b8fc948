// The control plane at campus scale (issue 30): `npm run bench:control-plane -- --pcs 1000 --seconds 60 --json F`.
// PostgreSQL, a Temporal dev server and two migration-api processes on one database; 1,000 synthetic PCs report
// every 10 s (100 reports/s) and long-poll their task queues; placement is asked meanwhile; a rebalancing run is
// planned over the whole campus; a semester of history is written and pruned. Prints the figures (and writes JSON).
import { Command, InvalidArgumentError } from 'commander';
import { writeFileSync } from 'node:fs';
import { runControlPlaneLoad } from '../infra/load/control-plane-load';

const int = (min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`a whole number of at least ${min}`);
  return n;
};

async function main(): Promise<void> {
  const o = new Command('bench:control-plane')
    .option('--pcs <n>', 'synthetic PCs', int(1), 1000)
    .option('--containers-per-pc <n>', 'containers running on each PC', int(0), 2)
    .option('--apis <n>', 'migration-api processes on the one database', int(1), 2)
    .option('--seconds <n>', 'how long the PCs report while measured', int(5), 60)
    .option('--report-every <s>', 'seconds between two reports of a PC', int(1), 10)
    .option('--no-pollers', 'no long polls on the PCs task queues')
    .option('--protection', "continuous protection on: reports carry each container's newest safety checkpoint")
    .option('--history-weeks <n>', 'weeks of migration history written', int(1), 15)
    .option('--history-days <n>', 'what pruning keeps (ZANSHIN_HISTORY_DAYS)', int(1), 30)
    .option('--seed <n>', 'the campus (rooms, PCs, timetable)', int(0), 1)
    .option('--json <file>', 'write the figures as JSON there')
    .parse()
    .opts<{
      pcs: number;
      containersPerPc: number;
      apis: number;
      seconds: number;
      reportEvery: number;
      pollers: boolean;
      protection?: boolean;
      historyWeeks: number;
      historyDays: number;
      seed: number;
      json?: string;
    }>();
  const r = await runControlPlaneLoad({
    pcs: o.pcs,
    containersPerPc: o.containersPerPc,
    apiInstances: o.apis,
    reportIntervalMs: o.reportEvery * 1000,
    measureMs: o.seconds * 1000,
    pollers: o.pollers,
    protection: o.protection === true,
    historyWeeks: o.historyWeeks,
    historyDays: o.historyDays,
    seed: o.seed,
    log: (line) => console.log(`[control-plane] ${line}`),
  });
  const mib = (b: number | undefined) => `${((b ?? 0) / 2 ** 20).toFixed(1)} MiB`;
  console.log(`
${o.pcs} PCs, ${o.pcs * o.containersPerPc} containers${o.protection ? ' (protected)' : ''}, ${o.apis} migration-api process(es), reports every ${o.reportEvery} s for ${o.seconds} s
  reports      ${r.reports.count} (${r.reports.perSecond}/s), p50 ${r.reports.p50} ms, p99 ${r.reports.p99} ms, max ${r.reports.max} ms, ${r.reports.errors} errors; per API ${r.reportsPerApi.join(' / ')}
  placement    ${r.placement.count} asked (every candidate explained), p50 ${r.placement.p50} ms, p99 ${r.placement.p99} ms, ${r.placement.errors} errors
  rebalancing  planned in ${r.rebalance.ms} ms over the campus: ${r.rebalance.entries} containers asked about, ${r.rebalance.moves} moves
  CPU (cores)  PostgreSQL ${r.cpuCores.postgres}, migration-api ${r.cpuCores.apis.join(' + ')}, Temporal ${r.cpuCores.temporal ?? '?'}, synthetic PCs ${r.cpuCores.harness}
  pollers      ${r.pollers ? `${r.pollers.queues} task queues long-polled, ${r.pollers.errors} errors` : 'off'}
  history      ${r.history.migrations} migrations over ${o.historyWeeks} weeks: migrations ${mib(r.history.bytesBefore.migrations)} (${r.history.bytesPerMigration} bytes each), lectures ${mib(r.history.bytesBefore.lectures)}, load samples ${mib(r.history.bytesBefore.load_samples)}
               pruned to ${o.historyDays} days: ${r.history.pruned.migrations} migrations, ${r.history.pruned.lectures} lectures removed; migrations ${mib(r.history.bytesAfter.migrations)}, lectures ${mib(r.history.bytesAfter.lectures)}`);
  if (o.json) writeFileSync(o.json, JSON.stringify(r, null, 2));
}

main().catch((err: unknown) => {
  console.error(`bench:control-plane: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
