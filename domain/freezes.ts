/**
 * Every time a move stops the program, as its client lives it: each pre-copy round's dump (the program runs on
 * after it) and the move's own stop, from the final dump until the restored copy runs. A client waits through each
 * one, so a move is judged by their sum and by the longest, not by the final stop alone. Pure.
 */

export interface Freeze {
  /** "pre-copy 1", "pre-copy 2", ..., then "move" (final dump, transfer, restore). */
  kind: string;
  ms: number;
}

export interface Freezes {
  freezes: Freeze[];
  frozenTotalMs: number;
  longestFreezeMs: number;
}

/**
 * A move's downtime: from the source holding the container's traffic for its final dump (`frozeAt`, the source's
 * clock) to the target letting it in again (`runningAt`, the target's clock), when both PCs said so. The workflow's
 * own view (from scheduling the checkpoint to the restore step's completion) adds the activities' dispatch and
 * completion, 0.25-0.5 s more than a client saw (measured); it stands where the PCs' figures are missing or make no
 * sense (clocks apart by more than the move took).
 */
export function moveDowntime(workflowMs: number, frozeAt?: number, runningAt?: number): number {
  if (frozeAt === undefined || runningAt === undefined) return workflowMs;
  const nodes = runningAt - frozeAt;
  return nodes > 0 && nodes <= workflowMs ? nodes : workflowMs;
}

/** `preCopy`: the rounds before the final dump, each with how long it froze the program. */
export function freezesOf(preCopy: readonly { frozenMs: number }[], downtimeMs: number): Freezes {
  const freezes = [
    ...preCopy.map((r, i) => ({ kind: `pre-copy ${i + 1}`, ms: r.frozenMs })),
    { kind: 'move', ms: downtimeMs },
  ];
  return {
    freezes,
    frozenTotalMs: freezes.reduce((n, f) => n + f.ms, 0),
    longestFreezeMs: Math.max(...freezes.map((f) => f.ms)),
  };
}
