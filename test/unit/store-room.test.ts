// A store under its reserve makes room before a checkpoint or receive: the remnants that left longest ago go first,
// never the one asked for, one this PC runs or holds stopped (found by the soak: a full store kept a container on its
// PC for the rest of the run, every move off it refused).
import { mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { useTmpfs } from '../helpers/tmpfs';
import type { Manifest } from '../../domain/manifest';
import { PcCoordination } from '../../node/coordination';
import { TransferRegistry, type TransferRecord } from '../../node/dataplane/transfers';
import { Remnants, type RemnantDeps } from '../../node/remnants';
import { RemnantStore } from '../../node/store';

const MiB = 2 ** 20;
const mounted = useTmpfs('40m', 'room');
let dir: string;
let store: RemnantStore;
let running: Set<string>;
let open: TransferRecord[];

beforeAll(() => (dir = mounted()));

beforeEach(() => {
  rmSync(path.join(dir, 'store'), { recursive: true, force: true });
  store = new RemnantStore(path.join(dir, 'store'));
  running = new Set();
  open = [];
});

/** A container's directory holding `mib` of checkpoint, left `leftMinutesAgo` (no mark: it runs here). */
async function holding(id: string, mib: number, leftMinutesAgo?: number): Promise<void> {
  const gen = store.generationDir(id, 1);
  mkdirSync(gen, { recursive: true });
  writeFileSync(path.join(gen, 'pages.img'), Buffer.alloc(mib * MiB, 1));
  if (leftMinutesAgo !== undefined)
    await store.markRemnant(id, 3_600_000, new Date(Date.now() - leftMinutesAgo * 60_000));
}

function remnants(reserveMiB: number): Remnants {
  const deps = {
    store,
    runc: { state: (id: string) => Promise.resolve({ status: running.has(id) ? 'running' : 'absent' }) },
    transfers: new TransferRegistry(store),
    coordination: new PcCoordination({
      openTransfersSince: () => Promise.resolve(open),
      readManifest: () => Promise.resolve({} as Manifest),
      inheritedRuncEnded: () => Promise.resolve(),
    }),
  } as unknown as RemnantDeps;
  return new Remnants({ remnantRetentionMs: 3_600_000, keepGenerations: 2, storeReserveBytes: reserveMiB * MiB }, deps);
}

it('removes the oldest remnants until the reserve is free, sparing the container asked for and those it runs or holds stopped', async () => {
  await holding('old', 8, 30);
  await holding('asked', 8, 40); // the oldest, but the one the receive is for
  await holding('stopped', 8, 50);
  await store.markStopped('stopped', 1);
  await holding('runs', 4); // no remnant mark: it runs here
  await holding('newer', 8, 10);
  // 40 MiB, 36 held: about 4 free. A 10 MiB reserve needs one 8 MiB remnant gone: the oldest that may go.
  expect(await remnants(10).makeRoom('asked')).toEqual(['old']);
  expect((await store.containers()).sort()).toEqual(['asked', 'newer', 'runs', 'stopped']);
  // Room enough already: nothing goes.
  expect(await remnants(10).makeRoom('asked')).toEqual([]);
});

it('leaves everything while a transfer may read what the store holds, or a copy runs under a remnant mark', async () => {
  await holding('a', 16, 30);
  await holding('b', 16, 20);
  open = [{ transferId: 't1', createdAt: new Date().toISOString() } as TransferRecord];
  expect(await remnants(20).makeRoom('c')).toEqual([]);
  open = [];
  running.add('a'); // restored here meanwhile: its mark not yet cleared
  expect(await remnants(20).makeRoom('c')).toEqual(['b']);
});

it("removes a receive's staging nothing wrote to for ten minutes first; it no longer holds the remnants back", async () => {
  await holding('a', 16, 30);
  const registry = new TransferRegistry(store);
  const stale = await registry.register('b');
  const live = await registry.register('c');
  const dir = path.join(store.stagingRoot(), stale.transferId);
  writeFileSync(path.join(dir, 'pages.img'), Buffer.alloc(12 * MiB, 1)); // what a killed worker left received
  const old = new Date(Date.now() - 11 * 60_000);
  utimesSync(dir, old, old);
  open = [
    { transferId: stale.transferId, createdAt: old.toISOString() } as TransferRecord,
    { transferId: live.transferId, createdAt: new Date().toISOString() } as TransferRecord,
  ];
  // 28 MiB held, 12 free: a 20 MiB reserve. The stale staging goes; the live transfer still holds the remnants.
  expect(await remnants(20).makeRoom('c')).toEqual([`staging ${stale.transferId}`]);
  expect(readdirSync(store.stagingRoot())).toEqual([live.transferId]);
  expect(await store.containers()).toContain('a');
  // Once the live one is done too, the remnant may go for a larger reserve.
  open = [];
  expect(await remnants(36).makeRoom('c')).toEqual(['a']);
});

it('removes the parts that failed dumps left of any container first, even while a transfer is open; never the newest', async () => {
  // "runs" runs here: generation 1 complete, 2 and 3 parts of failed dumps (a newer one was begun after each),
  // 4 the newest part: a dump that may be under way.
  await holding('runs', 2);
  await store.commitGeneration('runs', { entries: [] } as unknown as Manifest, {
    generation: 1,
    createdAt: '',
    strategy: 'content',
    sourceNode: 'pc1',
  });
  for (const n of [2, 3, 4]) {
    mkdirSync(store.imageDir('runs', n), { recursive: true });
    writeFileSync(path.join(store.imageDir('runs', n), 'pages-1.img'), Buffer.alloc(8 * MiB, 1));
  }
  await holding('a', 8, 30);
  open = [{ transferId: 't1', createdAt: new Date().toISOString() } as TransferRecord];
  expect(await remnants(20).makeRoom('c')).toEqual(['runs/2', 'runs/3']);
  expect((await store.generationNumbers('runs')).sort()).toEqual([1, 4]);
  expect(await store.containers()).toContain('a'); // the open transfer may still read it
});
