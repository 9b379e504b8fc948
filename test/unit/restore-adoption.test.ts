// Found by the soak (issue 28): a worker killed while `runc restore` ran left that restore going on without it; the
// copy ran, and the retried restore step answered "already exists", so the move was rolled back to its source from
// the dump and the seconds the copy had run were lost (a counter went back). A retry now takes over a copy that
// runs under its own move's epoch and from its transfer's generation; any other copy is still refused. runc and the
// network are replaced here (the executor's decision is what is tested; the soak runs the real thing).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NodeExecutor } from '../../node/executor';
import type { ContainerSpec, GenerationMeta } from '../../domain/reports';
import { scratchExecutor } from '../helpers/executor';

let tmp: string;
let executor: NodeExecutor;
const spec: ContainerSpec = { containerId: 'c1', args: ['/bin/app'], env: [], memoryMiB: 16 };
const meta: GenerationMeta = {
  generation: 7_000_003,
  createdAt: '2026-12-06T20:00:00Z',
  strategy: 'content',
  sourceNode: 'pc1',
};
const finished: string[] = [];
const released: string[] = [];

beforeEach(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-adopt-'));
  executor = scratchExecutor(tmp);
  finished.length = 0;
  await executor.store.setEpoch('c1', 7); // the first attempt recorded the move's epoch before runc restore
  // The received image, as the first attempt left it (its manifest is written once the copy runs).
  mkdirSync(executor.store.imageDir('c1', meta.generation), { recursive: true });
  await executor.store.writeMeta('c1', meta);
  jest.spyOn(executor.runc, 'state').mockResolvedValue({ containerId: 'c1', status: 'running', pid: 4242 });
  jest.spyOn(executor.runc, 'startedState').mockResolvedValue({ containerId: 'c1', status: 'running', pid: 4242 });
  released.length = 0;
  jest.spyOn(executor.net, 'release').mockImplementation((id: string) => {
    released.push(id);
    return Promise.resolve({ heldPackets: null });
  });
  jest.spyOn(executor.net, 'announce').mockResolvedValue();
  jest.spyOn(executor.transfers, 'get').mockResolvedValue({
    record: { containerId: 'c1' },
    manifests: { checkpoint: { kind: 'checkpoint', containerId: 'c1', generation: meta.generation, entries: [] } },
  } as never);
  jest.spyOn(executor.transfers, 'finish').mockImplementation((id: string) => {
    finished.push(id);
    return Promise.resolve();
  });
});
afterEach(() => {
  jest.restoreAllMocks();
  rmSync(tmp, { recursive: true, force: true });
});

it("takes over the copy its first attempt restored, under this move's epoch", async () => {
  const report = await executor.restoreFromTransfer('t-1', spec, meta, 7);
  expect(report).toMatchObject({ containerId: 'c1', generation: meta.generation, state: { status: 'running' } });
  expect(released).toEqual(['c1']); // the first attempt's hold rules are lifted
  expect(finished).toEqual(['t-1']);
  expect((await executor.store.readGeneration('c1', meta.generation)).manifest.generation).toBe(meta.generation);
});

it('refuses a copy of another epoch, or of another generation', async () => {
  await expect(executor.restoreFromTransfer('t-1', spec, meta, 8)).rejects.toThrow(
    'container c1 already exists on pc2',
  );
  await expect(executor.restoreFromTransfer('t-2', spec, { ...meta, generation: 7_000_004 }, 7)).rejects.toThrow(
    'already exists',
  );
  expect(finished).toEqual([]);
});

it('takes it over on a full store too: the manifest it cannot write does not undo a copy that runs', async () => {
  // Found by the soak: the manifest write failed ENOSPC, the move rolled back to its source from the dump, and the
  // seconds this copy had run were lost (a counter went back).
  const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  jest.spyOn(executor.store, 'writeManifest').mockRejectedValue(full);
  const said = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  const report = await executor.restoreFromTransfer('t-1', spec, meta, 7);
  expect(report).toMatchObject({ containerId: 'c1', generation: meta.generation, state: { status: 'running' } });
  expect(finished).toEqual(['t-1']);
  expect(said).toHaveBeenCalledWith(expect.stringMatching(/runs here but its manifest could not be written: ENOSPC/));
  // Unfinished here, and the newest: retention leaves it until a newer generation is begun.
  expect(await executor.store.generations('c1')).toEqual([]);
  expect(await executor.store.generationNumbers('c1')).toEqual([meta.generation]);
});
