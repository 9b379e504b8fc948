// Each soak PC's data directory on a filesystem of its own (a loop-mounted ext4 image), so that a "full disk" fault
// fills that PC's disk and nothing else: not the host's, not PostgreSQL's.
import execa from 'execa';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';

export class LoopDisks {
  private readonly mounted: string[] = [];

  constructor(private readonly imageDir: string) {}

  /** Makes a `sizeGiB` ext4 image (sparse) and mounts it at `at`. */
  async mount(name: string, at: string, sizeGiB: number): Promise<void> {
    mkdirSync(this.imageDir, { recursive: true });
    mkdirSync(at, { recursive: true });
    const image = path.join(this.imageDir, `${name}.img`);
    await execa('truncate', ['-s', `${sizeGiB}G`, image]);
    await execa('mkfs.ext4', ['-q', '-F', '-L', name.slice(0, 16), image]);
    await execa('mount', ['-o', 'loop', image, at]);
    this.mounted.push(at);
  }

  /** Fills the filesystem mounted at `at` but for `leaveMiB`; returns the filler to remove. */
  async fill(at: string, leaveMiB = 1): Promise<string> {
    const { stdout } = await execa('df', ['--output=avail', '-B1', at]);
    const free = Number(stdout.trim().split('\n').pop());
    const filler = path.join(at, 'soak-filler');
    const bytes = Math.max(0, free - leaveMiB * 2 ** 20);
    await execa('fallocate', ['-l', String(bytes), filler]);
    return filler;
  }

  /** Unmounts everything it mounted (lazily if busy) and removes the images. */
  async removeAll(): Promise<void> {
    for (const at of this.mounted.reverse()) {
      const r = await execa('umount', [at], { reject: false });
      if (r.exitCode !== 0) await execa('umount', ['-l', at], { reject: false });
    }
    this.mounted.length = 0;
    if (existsSync(this.imageDir)) rmSync(this.imageDir, { recursive: true, force: true });
  }
}
