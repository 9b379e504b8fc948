// The store's files on disk: written atomically (rename over), marks written durably (fsync, then the directory's),
// and read back tolerating damage (a PC switched off mid-write leaves an empty or torn mark: that remnant is left out).
import { open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const exists = (p: string): Promise<boolean> =>
  stat(p).then(
    () => true,
    () => false,
  );

export async function writeAtomic(file: string, data: Buffer | string | Buffer[]): Promise<void> {
  await writeFile(`${file}.tmp`, data);
  await rename(`${file}.tmp`, file);
}

/**
 * writeAtomic that also survives a power-off: the file reaches the disk before the rename, the rename before this
 * returns. Without it a file created just before a PC was switched off comes back empty (ext4 allocates its blocks
 * late): seen with remnant.json on a guest PC stopped seconds after a move. For the small marks written off the
 * critical path; a generation's files are written in the freeze and checked when read (generations()).
 */
export async function writeDurable(file: string, data: string): Promise<void> {
  const handle = await open(`${file}.tmp`, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(`${file}.tmp`, file);
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** A mark file (remnant.json, stopped.json, ...): null when absent; damaged (empty, torn) ones say which file. */
export async function readMark<T>(file: string): Promise<T | null> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new DamagedStoreFileError(
      `${file} is damaged (${text.length} bytes, not JSON): a power-off while it was written?`,
    );
  }
}

/** Damaged files already told: each report reads the store again, and one line a file is enough. */
const toldDamaged = new Set<string>();

/** Logs a damaged store file (once) and answers null (the caller leaves that container out); rethrows anything else. */
export function skipDamaged(err: unknown): null {
  if (!(err instanceof DamagedStoreFileError)) throw err;
  if (!toldDamaged.has(err.message)) {
    toldDamaged.add(err.message);
    console.error(`${err.message}: that container's remnant is left out`);
  }
  return null;
}

/** A store file that cannot be read back (a power-off while it was written, a flipped byte). */
export class DamagedStoreFileError extends Error {
  override name = 'DamagedStoreFileError';
}

/**
 * A node's remnant store:
 *   containers/<id>/container.json        how to run it
 *   containers/<id>/bundle/{config.json,rootfs/}
 *   containers/<id>/bundle.manifest       the rootfs as last synced
 *   containers/<id>/gens/<n>/image/        a CRIU image; gens/<n>/manifest, gens/<n>/meta.json
 *     A differential one (kernel strategy, meta.parent = p) holds only the pages dirtied since p, and the link
 *     image/parent -> ../../<p>/image through which CRIU reads the rest; the store made that link, never a manifest.
 *     A merge (mergeGeneration) replaces such an image with a self-contained one; while it runs,
 *     gens/<n>/image.merged is being written and gens/<n>/image.chained holds the old one (see recoverMerge).
 *   containers/<id>/remnant.json          present once the container has left this node
 *   staging/<transfer>/                   chunks being received
 * Checkpoint images are the chunk packs: a page is found by (image file, offset) and verified on every read.
 */
