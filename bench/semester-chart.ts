// npm run simulate:chart -- --out FILE.svg REPORT.json...: the README's table and plot from several simulate
// reports (one per campus size, same seed), per policy: lecture conflicts and hours of work lost per 100 PCs.
import { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { lineChartSvg } from './plot';
import type { Series } from './plot';
import type { SemesterReport } from '../infra/simulate/semester';

export function readReport(file: string): SemesterReport {
  let r: SemesterReport;
  try {
    r = JSON.parse(readFileSync(file, 'utf8')) as SemesterReport;
  } catch (err) {
    throw new Error(`${file}: not a simulate report (${(err as Error).message})`);
  }
  if (typeof r.pcs !== 'number' || typeof r.policies !== 'object' || r.policies === null)
    throw new Error(`${file}: not a simulate report (no "pcs" or "policies"); make one with npm run simulate`);
  return r;
}

/** The markdown table: a row per campus size and policy. */
export function markdownTable(reports: SemesterReport[]): string {
  const rows = [
    '| PCs, weeks, seed | policy | migrations | GB moved | remnant hits | lecture conflicts | work lost (h) | frozen (h) | recoveries | simulated in (s) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of [...reports].sort((a, b) => a.pcs - b.pcs))
    for (const [name, p] of Object.entries(r.policies))
      rows.push(
        `| ${r.pcs}, ${r.weeks}, ${r.seed} | ${name} | ${p.migrations} | ${(p.bytesMoved / 1e9).toFixed(1)} | ` +
          `${(p.remnantHitRate * 100).toFixed(1)} % | ${p.lectureConflicts} | ${(p.workLostSeconds / 3600).toFixed(1)} | ` +
          `${(p.frozenSeconds / 3600).toFixed(2)} | ${p.recoveries} | ${p.simulatedInSeconds} |`,
      );
  return rows.join('\n');
}

/** Per policy, a figure per 100 PCs against the campus size. */
export function seriesPer100Pcs(
  reports: SemesterReport[],
  figure: (p: SemesterReport['policies']['zanshin']) => number,
): Series[] {
  const names = [...new Set(reports.flatMap((r) => Object.keys(r.policies)))];
  return names.map((name) => ({
    name,
    points: reports
      .filter((r) => name in r.policies)
      .map((r) => ({
        x: r.pcs,
        y: Math.round((figure(r.policies[name as keyof typeof r.policies]) / r.pcs) * 100 * 10) / 10,
      }))
      .sort((a, b) => a.x - b.x),
  }));
}

if (require.main === module) {
  const program = new Command('simulate:chart')
    .description('the README table and SVG plots from simulate reports (one per campus size)')
    .requiredOption('--out <prefix>', 'writes <prefix>-conflicts.svg and <prefix>-work-lost.svg')
    .argument('<reports...>', 'simulate JSON reports')
    .showHelpAfterError()
    .action((files: string[], o: { out: string }) => {
      const reports = files.map(readReport);
      const weeks = [...new Set(reports.map((r) => r.weeks))].join('/');
      writeFileSync(
        `${o.out}-conflicts.svg`,
        lineChartSvg(
          `Lecture conflicts per 100 PCs, ${weeks} weeks`,
          'PCs on the campus',
          'containers caught by a lecture',
          seriesPer100Pcs(reports, (p) => p.lectureConflicts),
        ),
      );
      writeFileSync(
        `${o.out}-work-lost.svg`,
        lineChartSvg(
          `Work lost per 100 PCs, ${weeks} weeks`,
          'PCs on the campus',
          'hours of work lost',
          seriesPer100Pcs(reports, (p) => p.workLostSeconds / 3600),
        ),
      );
      console.log(markdownTable(reports));
      console.log(`plots: ${o.out}-conflicts.svg, ${o.out}-work-lost.svg`);
    });
  try {
    program.parse();
  } catch (err) {
    console.error(`simulate:chart: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  }
}
