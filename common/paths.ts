import { existsSync } from 'node:fs';
import path from 'node:path';

/** The repository root: the nearest folder above this file with a package.json (works from dist/ too). */
export const REPO_ROOT = findRepoRoot(__dirname);

function findRepoRoot(start: string): string {
  for (let dir = start; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
  }
  throw new Error(`no package.json above ${start}`);
}
