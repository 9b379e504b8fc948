import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

/** A process the launcher started, identified by PID and kernel start time (so a reused PID is never hit). */
export interface ProcessRecord {
  name: string;
  pid: number;
  startTime: string;
  argv: string[];
  log: string;
  /** The signal that asks this process to shut down cleanly. */
  stopSignal: NodeJS.Signals;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or null if there is no live process. */
export function processStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: fields after it follow the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return null; // exited, waiting to be reaped
  return fields[19] ?? null;
}

export function isRunning(rec: ProcessRecord): boolean {
  return processStartTime(rec.pid) === rec.startTime;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  log: string;
  stopSignal?: NodeJS.Signals;
}

/**
 * Starts a long-lived process in its own session (so it outlives the launcher and can be stopped as a
 * group), with stdout and stderr appended to its log file.
 */
export function spawnDetached(name: string, argv: string[], opts: SpawnOptions): ProcessRecord {
  const fd = openSync(opts.log, 'a');
  try {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env ?? process.env,
    });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${argv[0]}): see ${opts.log}`);
    child.unref();
    const startTime = processStartTime(child.pid);
    if (startTime === null) throw new Error(`${name} exited at once: see ${opts.log}`);
    return { name, pid: child.pid, startTime, argv, log: opts.log, stopSignal: opts.stopSignal ?? 'SIGTERM' };
  } finally {
    closeSync(fd);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Stops a started process: its stop signal first, then SIGKILL to its whole process group after `graceMs`.
 * Children it left (e.g. socat's per-connection forks) go with the group. Returns how it ended.
 */
export async function stopProcess(rec: ProcessRecord, graceMs = 10_000): Promise<'stopped' | 'killed' | 'not running'> {
  if (!isRunning(rec)) {
    signalGroup(rec.pid, 'SIGKILL');
    return 'not running';
  }
  process.kill(rec.pid, rec.stopSignal);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(rec)) {
      signalGroup(rec.pid, 'SIGKILL');
      return 'stopped';
    }
    await delay(100);
  }
  signalGroup(rec.pid, 'SIGKILL');
  while (isRunning(rec)) await delay(50);
  return 'killed';
}

/** The last lines of a log file, for error messages. */
export function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
