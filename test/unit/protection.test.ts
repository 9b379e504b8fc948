// Continuous protection without a cluster: the interval rule, the holder's leases behind its data plane (over real
// HTTP on 127.0.0.1), and the PC's loop driving a stand-in executor against that holder.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { freezeEstimate, protectionInterval, ProtectionLease } from '../../domain/protection';
import type { CheckpointReport, ContainerSpec, GenerationMeta, TransferReport } from '../../domain/reports';
import { ProtectionClient } from '../../node/dataplane/protection-client';
import { buildDataPlane } from '../../node/dataplane/server';
import { TransferRegistry } from '../../node/dataplane/transfers';
import { ProtectionLoop } from '../../node/protection';
import {
  ABANDONED_TRANSFER_MS,
  HolderWork,
  IDLE_LEASE_MS,
  LeaseRefused,
  ProtectionHolder,
} from '../../node/protection-holder';
import type { ReceivePlan } from '../../node/receiving';
import { RemnantStore } from '../../node/store';

const SETTINGS = { intervalMs: 15_000, freezeShare: 0.02, maxIntervalMs: 600_000 };

describe('the interval rule', () => {
  it('keeps the interval asked for while freezes stay under the share', () => {
    expect(protectionInterval(SETTINGS, null)).toBe(15_000);
    expect(protectionInterval(SETTINGS, 300)).toBe(15_000); // 300 ms of 15 s: exactly 2 %
  });
  it('lengthens it so that freezes take at most the share of wall time, up to the maximum', () => {
    expect(protectionInterval(SETTINGS, 600)).toBe(30_000);
    expect(protectionInterval({ ...SETTINGS, freezeShare: 0.05 }, 1_000)).toBe(20_000);
    expect(protectionInterval(SETTINGS, 60_000)).toBe(600_000);
  });
  it('expects the median of the last five freezes: one slow dump does not stretch the interval', () => {
    expect(freezeEstimate([])).toBeNull();
    expect(freezeEstimate([400])).toBe(400);
    expect(freezeEstimate([300, 500])).toBe(400);
    expect(freezeEstimate([300, 320, 1500])).toBe(320);
    expect(freezeEstimate([9000, 300, 310, 900, 905, 910])).toBe(900); // a lasting change is followed
    expect(() => freezeEstimate([400, -1])).toThrow(RangeError);
  });
});

const plan = (transferId: string): ReceivePlan => ({
  transferId,
  token: 'transfer-token-0123456789',
  address: '127.0.0.1:1',
  heldGenerations: [3],
  rewrittenGenerations: [],
  hasBundle: true,
  dirtyTracking: false,
  absentKernelPaths: [],
});
const spec = (containerId: string): ContainerSpec => ({
  containerId,
  args: ['/usr/bin/redis-server'],
  env: [],
  memoryMiB: 256,
});
const meta = (generation: number): GenerationMeta => ({
  generation,
  createdAt: new Date().toISOString(),
  strategy: 'content',
  sourceNode: 'pc1',
});

/** What the holder's stand-in executor was asked to do. */
class Work implements HolderWork {
  calls: string[] = [];
  private n = 0;
  prepareReceive(containerId: string): Promise<ReceivePlan> {
    this.calls.push(`prepare ${containerId}`);
    return Promise.resolve(plan(`00000000-0000-4000-8000-00000000000${++this.n}`));
  }
  storeFromTransfer(transferId: string, s: ContainerSpec, m: GenerationMeta): Promise<{ generation: number }> {
    this.calls.push(`store ${transferId} ${s.containerId} ${m.generation}`);
    return Promise.resolve({ generation: m.generation });
  }
  abortReceive(transferId: string): Promise<void> {
    this.calls.push(`abort ${transferId}`);
    return Promise.resolve();
  }
}

let tmp: string;
let server: FastifyInstance;
let address: string;
let work: Work;
let holder: ProtectionHolder;

