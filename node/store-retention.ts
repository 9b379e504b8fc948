// What a PC's store keeps and for how long: expired remnants, checkpoints beyond the newest few, and the parts of
// dumps and receives that failed. Functions over the store's layout (node/store.ts), used by node/remnants.ts.
import { rm } from 'node:fs/promises';
import type { RemnantStore } from './store';
import { skipDamaged } from './store-files';

/**
 * Unfinished generations nothing can finish any more: a newer one was begun after each (a dump or receive that
 * failed or was cut short) and no complete generation names it as a parent. The newest may be in progress: never.
 */
export async function deadGenerations(store: RemnantStore, id: string): Promise<number[]> {
  const all = await store.generationNumbers(id);
  const complete = await store.generations(id);
  const newest = Math.max(0, ...all);
  const needed = new Set<number>();
  for (const n of complete) for (const p of await store.chain(id, n).catch(() => [n])) needed.add(p);
  return all.filter((n) => n !== newest && !complete.includes(n) && !needed.has(n));
}

/** Removes every container's dead generations (see deadGenerations); says which went, as "<id>/<n>". */
export async function dropDeadGenerations(store: RemnantStore): Promise<string[]> {
  const removed: string[] = [];
  for (const id of await store.containers())
    for (const n of await deadGenerations(store, id)) {
      await rm(store.generationDir(id, n), { recursive: true, force: true });
      removed.push(`${id}/${n}`);
    }
  return removed;
}

/**
 * Retention: removes remnants past their expiry, all but the newest `keepGenerations` checkpoints of every
 * container, and unfinished generations but the newest; their chunks go with them (images are the chunk packs).
 */
export async function collectStoreGarbage(
  store: RemnantStore,
  keepGenerations: number,
  now = new Date(),
  isRunning: (id: string) => Promise<boolean> = () => Promise.resolve(false),
): Promise<{ remnants: string[]; generations: string[] }> {
  const removed = { remnants: [] as string[], generations: [] as string[] };
  for (const id of await store.containers()) {
    // A remnant whose mark a power-off damaged has no known expiry: it goes now (never a running container).
    const mark = await store
      .remnant(id)
      .catch((err: unknown) => skipDamaged(err) ?? { expiresAt: new Date(0).toISOString() });
    const stopped = await store.stoppedMark(id);
    if (mark && !stopped && Date.parse(mark.expiresAt) <= now.getTime() && !(await isRunning(id))) {
      await rm(store.containerDir(id), { recursive: true, force: true });
      removed.remnants.push(id);
      continue;
    }
    for (const n of await store.generations(id)) await store.recoverMerge(id, n);
    const complete = await store.generations(id);
    const keep = new Set(complete.slice(-Math.max(1, keepGenerations)));
    if (stopped) keep.add(stopped.generation);
    // A kept differential generation needs its parents: they stay as long as it does.
    for (const n of [...keep]) for (const p of await store.chain(id, n).catch(() => [n])) keep.add(p);
    const all = await store.generationNumbers(id);
    const newest = Math.max(0, ...all);
    for (const n of all) {
      // The newest generation, unfinished, may be a checkpoint in progress: it stays (older unfinished ones are dead).
      if (keep.has(n) || (!complete.includes(n) && n === newest)) continue;
      await rm(store.generationDir(id, n), { recursive: true, force: true });
      removed.generations.push(`${id}/${n}`);
    }
  }
  return removed;
}
