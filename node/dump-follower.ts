import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { isPagesFile, PAGE_SIZE } from '../domain/manifest';
import { hashPool, HashPool } from './hash-pool';
import { hashRangesWithPool } from './scan';

/** Hash at least this much at a time while the dump grows (smaller steps cost more than they overlap). */
const MIN_STEP = 4 << 20;
const POLL_MS = 20;

interface Followed {
  hashed: number;
  parts: Promise<Buffer>[];
}

/**
 * Hashes CRIU's page files while CRIU is still writing them, so that hashing overlaps the dump instead of
 * following it. CRIU only appends to pages-*.img (it splices pages in address order), so every whole page below
 * the current size is final. `finish()` hashes the rest once the dump is over.
 */
export class DumpFollower {
  private readonly files = new Map<string, Followed>();
  private timer: NodeJS.Timeout | null = null;
  private tick: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly pool: HashPool,
  ) {}

  /** Starts following `dir`; null where there is no hash pool to overlap with (sources run by tests). */
  static start(dir: string): DumpFollower | null {
    const pool = hashPool();
    if (!pool) return null;
    const follower = new DumpFollower(dir, pool);
    follower.timer = setInterval(() => {
      follower.tick = follower.tick.then(() => follower.step(false)).catch(() => undefined);
    }, POLL_MS);
    return follower;
  }

  private async step(final: boolean): Promise<void> {
    const names = (await readdir(this.dir).catch(() => [] as string[])).filter(isPagesFile);
    for (const name of names) {
      const file = path.join(this.dir, name);
      const size = (await stat(file)).size;
      let f = this.files.get(name);
      if (!f) this.files.set(name, (f = { hashed: 0, parts: [] }));
      const end = final ? size : size - (size % PAGE_SIZE);
      if (end - f.hashed < (final ? 1 : MIN_STEP)) continue;
      // While CRIU runs, one block at a time: one core keeps up with a dump, the other stays CRIU's. At the end, all.
      f.parts.push(
        hashRangesWithPool(this.pool, file, f.hashed, end - f.hashed, PAGE_SIZE, undefined, final ? undefined : 1),
      );
      f.hashed = end;
    }
  }

  /** After the dump: the hex sha256 of every page of every page file, by file name. */
  async finish(): Promise<Map<string, Buffer>> {
    if (this.timer) clearInterval(this.timer);
    await this.tick;
    await this.step(true);
    const out = new Map<string, Buffer>();
    for (const [name, f] of this.files) {
      out.set(name, Buffer.concat(await Promise.all(f.parts)));
    }
    return out;
  }

  /** Stops following (a failed dump); pending hashing is left to finish on its own. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
