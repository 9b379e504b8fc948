// A small filesystem of a test's own (tmpfs), to fill: what a full disk does, without filling the host's.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Mounts a tmpfs of `size` (e.g. "8m") before the file's tests and removes it after; the mount point, once mounted. */
export function useTmpfs(size: string, name: string): () => string {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), `zanshin-${name}-`));
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  });
  afterAll(() => {
    if (!dir) return;
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return () => dir;
}
