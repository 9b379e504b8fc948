/**
 * Checks a held checkpoint image against its manifest before CRIU reads it: a byte flipped on disk since it was
 * written would otherwise be restored into a student's process. Hashes with the node's hash pool (GB/s).
 */
import { stat } from 'node:fs/promises';
import { HASH_BYTES, Manifest, resolveInside } from '../domain/manifest';
import { hashFileChunks } from './scan';

/** What in `dir` does not match `manifest` (the first such file and chunk), or null when all of it does. */
export async function imageDamage(dir: string, manifest: Manifest): Promise<string | null> {
  for (const e of manifest.entries) {
    if (e.type !== 'file') continue;
    const file = resolveInside(dir, e.path);
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) return `${e.path} is missing`;
    if (st.size !== e.size) return `${e.path} has ${st.size} bytes, not ${e.size}`;
    const hashes = await hashFileChunks(file, e.size, e.chunkSize!);
    if (hashes.equals(e.chunks!)) continue;
    for (let i = 0; i * HASH_BYTES < hashes.length; i++)
      if (hashes.compare(e.chunks!, i * HASH_BYTES, (i + 1) * HASH_BYTES, i * HASH_BYTES, (i + 1) * HASH_BYTES) !== 0)
        return `${e.path} chunk ${i} (bytes ${i * e.chunkSize!}-${Math.min(e.size, (i + 1) * e.chunkSize!) - 1}) does not match its hash`;
  }
  return null;
}
