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
/** The final checkpoint's transfer (pre-copy rounds send theirs before it). */
const finalTransfer = (m: MoveReport) => m.transfers.filter((t) => t.kind === 'checkpoint').pop();

export function formatMoves(moves: (MoveReport & { totalMs?: number })[]): string {
  const summary = table(
    [
      'route',
      'strategy',
      'remnant on target',
      'downtime',
      'wire',
      'full image + rootfs',
      'wire / full',
      'final image: chunks sent',
    ],
    moves.map((m) => {
      const cp = finalTransfer(m);
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
  // Every stop a client lived through, not only the final one (reports older than freezes have none).
  const freezes = table(
    ['route', 'freezes', 'frozen in all', 'longest', 'request to done'],
    moves.map((m) => [
      `${m.from} -> ${m.to}`,
      (m.freezes ?? []).map((f) => `${f.kind} ${f.ms} ms`).join(', ') || '-',
      m.frozenTotalMs === undefined ? '-' : `${m.frozenTotalMs} ms`,
      m.longestFreezeMs === undefined ? '-' : `${m.longestFreezeMs} ms`,
      m.totalMs === undefined ? '-' : `${(m.totalMs / 1000).toFixed(1)} s`,
    ]),
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
  // Pre-copy rounds: what each dump wrote (a kernel round: only the pages dirtied since the last) and froze.
  const rounds = moves.flatMap((m) =>
    [
      ...(m.preCopy ?? []).map((r, i) => [`pre-copy ${i + 1}`, r.pages, r.frozenMs, r.wireBytes]),
      [
        'final dump',
        m.checkpoint.pages,
        m.checkpoint.frozenMs ?? m.checkpoint.dumpMs,
        finalTransfer(m)?.wireBytes ?? 0,
      ],
    ].map(([what, pages, ms, wire]) => [
      `${m.from} -> ${m.to}`,
      String(what),
      String(pages),
      `${ms} ms`,
      mb(Number(wire)),
    ]),
  );
  const dumps = table(['route', 'dump', 'pages written', 'frozen', 'sent'], rounds);
  const notes = moves.flatMap((m) => [
    ...(typeof m.restore.heldPackets === 'number'
      ? [
          `${m.from} -> ${m.to}: ${m.restore.heldPackets} packet(s) that peers sent during the move were kept on ${m.to} and passed after the restore`,
        ]
      : []),
    ...(m.checkpoint.fallback
      ? [`${m.from} -> ${m.to}: the kernel-strategy dump failed, content strategy used (${m.checkpoint.fallback})`]
      : []),
    ...(m.merged && 'error' in m.merged ? [`${m.from} -> ${m.to}: merging the chain failed: ${m.merged.error}`] : []),
    ...(m.merged && !('error' in m.merged)
      ? [
          `${m.from} -> ${m.to}: ${m.to} merged generation ${m.merged.generation}'s chain of ${m.merged.chainLength} into one image (${m.merged.pages} pages, ${m.merged.ms} ms)`,
        ]
      : []),
  ]);
  return [summary, freezes, steps, inside, dumps, ...notes].join('\n');
}
