// Kernel strategy, off the critical path: a generation whose chain of differential checkpoints grew past the
// threshold is rewritten as one self-contained image (paper, sec. 4.2, mechanism 4).
import { HASH_BYTES } from '../domain/manifest';
import { DEFAULT_CHAIN_MERGE_THRESHOLD, needsMerge } from '../domain/runc-args';
import type { PcCoordination } from './coordination';
import { ExecutorConfig, ExecutorError, msSince } from './executor-config';
import { MergedPages, mergeImageChain } from './merge-generation';
import { scanDirectory } from './scan';
import type { RemnantStore } from './store';

export interface MergeReport {
  generation: number;
  chainLength: number;
  pages: number;
  ms: number;
}

/**
 * Merges a generation whose chain is longer than the threshold into a self-contained one (store.mergeGeneration:
 * power-off safe). Null when its chain is short enough. Refused while the generation is being sent; dumps of the
 * container wait for it.
 */
export async function mergeChain(
  config: Pick<ExecutorConfig, 'chainMergeThreshold'>,
  deps: { store: RemnantStore; coordination: PcCoordination },
  containerId: string,
  generation: number,
): Promise<MergeReport | null> {
  const { store, coordination } = deps;
  const chain = await store.chain(containerId, generation);
  if (!needsMerge(chain.length, config.chainMergeThreshold ?? DEFAULT_CHAIN_MERGE_THRESHOLD)) return null;
  const t0 = process.hrtime.bigint();
  // The merged pages' hashes come from the chain's manifests: no page is hashed again (the small files are).
  let merged: MergedPages[] = [];
  const merge = async (dirs: string[], out: string) => {
    const r = await mergeImageChain(dirs, out);
    merged = r.merged;
    return r;
  };
  const describe = async (dir: string) => {
    const manifests = await Promise.all(chain.map((g) => coordination.manifest(containerId, g)));
    const prehashed = new Map<string, Buffer>();
    for (const m of merged) {
      const parts = m.runs.map((run) => {
        const chunks = manifests[run.level]!.entries.find((e) => e.path === m.sources[run.level])?.chunks;
        if (!chunks) throw new ExecutorError(`${m.sources[run.level]} is not in the manifest of its generation`);
        return chunks.subarray(run.offset * HASH_BYTES, (run.offset + run.pages) * HASH_BYTES);
      });
      prehashed.set(m.file, Buffer.concat(parts));
    }
    return (await scanDirectory(dir, 'checkpoint', containerId, generation, { withLocations: false, prehashed }))
      .manifest;
  };
  const { chainLength, pages } = await coordination.merge(containerId, generation, () =>
    store.mergeGeneration(containerId, generation, merge, describe),
  );
  coordination.forgetManifest(containerId, generation);
  coordination.uncheckGeneration(containerId, generation); // rewritten: checked again before a restore
  return { generation, chainLength, pages, ms: msSince(t0) };
}
