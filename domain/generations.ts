/**
 * Checkpoint generation numbers, unique in the whole cluster. A container's copy runs under an epoch (PostgreSQL
 * bumps it at every restore: a move's target, a rollback, a recovery, a start); only that copy dumps while the epoch
 * lasts, so a number made of the epoch and a count within it is never given twice, and the newest checkpoint is
 * always the highest number. Before this, numbers were per-PC counts: after a restore from an older copy, two
 * different checkpoints could share a number (issue 28, hazard 1). Containers migration-api does not keep (benchmarks,
 * the demo's first run) have epoch 0: plain counts. Pure.
 */

/** Dumps one copy may take within its epoch (a copy dumping every 10 s for 100 days stays below). */
export const GENERATIONS_PER_EPOCH = 1_000_000;

export const epochOfGeneration = (generation: number): number => Math.floor(generation / GENERATIONS_PER_EPOCH);

/** "7.3" for the third dump of epoch 7 (plain counts for epoch 0), for people. */
export function formatGeneration(generation: number): string {
  const epoch = epochOfGeneration(generation);
  return epoch ? `${epoch}.${generation % GENERATIONS_PER_EPOCH}` : String(generation);
}

export class StaleCopyError extends Error {
  override name = 'StaleCopyError';
}

/**
 * The number of a new dump by the copy running under `epoch`, given every generation number this PC has used or
 * holds. Refused when the PC holds a generation of a later epoch: a newer copy of the container exists, and this
 * one must not run, let alone dump.
 */
export function nextGenerationNumber(containerId: string, epoch: number, held: number[]): number {
  const floor = epoch * GENERATIONS_PER_EPOCH;
  const newer = held.filter((g) => g >= floor + GENERATIONS_PER_EPOCH);
  if (newer.length)
    throw new StaleCopyError(
      `${containerId} runs here under epoch ${epoch}, but this PC holds generation ${formatGeneration(Math.max(...newer))} ` +
        'of a newer copy: this copy is stale and must not dump',
    );
  const next = Math.max(floor, ...held) + 1;
  if (next >= floor + GENERATIONS_PER_EPOCH)
    throw new StaleCopyError(`${containerId} used every generation number of epoch ${epoch}: restore it to renew it`);
  return next;
}