beforeEach(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-protection-'));
  work = new Work();
  holder = new ProtectionHolder('pc2', work);
  server = buildDataPlane(new TransferRegistry(new RemnantStore(path.join(tmp, 'store'))), undefined, null, holder);
  address = new URL(await server.listen({ host: '127.0.0.1', port: 0 })).host;
});

afterEach(async () => {
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
});

const leaseFor = (containerId: string, source = 'pc1'): ProtectionLease => ({
  containerId,
  holder: 'pc2',
  address,
  ...holder.open(containerId, source),
});

/** The HTTP status a refused request got (the client's error carries it). */
const refusal = (p: Promise<unknown>): Promise<number | undefined> =>
  p.then(
    () => undefined,
    (err: { status?: number }) => err.status,
  );

describe("the holder's leases", () => {
  it('drops what a dead source left: an unfinished checkpoint at its next one, or after a while; then the lease', async () => {
    const lease = leaseFor('redis');
    const first = await new ProtectionClient(lease).begin();
    const second = await new ProtectionClient(lease).begin(); // the source restarted mid-way
    expect(work.calls).toContain(`abort ${first.transferId}`);
    expect(await holder.sweep(Date.now() + ABANDONED_TRANSFER_MS + 1_000)).toEqual([second.transferId]);
    expect(await holder.sweep(Date.now() + IDLE_LEASE_MS + 1_000)).toEqual([]);
    expect(await refusal(new ProtectionClient(lease).begin())).toBe(404); // the idle lease ended
  });

  it('opens a transfer and keeps its checkpoint for the bearer of the lease only', async () => {
    const lease = leaseFor('redis');
    const opened = await new ProtectionClient(lease).begin();
    expect(opened.heldGenerations).toEqual([3]);
    expect(await refusal(new ProtectionClient({ ...lease, token: 'x'.repeat(43) }).begin())).toBe(403);
    expect(await refusal(new ProtectionClient({ ...lease, token: '' }).begin())).toBe(401);
    expect(await refusal(new ProtectionClient({ ...lease, leaseId: 'no-such-lease' }).begin())).toBe(404);
    expect(await new ProtectionClient(lease).keep(opened.transferId, spec('redis'), meta(4))).toEqual({
      generation: 4,
    });
    expect(work.calls).toEqual(['prepare redis', `store ${opened.transferId} redis 4`]);
  });

  it("refuses another container's checkpoint, a transfer not opened under the lease, and a malformed one", async () => {
    const lease = leaseFor('redis');
    const other = leaseFor('httpd');
    const opened = await new ProtectionClient(lease).begin();
    expect(await refusal(new ProtectionClient(lease).keep(opened.transferId, spec('httpd'), meta(4)))).toBe(400);
    expect(await refusal(new ProtectionClient(other).keep(opened.transferId, spec('httpd'), meta(4)))).toBe(404);
    expect(await refusal(new ProtectionClient(lease).keep('../../etc', spec('redis'), meta(4)))).toBe(400);
    expect(work.calls.filter((c) => c.startsWith('store'))).toEqual([]);
  });

  it('a new lease of a container ends the old one and drops its open transfers; a PC cannot hold its own', async () => {
    const first = leaseFor('redis');
    const opened = await new ProtectionClient(first).begin();
    const second = leaseFor('redis', 'pc3');
    expect(await refusal(new ProtectionClient(first).begin())).toBe(404);
    expect(work.calls).toContain(`abort ${opened.transferId}`);
    expect((await new ProtectionClient(second).begin()).transferId).toBeDefined();
    expect(() => holder.open('redis', 'pc2')).toThrow(LeaseRefused);
  });
});

