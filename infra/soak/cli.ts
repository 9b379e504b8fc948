// npm run soak -- --seed S --minutes M --json FILE: the chaos soak (soak.ts), as root.
import { Command } from 'commander';
import { wholeNumber as whole } from '../cli-options';
import { runSoak, writeReport } from './soak';

const program = new Command('soak')
  .description(
    'containers moved continuously between simulated PCs while a seeded schedule injects faults; ' +
      'an observer checks that no container ever runs twice and nothing acknowledged is lost',
  )
  .requiredOption(
    '--seed <n>',
    'seed of the fault schedule (the same seed, the same schedule)',
    whole('--seed', 0, 2 ** 31),
  )
  .requiredOption('--minutes <n>', 'how long it runs', whole('--minutes', 2, 24 * 60))
  .requiredOption('--json <file>', 'where the report goes')
  .option(
    '--protect <seconds>',
    'continuous protection on the PCs, every so many seconds (0: off)',
    whole('--protect', 0, 3600),
    0,
  )
  .showHelpAfterError()
  .action(async (o: { seed: number; minutes: number; json: string; protect: number }) => {
    if (process.getuid?.() !== 0) throw new Error('the soak must run as root (it starts a cluster of simulated PCs)');
    const stop = new AbortController();
    // Handlers that stay (a once-handler would be gone when execa's exit hook looks, and it would re-raise the signal).
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => stop.abort());
    const report = await runSoak({ seed: o.seed, minutes: o.minutes, signal: stop.signal, protectSeconds: o.protect });
    writeReport(o.json, report);
    console.log(
      `soak seed ${o.seed}, ${o.minutes} min${o.protect ? `, protection every ${o.protect} s` : ''}: ${report.violations} violation(s); migrations ${report.migrations.completed}/` +
        `${report.migrations.attempted} completed (${report.migrations.rolledBack} rolled back); recoveries ${report.recoveries}; ` +
        `faults ${Object.entries(report.faults)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')}; work lost max ${report.workLostSeconds.max} s; ` +
        `report: ${o.json}`,
    );
    for (const v of report.violationDetails)
      console.log(`VIOLATION ${v.at} ${v.kind} ${v.containerId ?? ''}: ${v.detail}`);
    process.exitCode = report.violations ? 1 : 0;
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`soak: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
