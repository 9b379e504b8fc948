import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { criuErrors, describeProcess, keepFailedLog } from '../../node/criu-log';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'criu-log-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A /proc of one process, as the kernel writes it. */
function fakeProc(pid: number, name: string, cmdline: string[], cgroup: string): string {
  const root = path.join(dir, 'proc');
  mkdirSync(path.join(root, String(pid)), { recursive: true });
  writeFileSync(
    path.join(root, String(pid), 'status'),
    `Name:\t${name}\nState:\tS (sleeping)\nTgid:\t${pid}\nPPid:\t1\nTracerPid:\t0\nNSpid:\t${pid}\t1\n`,
  );
  writeFileSync(path.join(root, String(pid), 'cmdline'), cmdline.join('\0') + '\0');
  writeFileSync(path.join(root, String(pid), 'cgroup'), cgroup);
  return root;
}

describe('criuErrors', () => {
  it('keeps the error lines, without the harmless one, and says what each unseizable process is', async () => {
    const proc = fakeProc(284, 'sleep', ['sleep', 'infinity'], '0::/zanshin/vm2/c1\n');
    const log = path.join(dir, 'dump.log');
    writeFileSync(
      log,
      [
        '(00.001) Warn: something',
        "(00.002) Error (criu/util.c:1): Can't setup RLIMIT_NOFILE for self",
        '(00.301877) Error (compel/src/lib/infect.c:262): Unseizable non-zombie 284 found, state S, err -1/10',
        '(00.304105) Error (compel/src/lib/infect.c:417): Unable to detach from 284: No such process',
        '(00.304706) Error (criu/cr-dump.c:1975): Dumping FAILED.',
      ].join('\n'),
    );
    const said = (await criuErrors(log, proc)).split('\n');
    expect(said).toHaveLength(4); // three errors, one process described once
    expect(said[0]).toMatch(/Unseizable non-zombie 284/);
    expect(said[3]).toBe(
      'process 284: sleep infinity (state S (sleeping), parent 1, tracer 0, pids in namespaces 284 1, cgroup 0::/zanshin/vm2/c1)',
    );
  });

  it('gives the last lines of a log CRIU left without an error line (it died mid-way)', async () => {
    const log = path.join(dir, 'died.log');
    writeFileSync(log, Array.from({ length: 20 }, (_, i) => `(00.${i}) page-xfer: line ${i}`).join('\n') + '\n');
    const said = (await criuErrors(log)).split('\n');
    expect(said[0]).toBe('CRIU ended without an error line; its last 6 line(s):');
    expect(said.slice(1)).toEqual(Array.from({ length: 6 }, (_, i) => `(00.${14 + i}) page-xfer: line ${14 + i}`));
  });

  it('says a process is gone when /proc no longer has it, and nothing when the log is missing', async () => {
    expect(await describeProcess(99999, path.join(dir, 'proc'))).toBe('process 99999: gone');
    expect(await criuErrors(path.join(dir, 'none.log'))).toBe('');
  });
});

describe('keepFailedLog', () => {
  it('keeps a copy of each failed log, the newest five, and says where', async () => {
    const kept = path.join(dir, 'failed');
    const copies: string[] = [];
    for (let i = 0; i < 7; i++) {
      const log = path.join(dir, `dump-${i}.log`);
      writeFileSync(log, `attempt ${i}\n`);
      copies.push((await keepFailedLog(log, kept))!);
      await new Promise((r) => setTimeout(r, 2)); // names are by time, to the millisecond
    }
    expect(readdirSync(kept).sort()).toEqual(copies.slice(2).map((c) => path.basename(c)));
    expect(readFileSync(copies[6]!, 'utf8')).toBe('attempt 6\n');
  });

  it('keeps nothing, and says so, when there is no log', async () => {
    expect(await keepFailedLog(path.join(dir, 'none.log'), path.join(dir, 'failed'))).toBeNull();
  });
});
