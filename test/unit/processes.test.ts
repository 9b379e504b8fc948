import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isRunning, processStartTime, spawnDetached, stopProcess } from '../../infra/cluster/processes';

/** Each test's log in a directory of its own, all removed at the end. */
const dirs: string[] = [];
const log = () => {
  dirs.push(mkdtempSync(path.join(os.tmpdir(), 'zanshin-proc-')));
  return path.join(dirs[dirs.length - 1]!, 'p.log');
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('launcher process handling', () => {
  it('stops a process with its stop signal and reports it gone', async () => {
    const rec = spawnDetached('sleeper', ['sleep', '60'], { log: log() });
    try {
      expect(isRunning(rec)).toBe(true);
      expect(await stopProcess(rec, 5_000)).toBe('stopped');
      expect(isRunning(rec)).toBe(false);
    } finally {
      await stopProcess(rec, 0);
    }
  });

  it('kills a process that ignores its stop signal, with the children in its group', async () => {
    // The shell ignores TERM and leaves a child behind, like socat's per-connection forks.
    const rec = spawnDetached('stubborn', ['sh', '-c', 'trap "" TERM; sleep 60 & echo $! ; wait'], { log: log() });
    try {
      const { readFileSync } = await import('node:fs');
      let childPid = 0;
      for (let i = 0; i < 50 && !childPid; i++) {
        childPid = Number(readFileSync(rec.log, 'utf8').trim()) || 0;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(childPid).toBeGreaterThan(0);
      expect(await stopProcess(rec, 300)).toBe('killed');
      await new Promise((r) => setTimeout(r, 100));
      expect(processStartTime(childPid)).toBeNull();
    } finally {
      await stopProcess(rec, 0);
    }
  });

  it('never signals a different process that reuses a recorded PID', async () => {
    const rec = spawnDetached('sleeper', ['sleep', '60'], { log: log() });
    try {
      const impostor = { ...rec, startTime: '1' }; // same PID, other start time
      expect(isRunning(impostor)).toBe(false);
      expect(await stopProcess(impostor, 0)).toBe('not running');
      await new Promise((r) => setTimeout(r, 100));
      expect(isRunning(rec)).toBe(true);
    } finally {
      await stopProcess(rec, 0);
    }
  });
});
