// The rules between one PC's verbs (node/coordination.ts), each checked on its own, without runc or CRIU.
import type { Manifest } from '../../domain/manifest';
import type { RestoreReport } from '../../domain/reports';
import { PcCoordination, TRANSFER_PROMISE_MS } from '../../node/coordination';
import type { TransferRecord } from '../../node/dataplane/transfers';

const manifestOf = (generation: number): Manifest =>
  ({ kind: 'checkpoint', containerId: 'c1', generation, entries: [] }) as unknown as Manifest;

function coordination(transfers: TransferRecord[] = []) {
  const reads: string[] = [];
  const c = new PcCoordination({
    openTransfersSince: (since) => Promise.resolve(transfers.filter((t) => Date.parse(t.createdAt) >= since.getTime())),
    readManifest: (id, n) => {
      reads.push(`${id}/${n}`);
      return Promise.resolve(manifestOf(n));
    },
    inheritedRuncEnded: () => Promise.resolve(),
  });
  return { c, reads };
}

/** A promise with its resolve handle. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** Whether `p` is still pending after the event loop has run what is ready. */
async function pending(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setImmediate(r));
  return !settled;
}

describe('rule 1: no dump while memory is pending or a merge runs', () => {
  it('waits for a lazy restore of the same container to bring all its memory', async () => {
    const { c } = coordination();
    const memory = gate();
    c.memoryArriving('c1', memory.promise);
    const ready = c.readyToDump('c1');
    expect(await pending(ready)).toBe(true);
    expect(await pending(c.readyToDump('c2'))).toBe(false); // another container is not held up
    memory.open();
    await expect(ready).resolves.toBeUndefined();
  });

  it('waits for a merge of the chain, and goes on when the merge fails', async () => {
    const { c } = coordination();
    const merge = gate();
    const merged = c.merge('c1', 4, () => merge.promise.then(() => Promise.reject(new Error('disk full'))));
    const ready = c.readyToDump('c1');
    expect(await pending(ready)).toBe(true);
    merge.open();
    await expect(merged).rejects.toThrow('disk full');
    await expect(ready).resolves.toBeUndefined();
  });
});

describe('rule 2: nothing dropped or merged while a send reads it', () => {
  it('pins a generation for as long as any send of it runs', async () => {
    const { c } = coordination();
    const first = gate();
    const second = gate();
    const a = c.sending('c1', 3, () => first.promise);
    const b = c.sending('c1', 3, () => second.promise);
    expect(c.mayDrop('c1', 3)).toBe(false);
    expect(c.mayDrop('c1', 2)).toBe(true);
    first.open();
    await a;
    expect(c.mayDrop('c1', 3)).toBe(false); // the second send still reads it
    second.open();
    await b;
    expect(c.mayDrop('c1', 3)).toBe(true);
  });

  it('releases the pin when the send fails', async () => {
    const { c } = coordination();
    await expect(c.sending('c1', 3, () => Promise.reject(new Error('link down')))).rejects.toThrow('link down');
    expect(c.mayDrop('c1', 3)).toBe(true);
  });

  it('refuses to merge a generation being sent, without starting the merge', async () => {
    const { c } = coordination();
    const send = gate();
    const sent = c.sending('c1', 5, () => send.promise);
    const start = jest.fn(() => Promise.resolve('merged'));
    await expect(c.merge('c1', 5, start)).rejects.toMatchObject({ name: 'ExecutorError' });
    expect(start).not.toHaveBeenCalled();
    send.open();
    await sent;
    await expect(c.merge('c1', 5, start)).resolves.toBe('merged');
  });
});

describe('rule 3: one restore, receive or store per container at a time', () => {
  it("runs one container's steps one after another and others side by side", async () => {
    const { c } = coordination();
    const log: string[] = [];
    const step = (name: string, ms: number) => async () => {
      log.push(`${name} start`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`${name} end`);
    };
    await Promise.all([
      c.oneAtATime('c1', step('c1 restore', 30)),
      c.oneAtATime('c1', step('c1 store', 5)),
      c.oneAtATime('c2', step('c2 restore', 5)),
    ]);
    expect(log.indexOf('c1 store start')).toBeGreaterThan(log.indexOf('c1 restore end'));
    expect(log.indexOf('c2 restore end')).toBeLessThan(log.indexOf('c1 restore end'));
  });

  it('answers a retried restore of a completed transfer with the first report, and runs a failed one again', async () => {
    const { c } = coordination();
    const report = { generation: 3 } as RestoreReport;
    const restore = jest.fn(() => Promise.resolve(report));
    const [first, retry] = await Promise.all([
      c.restoreOnce('t-1', 'c1', restore),
      c.restoreOnce('t-1', 'c1', restore),
    ]);
    expect(retry).toBe(first);
    expect(restore).toHaveBeenCalledTimes(1);
    const failing = jest.fn().mockRejectedValueOnce(new Error('criu failed')).mockResolvedValueOnce(report);
    await expect(c.restoreOnce('t-2', 'c1', failing)).rejects.toThrow('criu failed');
    await expect(c.restoreOnce('t-2', 'c1', failing)).resolves.toBe(report);
  });
});

describe('rule 4: GC waits for open transfers', () => {
  it('names the transfers opened within the promise, and lets an abandoned one go', async () => {
    const now = new Date('2026-12-05T12:00:00Z');
    const at = (msAgo: number) => new Date(now.getTime() - msAgo).toISOString();
    const { c } = coordination([
      { transferId: 'fresh', containerId: 'c1', tokenSha256: '', createdAt: at(60_000) },
      { transferId: 'abandoned', containerId: 'c2', tokenSha256: '', createdAt: at(TRANSFER_PROMISE_MS + 1) },
    ]);
    expect((await c.transfersHoldingGc(now)).map((t) => t.transferId)).toEqual(['fresh']);
  });
});

describe('rule 5: only what this worker checked is restored unchecked', () => {
  it('forgets a rewritten generation, and a whole container held for a while', () => {
    const { c } = coordination();
    c.checked('c1', 1);
    c.checked('c1', 2);
    c.checked('c10', 1);
    c.uncheckGeneration('c1', 2);
    expect([c.isChecked('c1', 1), c.isChecked('c1', 2)]).toEqual([true, false]);
    c.uncheckContainer('c1');
    expect(c.isChecked('c1', 1)).toBe(false);
    expect(c.isChecked('c10', 1)).toBe(true); // a container whose id starts alike is not touched
  });
});

describe('rule 6: the manifests a move reads right after stay in memory', () => {
  it('reads a manifest once, keeps the two most recent, and forgets a rewritten one', async () => {
    const { c, reads } = coordination();
    await c.manifest('c1', 1);
    await c.manifest('c1', 1);
    expect(reads).toEqual(['c1/1']);
    c.rememberManifest('c1', 2, manifestOf(2)); // a dump just taken
    c.rememberManifest('c1', 3, manifestOf(3));
    expect([c.hasManifest('c1', 1), c.hasManifest('c1', 2), c.hasManifest('c1', 3)]).toEqual([false, true, true]);
    c.forgetManifest('c1', 3);
    await c.manifest('c1', 3);
    expect(reads).toEqual(['c1/1', 'c1/3']);
  });
});
