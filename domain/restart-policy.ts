/**
 * Restart policies as Podman has them (`--restart no|on-failure|always`). A restart is a fresh start of the program
 * on the container's current rootfs, never a restore of old memory over newer files. A program that keeps failing
 * is started again less and less often (10 s, 20 s, 40 s, ... up to 5 minutes); one that ran 10 minutes since its
 * last restart counts from zero again. Pure.
 */
export const RESTART_POLICIES = ['no', 'on-failure', 'always'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

const FIRST_BACKOFF_MS = 10_000;
const MAX_BACKOFF_MS = 5 * 60_000;
/** A program that ran this long since its last restart is not crash-looping: its count starts again. */
export const STABLE_RUN_MS = 10 * 60_000;

/** Whether a program that ended with `exitStatus` ("exit 0", "exit 3", "signal 9", "gone: ...") is started again. */
export function wantsRestart(policy: RestartPolicy, exitStatus: string | null): boolean {
  if (policy === 'always') return true;
  if (policy === 'on-failure') return exitStatus !== 'exit 0';
  return false;
}

/** The wait before restart number `restarts + 1` (restarts: those in a row so far). */
export function restartBackoffMs(restarts: number): number {
  return Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, restarts));
}

/** Restarts in a row, counting this one: a program that ran STABLE_RUN_MS since the last one starts again from 1. */
export function restartsInARow(previous: number, lastRestartAt: Date | null, now: Date): number {
  if (!lastRestartAt || now.getTime() - lastRestartAt.getTime() >= STABLE_RUN_MS) return 1;
  return previous + 1;
}

/** When an exited container is due to start again (null: its policy says never). */
export function restartDueAt(
  policy: RestartPolicy,
  exitStatus: string | null,
  exitedAt: Date,
  restarts: number,
  lastRestartAt: Date | null,
): Date | null {
  if (!wantsRestart(policy, exitStatus)) return null;
  const inARow = lastRestartAt && exitedAt.getTime() - lastRestartAt.getTime() >= STABLE_RUN_MS ? 0 : restarts;
  return new Date(exitedAt.getTime() + restartBackoffMs(inARow));
}