/** The PC's side: an executor that "checkpoints" instantly, and one whose bundle sync waits until aborted. */
function standInExecutor(o: { syncWaits?: boolean } = {}) {
  const calls: string[] = [];
  let generation = 10;
  return {
    calls,
    list: () => Promise.resolve([{ containerId: 'redis', status: 'running' } as never]),
    syncBundle: (_id: string, _t: unknown, _f: boolean, opts?: { signal?: AbortSignal }) => {
      calls.push('sync');
      if (!o.syncWaits) return Promise.resolve({ wireBytes: 100 } as TransferReport);
      return new Promise<TransferReport>((_resolve, reject) =>
        opts?.signal?.addEventListener('abort', () => reject(new Error('aborted'))),
      );
    },
    checkpoint: (_id: string, leaveRunning: boolean, opts?: { supersedes?: number[] }) => {
      calls.push(`checkpoint leaveRunning=${leaveRunning} supersedes=${JSON.stringify(opts?.supersedes)}`);
      generation++;
      return Promise.resolve({
        generation,
        dumpMs: 500,
        frozenMs: 400,
        spec: spec('redis'),
        meta: meta(generation),
      } as CheckpointReport);
    },
    sendCheckpoint: (_id: string, g: number, _t: unknown, holds: number[]) => {
      calls.push(`send ${g} holds=${JSON.stringify(holds)}`);
      return Promise.resolve({ wireBytes: 2048 } as TransferReport);
    },
  };
}

describe("the PC's protection loop", () => {
  it('asks for a lease, then checkpoints each interval onto the holder, lengthened by the freeze share', async () => {
    const executor = standInExecutor();
    const asked: string[][] = [];
    const loop = new ProtectionLoop({
      nodeId: 'pc1',
      executor,
      settings: SETTINGS,
      requestLeases: (ids) => Promise.resolve(void asked.push(ids)),
      log: () => undefined,
    });
    const t0 = Date.now();
    await loop.tick(t0);
    expect(asked).toEqual([['redis']]);
    loop.acceptLease(leaseFor('redis'));
    await loop.tick(t0 + 1_000); // just arrived: its first checkpoint comes one interval later
    expect(executor.calls).toEqual([]);
    await loop.tick(t0 + SETTINGS.intervalMs);
    await loop.tick(Date.now() + 60_000);
    expect(executor.calls).toEqual([
      'sync',
      'checkpoint leaveRunning=true supersedes=[]',
      'send 11 holds=[3]',
      'sync',
      'checkpoint leaveRunning=true supersedes=[]',
      'send 12 holds=[3]',
    ]);
    expect(work.calls.filter((c) => c.startsWith('store')).map((c) => c.split(' ').slice(2).join(' '))).toEqual([
      'redis 11',
      'redis 12',
    ]);
    const [status] = loop.statuses();
    // 400 ms frozen, then 400 ms again: 2 % of wall time means one every 20 s, not the 15 s asked for.
    expect(status).toMatchObject({
      containerId: 'redis',
      holder: 'pc2',
      generation: 12,
      frozenMs: 400,
      wireBytes: 2048,
    });
    expect(status!.intervalMs).toBe(20_000);
  });

  it('yields at once to a migration of the container: the unfinished checkpoint is dropped on the holder', async () => {
    const executor = standInExecutor({ syncWaits: true });
    const lines: string[] = [];
    const loop = new ProtectionLoop({
      nodeId: 'pc1',
      executor,
      settings: SETTINGS,
      requestLeases: () => Promise.resolve(),
      log: (l) => lines.push(l),
    });
    const t0 = Date.now();
    await loop.tick(t0);
    loop.acceptLease(leaseFor('redis'));
    const running = loop.tick(t0 + SETTINGS.intervalMs);
    while (!executor.calls.includes('sync')) await new Promise((r) => setTimeout(r, 5));
    loop.yieldTo('redis');
    await running;
    expect(lines).toContain('pc1: protection of redis yielded to a migration');
    expect(work.calls.filter((c) => c.startsWith('abort'))).toHaveLength(1);
    expect(work.calls.filter((c) => c.startsWith('store'))).toEqual([]);
    // And stays away while the migration runs.
    await loop.tick(t0 + 2 * SETTINGS.intervalMs);
    expect(executor.calls).toEqual(['sync']);
  });
});
