import type { MoveReport } from '../domain/reports';

/** Where a move's time went, by step, with the parts of the freeze the nodes measured (dump, hashing, restore). */
export function moveSteps(m: MoveReport): Record<string, number> {
  const steps: Record<string, number> = {};
  for (const s of m.steps) steps[s.step] = s.ms;
  steps['dump (final)'] = m.checkpoint.dumpMs;
  steps['hash after dump'] = m.checkpoint.hashMs;
  for (const [part, ms] of Object.entries(m.checkpoint.partsMs ?? {})) steps[`checkpoint: ${part}`] = ms;
  const finalImage = [...m.transfers].reverse().find((t) => t.kind === 'checkpoint');
  if (finalImage?.offerMs !== undefined) steps['transfer: manifest and plan'] = finalImage.offerMs;
  if (finalImage?.streamMs !== undefined) steps['transfer: pages'] = finalImage.streamMs;
  steps['runc restore'] = m.restore.restoreMs;
  for (const [part, ms] of Object.entries(m.restore.partsMs ?? {})) steps[`restore: ${part}`] = ms;
  steps['downtime (reported)'] = m.downtimeMs;
  steps['downtime (workflow view)'] = m.workflowDowntimeMs ?? m.downtimeMs;
  (m.preCopy ?? []).forEach((r, i) => (steps[`pre-copy ${i + 1} freeze`] = r.frozenMs));
  if (m.frozenTotalMs !== undefined) steps['frozen in all (reported)'] = m.frozenTotalMs;
  return steps;
}
