import Table from 'cli-table3';
import type { MoveReport } from '../domain/reports';

/** A plain table: no colour codes, so logs and CI output stay readable. */
export function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, style: { head: [], border: [], compact: true } });
  for (const r of rows) t.push(r.map(String));
  return t.toString();
}

export const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;
export const pct = (a: number, b: number): string => `${((100 * a) / b).toFixed(2)} %`;

/** A readable report of moves: route, strategy, downtime, bytes on the wire against the full image, per-step times. */
export function formatMoves(moves: MoveReport[]): string {
  const summary = table(
    [
      'route',
      'strategy',
      'remnant on target',
      'downtime',
      'wire',
      'full image + rootfs',
      'wire / full',
      'changed pages',
    ],
    moves.map((m) => {
      const cp = m.transfers.find((t) => t.kind === 'checkpoint');
      return [
        `${m.from} -> ${m.to}`,
        m.strategy,
        m.targetHadRemnant ? 'yes' : 'no',
        `${m.downtimeMs} ms`,
        mb(m.wireBytes),
        mb(m.fullBytes),
        pct(m.wireBytes, m.fullBytes),
        cp ? `${cp.missingChunks} of ${m.checkpoint.image.chunks}` : '-',
      ];
    }),
  );
  const steps = table(
    ['route', 'step', 'node', 'time'],
    moves.flatMap((m) => m.steps.map((s) => [`${m.from} -> ${m.to}`, s.step, s.node, `${s.ms} ms`])),
  );
  const inside = table(
    ['route', 'dump', 'hash pages', 'write image on target', 'runc restore'],
    moves.map((m) => [
      `${m.from} -> ${m.to}`,
      `${m.checkpoint.dumpMs} ms`,
      `${m.checkpoint.hashMs} ms`,
      `${m.restore.writeImageMs} ms`,
      `${m.restore.restoreMs} ms`,
    ]),
  );
  return [summary, steps, inside].join('\n');
}
