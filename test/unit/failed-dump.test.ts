// A checkpoint that fails leaves nothing behind in the store, but a dump CRIU finished of a container that is gone
// (that dump is the container now: a retry adopts it). Found by the soak: every dump that failed on a full store left
// its part under a new generation number, nothing ever removed them, and the PC's store stayed full for good.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Checkpointer, type CheckpointerDeps } from '../../node/checkpoint';
import type { ExecutorConfig } from '../../node/executor-config';
import { RemnantStore } from '../../node/store';
import { useTmpfs } from '../helpers/tmpfs';

const MiB = 2 ** 20;
const mounted = useTmpfs('80m', 'failed-dump');
let store: RemnantStore;
let status: 'running' | 'absent';

beforeEach(async () => {
  rmSync(path.join(mounted(), 'store'), { recursive: true, force: true });
  store = new RemnantStore(path.join(mounted(), 'store'));
  await store.writeSpec({ containerId: 'c1' } as never);
  status = 'running';
});

/** A Checkpointer whose "CRIU" writes `mib` of pages (a real ENOSPC past the disk's 80 MiB), then does `after`. */
function checkpointer(mib: number, after: (imageDir: string, workDir: string) => void): Checkpointer {
  const runc = {
    state: () => Promise.resolve({ status, pid: 1 }),
    baseSpec: () => Promise.resolve({}),
    checkpoint: (_id: string, _strategy: string, imageDir: string, workDir: string) => {
      mkdirSync(imageDir, { recursive: true });
      mkdirSync(workDir, { recursive: true });
      for (let i = 0; i < mib; i++) writeFileSync(path.join(imageDir, `pages-${i + 1}.img`), Buffer.alloc(MiB, 7));
      after(imageDir, workDir);
      return Promise.resolve();
    },
  };
  const deps = {
    store,
    runc,
    net: { hold: () => Promise.resolve(), release: () => Promise.resolve({ heldPackets: 0 }) },
    configs: { absentKernelPaths: () => Promise.resolve([]), writeCriuConfig: () => Promise.resolve() },
    coordination: { readyToDump: () => Promise.resolve() },
  } as unknown as CheckpointerDeps;
  const config = { nodeId: 'pc1', capabilities: { strategy: 'content' } } as unknown as ExecutorConfig;
  return new Checkpointer(config, deps);
}

it('removes the part of a dump that filled the disk, so that the next one finds the room it had', async () => {
  for (let attempt = 0; attempt < 3; attempt++) {
    // 100 MiB into 80: CRIU stops at ENOSPC.
    const failing = checkpointer(100, () => undefined);
    await expect(failing.checkpoint('c1', true)).rejects.toThrow(/store is full|ENOSPC|no space/i);
    expect(await store.generationNumbers('c1')).toEqual([]);
  }
});

it('removes a dump that failed after CRIU wrote it while the container still runs', async () => {
  const failing = checkpointer(2, () => {
    throw new Error('runc checkpoint: exit status 1');
  });
  await expect(failing.checkpoint('c1', true)).rejects.toThrow(/exit status 1/);
  expect(await store.generationNumbers('c1')).toEqual([]);
});

it('keeps a dump CRIU finished when the container is gone with it: a retry takes it over', async () => {
  const failing = checkpointer(2, (_imageDir, workDir) => {
    writeFileSync(path.join(workDir, 'stats-dump'), 'finished');
    status = 'absent';
    throw new Error('runc checkpoint: lost its reply');
  });
  await expect(failing.checkpoint('c1', false)).rejects.toThrow(/lost its reply/);
  expect(await store.generationNumbers('c1')).toEqual([1]);
});
