/**
 * Fencing: no container ever runs on two PCs (issue 28). Two rules, stated here and used by the node (its lease),
 * the API (the answer to a report) and the control plane (when recovery may restore elsewhere). Pure.
 *
 * 1. The lease. A PC may run its containers only while migration-api acknowledges its reports: each acknowledged
 *    report renews the lease from the moment the report was SENT. A watchdog beside the node worker (it outlives a
 *    dead or wedged worker) freezes every container and takes their addresses off the LAN once the lease has run
 *    out. Recovery elsewhere waits for the PC's last report plus lease plus margin: by then, measured on the PC's own
 *    clock from an earlier instant, the PC has fenced itself. Only clock RATES matter (each side measures a duration
 *    on its own monotonic clock), so the margin covers the watchdog's check interval, the fence's own duration and
 *    drift (a PC clock running 0.1 % slow adds 20 ms to a 20 s lease).
 * 2. Epochs. Every restore runs a new copy under a new epoch (PostgreSQL); a PC reports the epoch of each copy it
 *    runs, and the answer names the stale ones (an older epoch than the container's), which the PC kills at once.
 *    A PC that returns before anyone took its containers over finds them current, and resumes them.
 */

export { DEFAULT_FENCE_MARGIN_SECONDS, DEFAULT_LEASE_SECONDS } from '../common/names';
/** How often the watchdog looks at the lease. */
export const WATCHDOG_CHECK_MS = 1000;

export interface FencingTimes {
  /** Interval of a PC's reports. */
  reportSeconds: number;
  leaseSeconds: number;
  marginSeconds: number;
  /** How long a PC is silent before recovery restores its containers elsewhere. */
  recoverySeconds: number;
}

/** Why these settings would let a container run twice (or a healthy PC fence itself), or null when they hold. */
export function fencingTimesProblem(t: FencingTimes): string | null {
  if (t.leaseSeconds < 2 * t.reportSeconds)
    return (
      `the lease (ZANSHIN_LEASE_SECONDS=${t.leaseSeconds}) must last at least two report intervals ` +
      `(ZANSHIN_LOAD_REPORT_SECONDS=${t.reportSeconds}): one lost report must not fence a healthy PC`
    );
  if (t.marginSeconds < (2 * WATCHDOG_CHECK_MS) / 1000)
    return `the fence margin (ZANSHIN_FENCE_MARGIN_SECONDS=${t.marginSeconds}) must cover the watchdog's checks: at least 2 s`;
  if (t.recoverySeconds < t.leaseSeconds + t.marginSeconds)
    return (
      `recovery (ZANSHIN_RECOVERY_AFTER_SECONDS=${t.recoverySeconds}) must wait at least the lease plus the margin ` +
      `(${t.leaseSeconds} + ${t.marginSeconds} s): before that, a cut-off PC may still run what would be restored`
    );
  return null;
}

/**
 * Whether the lease has run out: `lastAckNs` is when the last acknowledged report was sent (null: none yet, the
 * lease then runs from `startedNs`, the watchdog's start), all on the PC's monotonic clock.
 */
export function leaseExpired(
  lastAckNs: bigint | null,
  startedNs: bigint,
  nowNs: bigint,
  leaseSeconds: number,
): boolean {
  const from = lastAckNs !== null && lastAckNs > startedNs ? lastAckNs : startedNs;
  return nowNs - from > BigInt(Math.round(leaseSeconds * 1e9));
}

export interface CopyReport {
  containerId: string;
  /** The epoch the PC runs the copy under (0: none recorded). */
  epoch: number;
}

/**
 * The copies a PC reports that are stale: their container has a newer epoch (another copy was restored since).
 * Containers migration-api does not keep are nobody's to judge.
 */
export function staleCopies(reported: CopyReport[], current: Map<string, number>): string[] {
  return reported
    .filter((c) => current.has(c.containerId) && c.epoch < current.get(c.containerId)!)
    .map((c) => c.containerId);
}
