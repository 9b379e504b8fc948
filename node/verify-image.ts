/**
 * Reads held files back against their manifest entries: a byte flipped on disk since they were written must not
 * reach a restore (CRIU) or be claimed as held (a rootfs). Hashes with the node's hash pool (GB/s).
 */
import { lstat } from 'node:fs/promises';
import { digestsEqual } from '../domain/digest-index';
import { chunkCountOf, Manifest, ManifestEntry, resolveInside } from '../domain/manifest';
import { hashFileChunks } from './scan';

/** The chunks of a file entry that `file` no longer holds (all of them when it is missing or of another size). */
export async function damagedChunks(file: string, e: ManifestEntry): Promise<number[]> {
  const all = Array.from({ length: chunkCountOf(e) }, (_, i) => i);
  const st = await lstat(file).catch(() => null);
  if (!st?.isFile() || st.size !== e.size) return all;
  const found = await hashFileChunks(file, e.size, e.chunkSize!);
  return all.filter((i) => !digestsEqual(found, i, e.chunks!, i));
}

/** What in `dir` does not match `manifest` (the first such file and chunk), or null when all of it does. */
export async function imageDamage(dir: string, manifest: Manifest): Promise<string | null> {
  for (const e of manifest.entries) {
    if (e.type !== 'file') continue;
    const [i] = await damagedChunks(resolveInside(dir, e.path), e);
    if (i === undefined) continue;
    const from = i * e.chunkSize!;
    return `${e.path} chunk ${i} (bytes ${from}-${Math.min(e.size!, from + e.chunkSize!) - 1}) does not match its hash`;
  }
  return null;
}
