// A write into a full store says so, and what to do (found by the soak: Node's recursive mkdir said ENOENT).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { storeWriteError } from '../../node/executor-config';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir]);
});
afterAll(() => {
  execFileSync('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
});

it('names a full store and what to do, and leaves other errors as they are', async () => {
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, mkdir '/x'"), { code: 'ENOENT' });
  // 8 MiB in all: under the 64 MiB a store needs free, it counts as full.
  const said = (await storeWriteError(enoent, dir, 'pc4', 'checkpoint c1')) as Error;
  expect(said.message).toMatch(/^pc4's store is full \(\d+ MiB free of 0 GiB\): it cannot checkpoint c1\. Free space/);
  expect(await storeWriteError(enoent, os.tmpdir(), 'pc4', 'checkpoint c1')).toBe(enoent);
});
