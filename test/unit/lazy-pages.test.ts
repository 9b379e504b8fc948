// The lazy-pages daemon's life as the executor sees it, with stand-in scripts for CRIU (the real one runs in the
// integration tests, where every restore is lazy).
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LazyPagesDaemon } from '../../node/lazy-pages';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-lazy-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in for CRIU: runs `body` in the work directory (given as --work-dir). */
function fakeCriu(body: string): string {
  const file = path.join(dir, 'criu');
  writeFileSync(
    file,
    `#!/bin/sh\nwhile [ "$1" != "--work-dir" ]; do shift; done\ncd "$2"\nlog=lazy-pages.log\n${body}\n`,
  );
  chmodSync(file, 0o755);
  return file;
}

it('is ready once it listens on the work directory, and done when it exits 0', async () => {
  const criu = fakeCriu('touch lazy-pages.socket; sleep 0.2; exit 0');
  const daemon = await LazyPagesDaemon.start(criu, dir, dir);
  await expect(daemon.done).resolves.toBeUndefined();
});

it('says why when it exits before the memory is complete, quoting its log', async () => {
  const criu = fakeCriu('touch lazy-pages.socket; echo "Error (criu/uffd.c:1): uffd: broken" > $log; exit 3');
  const daemon = await LazyPagesDaemon.start(criu, dir, dir);
  await expect(daemon.done).rejects.toThrow(/exited 3 before the restored memory was complete: .*uffd: broken/);
});

it('refuses to go on when it never starts listening', async () => {
  const criu = fakeCriu('echo "Error (criu/uffd.c:2): cannot open images" > $log; exit 1');
  await expect(LazyPagesDaemon.start(criu, dir, dir)).rejects.toThrow(/did not start: .*cannot open images/);
});
