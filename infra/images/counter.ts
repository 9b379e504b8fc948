import execa from 'execa';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import path from 'node:path';

import { REPO_ROOT } from '../cluster/config';

/** The C source stays in the repository (the build copies no data files). */
const sourceFile = (): string => path.join(REPO_ROOT, 'infra', 'images', 'counter.c');

/**
 * A small rootfs for tests and the demo: static busybox and the counter workload (holds MIB MiB, rewrites
 * DIRTY_PAGES_PER_SEC pages a second, writes "<boot id> <count>" to /data/counter). Built once per source version.
 */
export async function ensureCounterRootfs(
  cacheDir = process.env.ZANSHIN_CACHE_DIR ?? '/var/cache/zanshin',
): Promise<string> {
  const source = sourceFile();
  const digest = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 12);
  const dir = path.join(cacheDir, 'images', `counter-${digest}`);
  const rootfs = path.join(dir, 'rootfs');
  if (existsSync(rootfs)) return rootfs;
  if (!existsSync('/bin/busybox'))
    throw new Error('/bin/busybox is missing: install busybox-static (infra/provision.sh does)');
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  for (const d of ['bin', 'data', 'proc', 'dev', 'sys', 'tmp', 'etc'])
    mkdirSync(path.join(tmp, 'rootfs', d), { recursive: true });
  const result = await execa('gcc', ['-static', '-O2', '-o', path.join(tmp, 'rootfs', 'bin', 'counter'), source], {
    reject: false,
  });
  if (result.exitCode !== 0)
    throw new Error(`compiling the counter workload failed (gcc and libc6-dev needed): ${result.stderr}`);
  copyFileSync('/bin/busybox', path.join(tmp, 'rootfs', 'bin', 'busybox'));
  for (const tool of ['sh', 'cat', 'ls', 'sleep']) symlinkSync('busybox', path.join(tmp, 'rootfs', 'bin', tool));
  mkdirSync(path.dirname(dir), { recursive: true });
  renameSync(tmp, dir);
  return rootfs;
}
