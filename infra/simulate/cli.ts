// npm run simulate -- --pcs N --weeks W --seed S --json FILE: a semester on a generated campus, each placement policy
// on the same seed (the same campus, timetable, containers and power-offs), with the real domain code.
import { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { table } from '../../cli/format';
import { wholeNumber } from '../cli-options';
import { simulateSemester, simulateSemesterInThreads } from './semester';

const program = new Command('simulate')
  .description(
    'a semester on a generated campus with a simulated clock: placement, lecture-driven evacuation and rebalancing ' +
      'by the real domain code, compared across the policies random, least-loaded, paper and zanshin',
  )
  .requiredOption('--pcs <n>', 'PCs on the campus', wholeNumber('--pcs', 2, 100_000))
  .requiredOption('--weeks <n>', 'length of the term', wholeNumber('--weeks', 1, 52))
  .requiredOption('--seed <n>', 'seed (the same seed, the same semester)', wholeNumber('--seed', 0, 2 ** 31))
  .requiredOption('--json <file>', 'where the report goes')
  .showHelpAfterError()
  .action(async (o: { pcs: number; weeks: number; seed: number; json: string }) => {
    const log = (line: string) => console.error(line);
    // Compiled, the policies run in worker threads at once; from the TypeScript sources (ts-node), one by one.
    const report = __filename.endsWith('.js') ? await simulateSemesterInThreads(o, log) : simulateSemester(o, log);
    writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
    const c = report.campus;
    console.log(
      `${o.pcs} PCs in ${c.rooms} rooms, ${o.weeks} weeks, seed ${o.seed}: ${c.lectures} lectures ` +
        `(${c.meanLectureMinutesPerPcDay} min a day per PC), ${report.workload.containers} containers, ` +
        `${report.workload.powerOffs} unannounced power-offs`,
    );
    console.log(
      table(
        [
          'policy',
          'migrations',
          'GB moved',
          'remnant hits',
          'lecture conflicts',
          'work lost (h)',
          'frozen (h)',
          'recoveries',
          'run (s)',
        ],
        Object.entries(report.policies).map(([name, p]) => [
          name,
          p.migrations,
          (p.bytesMoved / 1e9).toFixed(1),
          `${(p.remnantHitRate * 100).toFixed(1)} %`,
          p.lectureConflicts,
          (p.workLostSeconds / 3600).toFixed(1),
          (p.frozenSeconds / 3600).toFixed(2),
          p.recoveries,
          p.simulatedInSeconds,
        ]),
      ),
    );
    console.log(`report: ${o.json}`);
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`simulate: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
