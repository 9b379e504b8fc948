// A new container's rootfs, made from what its creator named (a directory or a tarball on this PC): checked to lie
// where sources may, copied or unpacked without device nodes, with zanshin-init put in place.
import execa from 'execa';
import { chmod, copyFile, lchown, mkdir, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { HELPERS_DIR } from '../common/config';
import type { ContainerUser, RootfsSource } from '../domain/reports';
import { InvalidInput, liesUnder } from '../domain/node-input';
import { ExecutorError } from './executor-config';
import { INIT_DIR } from './container-config';

export interface RootfsSourceRules {
  nodeId: string;
  /** Directories sources must lie in (symlinks resolved). Absent: anywhere. */
  rootfsRoots?: string[];
  /** Where the static zanshin-init binary copied into every container is. @default HELPERS_DIR */
  helpersDir?: string;
}

/** A rootfs source must lie in an allowed root, links resolved: else any directory of the PC could be copied in. */
export async function checkRootfsSource(source: string, rules: RootfsSourceRules): Promise<void> {
  const roots = rules.rootfsRoots;
  if (!roots) return;
  const real = await realpath(source).catch(() => null);
  if (real === null) throw new ExecutorError(`rootfs source ${source} does not exist on ${rules.nodeId}`);
  const realRoots = await Promise.all(roots.map((r) => realpath(r).catch(() => r)));
  if (!liesUnder(real, realRoots))
    throw new InvalidInput(
      `rootfs source ${source}${real === source ? '' : ` (${real})`} is outside the allowed roots of ` +
        `${rules.nodeId} (${roots.join(', ')}; ZANSHIN_ROOTFS_ROOTS)`,
    );
}

/**
 * A rootfs archive may hold device nodes of any number (/dev/sda of the PC, its memory): none is kept. runc gives
 * each container the few devices it may use, and devices never travel between PCs.
 */
export async function refuseDeviceNodes(rootfs: string, source: string): Promise<void> {
  const { stdout } = await execa('find', [rootfs, '-xdev', '(', '-type', 'b', '-o', '-type', 'c', ')', '-print']);
  const found = stdout.split('\n').filter(Boolean);
  if (!found.length) return;
  await rm(rootfs, { recursive: true, force: true });
  throw new ExecutorError(
    `rootfs ${source} holds ${found.length} device node(s) (${found
      .slice(0, 5)
      .map((f) => path.relative(rootfs, f))
      .join(', ')}${found.length > 5 ? ', ...' : ''}): containers get their devices from runc; ` +
      `remove them from the archive (e.g. tar --delete, or --exclude=dev/* when making it)`,
  );
}

/** Fills `rootfs` (created here) from the source, then puts zanshin-init in a fresh `.zanshin` of it. */
export async function populateRootfs(
  source: RootfsSource,
  rootfs: string,
  user: ContainerUser | undefined,
  rules: RootfsSourceRules,
): Promise<void> {
  await mkdir(rootfs, { recursive: true });
  if (source.dir) {
    const st = await stat(source.dir).catch(() => null);
    if (!st?.isDirectory()) throw new ExecutorError(`rootfs directory ${source.dir} does not exist on ${rules.nodeId}`);
    await execa('cp', ['-a', `${source.dir}/.`, rootfs]);
  } else if (source.tarball) {
    // Owners as numbers, as the image has them (a program that runs as its own user needs its files), never
    // renamed after this PC's users.
    const r = await execa('tar', ['-xf', source.tarball, '-C', rootfs, '--same-owner', '--numeric-owner'], {
      reject: false,
    });
    if (r.exitCode !== 0) throw new ExecutorError(`cannot unpack rootfs ${source.tarball}: ${r.stderr.trim()}`);
    await refuseDeviceNodes(rootfs, source.tarball);
  } else {
    throw new ExecutorError('createContainer needs rootfs.dir or rootfs.tarball');
  }
  // Made anew: an image's own .zanshin could be a link to anywhere on this PC.
  await rm(path.join(rootfs, INIT_DIR), { recursive: true, force: true });
  await mkdir(path.join(rootfs, INIT_DIR), { mode: 0o755 });
  // The program's logs go there, written as its user.
  if (user) await lchown(path.join(rootfs, INIT_DIR), user.uid, user.gid);
  await copyFile(path.join(rules.helpersDir ?? HELPERS_DIR, 'zanshin-init'), path.join(rootfs, INIT_DIR, 'init')).catch(
    (err: Error) => {
      throw new ExecutorError(`zanshin-init is missing on ${rules.nodeId} (run infra/provision.sh): ${err.message}`);
    },
  );
  await chmod(path.join(rootfs, INIT_DIR, 'init'), 0o755);
}
