// Bounded parallelism over a list, usable anywhere (workflows too: no Node built-ins).

/**
 * Runs `work` over `items` with at most `parallel` running at once, in order of the list (a later item never
 * starts before an earlier one). Used for child migrations (a PC is not asked to send many at once) and by the load harness.
 */
export async function forEachBounded<T>(
  items: readonly T[],
  parallel: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const queue = [...items];
  const lane = async (): Promise<void> => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, queue.length)) }, lane));
}
