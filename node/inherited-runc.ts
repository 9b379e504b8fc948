// Restores and starts that an earlier worker of this PC began and did not see end. A worker killed while its
// `runc restore` ran leaves that runc running (it is not the worker's to take down), and it goes on without it: a
// GiB restore takes seconds. Meanwhile runc knows no container yet, but the container's namespace is in use. Found by
// the soak (seed 8): the next worker's orphan sweep removed that namespace, the restore ended in a namespace that had
// no name any more, the retried restore could not let its traffic in, and the move rolled back to its source while
// the copy restored here had run on (a counter went back). Such a runc can only come from a worker that is gone, so
// one look at /proc when this worker starts finds them all.
import { readdir, readFile } from 'node:fs/promises';
import { containerBroughtUp } from '../domain/runc-args';
import { ExecutorError } from './executor-config';

interface Inherited {
  pid: number;
  /** Kernel start time (field 22 of /proc/PID/stat): a PID reused by another process is not taken for it. */
  startTime: string;
}

/** How long a step waits for an inherited restore to end before it gives up (a 1 GiB restore takes ~5 s here). */
export const INHERITED_RESTORE_WAIT_MS = 60_000;

async function startTime(pid: number): Promise<{ startTime: string; ppid: number } | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (!stat) return null;
  // The command name may hold spaces and parentheses: the fields after it follow the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return null;
  return { startTime: fields[19] ?? '', ppid: Number(fields[1]) };
}

async function scan(root: string): Promise<Map<string, Inherited>> {
  const found = new Map<string, Inherited>();
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(Number);
  await Promise.all(
    pids.map(async (pid) => {
      if (pid === process.pid) return;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      const id = cmdline && containerBroughtUp(cmdline.split('\0').filter(Boolean), root);
      if (!id) return;
      const stat = await startTime(pid);
      if (stat && stat.ppid !== process.pid) found.set(id, { pid, startTime: stat.startTime });
    }),
  );
  return found;
}

/** The runc restores and starts of this PC's runc root that were running when this worker started. */
export class InheritedRuncs {
  private readonly found: Promise<Map<string, Inherited>>;

  constructor(root: string) {
    this.found = scan(root).catch((err: Error) => {
      console.error(`could not look for runc processes an earlier worker left running: ${err.message}`);
      return new Map<string, Inherited>();
    });
    void this.found.then((m) => {
      for (const [id, { pid }] of m)
        console.log(`${id}: an earlier worker's runc (pid ${pid}) is still bringing it up; its steps wait for it`);
    });
  }

  /** The PID of the inherited runc still working on this container, or null. */
  async running(containerId: string): Promise<number | null> {
    const found = await this.found;
    const p = found.get(containerId);
    if (!p) return null;
    if ((await startTime(p.pid))?.startTime === p.startTime) return p.pid;
    found.delete(containerId);
    return null;
  }

  /** Waits until no inherited runc works on the container; throws, naming it, when it takes longer than `timeoutMs`. */
  async awaitEnd(containerId: string, timeoutMs = INHERITED_RESTORE_WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let pid = await this.running(containerId); pid !== null; pid = await this.running(containerId)) {
      if (Date.now() > deadline)
        throw new ExecutorError(
          `${containerId} is still being brought up by runc (pid ${pid}), which an earlier worker of this PC ` +
            `started, after ${timeoutMs / 1000} s: end it (kill ${pid}) or wait, then retry`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
