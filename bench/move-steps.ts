import type { MoveReport } from '../domain/reports';

/** Where a move's time went, by step, with the parts of the freeze the nodes measured (dump, hashing, restore). */
export function moveSteps(m: MoveReport): Record<string, number> {
  const steps: Record<string, number> = {};
  for (const s of m.steps) steps[s.step] = s.ms;
  steps['dump (final)'] = m.checkpoint.dumpMs;
  steps['hash after dump'] = m.checkpoint.hashMs;
  steps['runc restore'] = m.restore.restoreMs;
  steps['downtime (workflow view)'] = m.downtimeMs;
  (m.preCopy ?? []).forEach((r, i) => (steps[`pre-copy ${i + 1} freeze`] = r.frozenMs));
  if (m.frozenTotalMs !== undefined) steps['frozen in all (reported)'] = m.frozenTotalMs;
  return steps;
}
