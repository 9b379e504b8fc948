import { chmodSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Creates `dir` readable by root alone (0700), its missing parents as ordinary directories: a recursive mkdir with
 * mode 0700 would make the data directory itself 0700 too, and PostgreSQL (another user) could no longer reach
 * its files in it.
 */
export function mkdirPrivate(dir: string): void {
  mkdirSync(path.dirname(dir), { recursive: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * The cluster's data directory, made if missing, and traversable by the other users the cluster runs as
 * (PostgreSQL): one left 0700 by an earlier version or a failed run gets its search bits back.
 */
export function ensureDataDir(dir: string, log: (line: string) => void = () => undefined): void {
  mkdirSync(dir, { recursive: true });
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o011) !== 0o011) {
    chmodSync(dir, mode | 0o011);
    log(`${dir} was mode ${mode.toString(8)}: made traversable (${(mode | 0o011).toString(8)}) for PostgreSQL`);
  }
}
