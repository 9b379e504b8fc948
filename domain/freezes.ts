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
