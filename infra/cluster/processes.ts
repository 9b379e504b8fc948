import { spawn } from 'node:child_process';
import { openSync, closeSync, readdirSync, readFileSync } from 'node:fs';
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
  /** What the launcher added to its environment (settings and file paths, never a secret): to start it again. */
  env?: Record<string, string>;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or null if there is no live process. */
export function processStartTime(pid: number): string | null {
  const fields = statFields(pid);
  if (!fields || fields[0] === 'Z' || fields[0] === 'X') return null; // gone, or exited and waiting to be reaped
  return fields[19] ?? null;
}

/** Fields 3.. of /proc/PID/stat (state, ppid, pgrp, ...), or null when there is no such process. */
function statFields(pid: number): string[] | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: fields after it follow the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * Live members of process group `pgid` started no earlier than `notBefore`, the leader excluded: what a dead
 * leader left behind. A process that merely reuses the leader's PID is never among them.
 */
function leftoverGroupMembers(pgid: number, notBefore: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      if (pid === pgid) return false;
      const f = statFields(pid);
      return f !== null && f[0] !== 'Z' && Number(f[2]) === pgid && Number(f[19]) >= Number(notBefore);
    });
}

export function isRunning(rec: ProcessRecord): boolean {
  return processStartTime(rec.pid) === rec.startTime;
}

export interface SpawnOptions {
  /** Added to this process's own environment. */
  env?: Record<string, string>;
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
      env: { ...process.env, ...(opts.env ?? {}) },
    });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${argv[0]}): see ${opts.log}`);
    child.unref();
    const startTime = processStartTime(child.pid);
    if (startTime === null) throw new Error(`${name} exited at once; last lines of ${opts.log}:\n${logTail(opts.log)}`);
    return {
      name,
      pid: child.pid,
      startTime,
      argv,
      log: opts.log,
      stopSignal: opts.stopSignal ?? 'SIGTERM',
      ...(opts.env ? { env: opts.env } : {}),
    };
  } finally {
    closeSync(fd);
  }
}

function killLeftovers(rec: ProcessRecord): void {
  for (const pid of leftoverGroupMembers(rec.pid, rec.startTime)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // ESRCH: it exited meanwhile.
    }
  }
}

/**
 * Stops a started process: its stop signal first, then SIGKILL to its whole process group after `graceMs`.
 * Children it left in its group (e.g. socat's per-connection forks) are killed too. Returns how it ended.
 */
export async function stopProcess(rec: ProcessRecord, graceMs = 10_000): Promise<'stopped' | 'killed' | 'not running'> {
  if (!isRunning(rec)) {
    killLeftovers(rec);
    return 'not running';
  }
  process.kill(rec.pid, rec.stopSignal);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(rec)) {
      killLeftovers(rec);
      return 'stopped';
    }
    await delay(100);
  }
  // Still the same process (checked just above), so its group is ours to kill.
  process.kill(-rec.pid, 'SIGKILL');
  while (isRunning(rec)) await delay(50);
  killLeftovers(rec);
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
