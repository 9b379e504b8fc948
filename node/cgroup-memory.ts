import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { anonymousBytes, memoryCgroup } from '../domain/pre-copy';

/** Anonymous memory (what a checkpoint dumps) of the cgroup process `pid` is in, or null when it cannot be read. */
export async function cgroupMemoryBytes(pid: number, cgroupRoot = '/sys/fs/cgroup'): Promise<number | null> {
  try {
    const cg = memoryCgroup(await readFile(`/proc/${pid}/cgroup`, 'utf8'));
    if (!cg) return null;
    const dir = cg.version === 1 ? path.join(cgroupRoot, 'memory', cg.path) : path.join(cgroupRoot, cg.path);
    return anonymousBytes(await readFile(path.join(dir, 'memory.stat'), 'utf8'));
  } catch {
    return null; // the process is gone, or no memory controller: the caller treats the size as unknown
  }
}
