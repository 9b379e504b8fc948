// A copy of an image with one directory that only a given user may enter (0700 dirs, 0600 files, its owner): a
// program running as that user works in it only if a move carried the owners. Made once per image, beside it (the
// PCs accept rootfs sources there, and guest PCs see the same directory).
import execa from 'execa';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

export function ensurePrivateCopy(base: string, subdir: string, user: { uid: number; gid: number }): string {
  const dir = `${base}-private-${user.uid}-${subdir.replace(/\W/g, '_')}`;
  if (existsSync(dir)) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  execa.sync('cp', ['-a', base, tmp]);
  const inside = path.join(tmp, subdir);
  mkdirSync(inside, { recursive: true });
  execa.sync('chown', ['-R', `${user.uid}:${user.gid}`, inside]);
  execa.sync('find', [inside, '-type', 'd', '-exec', 'chmod', '0700', '{}', '+']);
  execa.sync('find', [inside, '-type', 'f', '-exec', 'chmod', '0600', '{}', '+']);
  renameSync(tmp, dir);
  return dir;
}
