import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

/** CRIU prints this as an error on some VMs; it is harmless and would hide the real cause. */
const HARMLESS_CRIU_ERRORS = [/Can't setup RLIMIT_NOFILE for self/];

/** Errors that name a process CRIU could not take hold of (the reader then wants to know what that process is). */
const UNSEIZABLE = [/Unseizable non-zombie (\d+) found/, /Can't seize task (\d+)/, /Unable to detach from (\d+)/];

/** The lines of a CRIU log that say what went wrong, then what each process it could not seize is. */
export async function criuErrors(logFile: string, procRoot = '/proc'): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const errors = text
    .split('\n')
    .filter((l) => /Error \(|Error:/.test(l) && !HARMLESS_CRIU_ERRORS.some((re) => re.test(l)))
    .slice(-8);
  const pids = new Set(errors.flatMap((l) => UNSEIZABLE.map((re) => re.exec(l)?.[1]).filter((p) => p !== undefined)));
  const described = await Promise.all([...pids].map((pid) => describeProcess(Number(pid), procRoot)));
  if (!errors.length && text.trim()) {
    // No error line: CRIU died mid-way (a signal, or killed); where it was is the only clue.
    const last = text.trimEnd().split('\n').slice(-LAST_LINES);
    return [`CRIU ended without an error line; its last ${last.length} line(s):`, ...last].join('\n');
  }
  return [...errors, ...described].join('\n');
}

/** Lines of a log without errors kept as the clue to where CRIU stopped. */
const LAST_LINES = 6;

/**
 * One line on a process, read from /proc: its name, state, parent, tracer, command line and cgroup. A process CRIU
 * cannot seize is usually one that is not the container's (found in its cgroup) or one another tracer holds.
 */
export async function describeProcess(pid: number, procRoot = '/proc'): Promise<string> {
  const read = (file: string) => readFile(`${procRoot}/${pid}/${file}`, 'utf8').catch(() => null);
  const [status, cmdline, cgroup] = await Promise.all([read('status'), read('cmdline'), read('cgroup')]);
  if (status === null) return `process ${pid}: gone`;
  const field = (name: string) =>
    new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim().replace(/\s+/g, ' ') ?? '?';
  const command = (cmdline ?? '').split('\0').filter(Boolean).join(' ') || `[${field('Name')}]`;
  const cgroups = (cgroup ?? '').trim().split('\n').filter(Boolean).join(', ');
  return (
    `process ${pid}: ${command} (state ${field('State')}, parent ${field('PPid')}, tracer ${field('TracerPid')}, ` +
    `pids in namespaces ${field('NSpid')}, cgroup ${cgroups || '?'})`
  );
}

/** Failed CRIU logs kept per PC (the newest ones; a log can be megabytes). */
const KEPT_FAILED_LOGS = 5;

/** Copies a failed CRIU log into `dir` (named by time), dropping the oldest beyond KEPT_FAILED_LOGS; null if none. */
export async function keepFailedLog(logFile: string, dir: string): Promise<string | null> {
  try {
    await mkdir(dir, { recursive: true });
    const kept = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${path.basename(logFile)}`);
    await copyFile(logFile, kept);
    const all = (await readdir(dir)).sort();
    await Promise.all(all.slice(0, -KEPT_FAILED_LOGS).map((f) => rm(path.join(dir, f), { force: true })));
    return kept;
  } catch {
    return null; // no log to keep (CRIU never started): the error says what runc said
  }
}
