// A copy runc lists as "running" while it is being killed. On cgroup v1 (this machine), a frozen process cannot die:
// runc kills a paused (fenced) container by sending SIGKILL to every process while frozen, then thawing the cgroup.
// Between the thaw and the exit, `runc list` says "running", though none of its processes runs another instruction
// of its own: a pending SIGKILL is taken on the way back to user space. The soak's observer saw a stale copy killed
// that way as a second running copy (seed 8). A process with SIGKILL pending, or already exiting, is dying.

/** SIGKILL's bit in /proc/PID/status signal masks (signal 9, bit 8). */
const SIGKILL_BIT = 1n << 8n;
/** PF_EXITING in the flags field of /proc/PID/stat: the process is in exit. */
const PF_EXITING = 0x4;

/** Whether a process is dying, from its /proc/PID/status and /proc/PID/stat (empty when it is gone: dying too). */
export function isDying(status: string, stat: string): boolean {
  if (!status || !stat) return true;
  for (const field of ['SigPnd', 'ShdPnd']) {
    const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status);
    if (m && (BigInt(`0x${m[1]}`) & SIGKILL_BIT) !== 0n) return true;
  }
  // Fields after the command (in parentheses, which may hold spaces): state is the 3rd field, flags the 9th.
  const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const flags = Number(after[6]);
  return Number.isFinite(flags) && (flags & PF_EXITING) !== 0;
}
