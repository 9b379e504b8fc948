import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  decodePagemap,
  encodePagemap,
  isPagemapFile,
  PageRun,
  Pagemap,
  pagesFileName,
  planMerge,
} from '../domain/criu-pagemap';
import { isPagesFile, PAGE_SIZE } from '../domain/manifest';

/** Pages copied per read (1 MiB): memory stays flat whatever the image's size. */
const COPY_PAGES = 256;

async function fsyncPath(p: string): Promise<void> {
  const h = await open(p, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** One pages file of a merged image: where each of its runs of pages came from (the pages files of the chain). */
export interface MergedPages {
  file: string;
  runs: PageRun[];
  /** The pages file each level of the chain read from (null: the level had no pagemap for it). */
  sources: (string | null)[];
}

/**
 * Writes into `out` a self-contained CRIU image equal to the chain `imageDirs` (newest first, each the parent of the
 * one before): the newest image's files, with every pagemap's pages read through the chain into one pages file per
 * pagemap. Everything is flushed to disk before it returns (the caller swaps it in). Returns the pages written and
 * where they came from (so their hashes can be taken from the chain's manifests instead of hashing them again).
 */
export async function mergeImageChain(
  imageDirs: string[],
  out: string,
): Promise<{ pages: number; merged: MergedPages[] }> {
  const [newest] = imageDirs;
  if (!newest) throw new Error('no image to merge');
  await mkdir(out, { recursive: true });
  let pages = 0;
  const merged: MergedPages[] = [];
  for (const name of (await readdir(newest)).sort()) {
    const from = path.join(newest, name);
    const st = await lstat(from);
    if (!st.isFile() || isPagesFile(name)) continue; // the parent link is not followed; pages are rewritten
    if (!isPagemapFile(name)) {
      await copyFile(from, path.join(out, name), constants.COPYFILE_EXCL);
      continue;
    }
    const chain: (Pagemap | null)[] = [];
    for (const [level, dir] of imageDirs.entries()) {
      const buf = await readFile(path.join(dir, name)).catch(() => null);
      chain.push(buf ? decodePagemap(buf, `${name} of image ${level}`) : null);
    }
    const { pagemap, runs } = planMerge(chain, name);
    merged.push({
      file: pagesFileName(pagemap.pagesId),
      runs,
      sources: chain.map((pm) => (pm ? pagesFileName(pm.pagesId) : null)),
    });
    const sources = await Promise.all(
      chain.map((pm, level) =>
        pm ? open(path.join(imageDirs[level]!, pagesFileName(pm.pagesId)), 'r') : Promise.resolve(null),
      ),
    );
    const target = await open(path.join(out, pagesFileName(pagemap.pagesId)), 'wx');
    try {
      const buf = Buffer.allocUnsafe(COPY_PAGES * PAGE_SIZE);
      let written = 0;
      for (const run of runs) {
        for (let done = 0; done < run.pages;) {
          const n = Math.min(COPY_PAGES, run.pages - done);
          const bytes = n * PAGE_SIZE;
          const { bytesRead } = await sources[run.level]!.read(buf, 0, bytes, (run.offset + done) * PAGE_SIZE);
          if (bytesRead !== bytes)
            throw new Error(`${name}: pages file of image ${run.level} ends before page ${run.offset + done + n}`);
          await target.write(buf, 0, bytes, written);
          written += bytes;
          done += n;
        }
      }
      pages += written / PAGE_SIZE;
      await target.sync();
    } finally {
      await target.close();
      for (const s of sources) await s?.close();
    }
    await writeFile(path.join(out, name), encodePagemap(pagemap), { flag: 'wx' });
    await fsyncPath(path.join(out, name));
  }
  for (const name of await readdir(out))
    if (!isPagemapFile(name) && !isPagesFile(name)) await fsyncPath(path.join(out, name));
  await fsyncPath(out);
  return { pages, merged };
}
