// Kernel strategy after a restore: the restored memory becomes the base of the next, differential, dump.
import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FILE_CHUNK_SIZE } from '../domain/manifest';
import type { GenerationMeta } from '../domain/reports';
import { withDumpUptime } from '../domain/criu-inventory';
import type { PcCoordination } from './coordination';
import type { RemnantStore } from './store';

/**
 * The action script restarted tracking before the tasks resumed, so the restored memory equals this generation's
 * image from that moment. Its inventory's dump time moves to now (else CRIU takes the restored tasks, started after
 * it, for reused pids and dumps every page: domain/criu-inventory.ts), its manifest follows the rewritten file, and
 * it becomes the base of the next, differential, dump.
 */
export async function trackFrom(
  deps: { store: RemnantStore; coordination: PcCoordination },
  containerId: string,
  generation: number,
  meta: GenerationMeta,
): Promise<void> {
  const { store, coordination } = deps;
  const uptimeUs = BigInt(Math.round(Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]) * 1e6));
  const file = path.join(store.imageDir(containerId, generation), 'inventory.img');
  const inventory = withDumpUptime(await readFile(file), uptimeUs);
  await writeFile(`${file}.tmp`, inventory);
  await rename(`${file}.tmp`, file);
  const manifest = await coordination.manifest(containerId, generation);
  const at = manifest.entries.findIndex((e) => e.path === 'inventory.img');
  if (at >= 0) {
    const chunks: Buffer[] = [];
    for (let o = 0; o < inventory.length || o === 0; o += FILE_CHUNK_SIZE)
      chunks.push(
        createHash('sha256')
          .update(inventory.subarray(o, o + FILE_CHUNK_SIZE))
          .digest(),
      );
    manifest.entries[at] = { ...manifest.entries[at]!, size: inventory.length, chunks: Buffer.concat(chunks) };
  }
  // A restore from a transfer writes the manifest itself once the container runs; a held generation's is here.
  if ((await store.generations(containerId)).includes(generation))
    await store.writeManifest(containerId, generation, manifest);
  await store.writeMeta(containerId, { ...meta, rewritten: meta.rewritten ?? 'tracking' });
  await store.setTrackingBase(containerId, generation);
}
