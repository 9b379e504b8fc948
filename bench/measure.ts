// What every method of the benchmark reports, and how its steps are timed.

export interface MethodResult {
  /** The container answers nothing: from the checkpoint's start to the restored container running. */
  downtimeMs: number;
  /** Pre-copy only: how long the rounds before the final checkpoint froze the container in all. */
  frozenInPreCopyMs?: number;
  /** The whole move, including work done while the container still ran. */
  totalMs: number;
  wireBytes: number;
  steps: Record<string, number>;
}

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number((process.hrtime.bigint() - t0) / 1_000_000n);
}
