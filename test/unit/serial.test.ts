// Steps of one container on a PC never overlap (issue 14): a retried restore whose first attempt still runs waits
// for it; and GC leaves every held thing alone while a transfer may have promised it to a source.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scratchExecutor } from '../helpers/executor';
import { KeyedSerialQueues } from '../../node/serial';

describe('KeyedSerialQueues', () => {
  it('runs calls of one key one after another, and calls of other keys meanwhile', async () => {
    const q = new KeyedSerialQueues();
    const log: string[] = [];
    const step = (name: string, ms: number) => async () => {
      log.push(`${name} start`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`${name} end`);
      return name;
    };
    const results = await Promise.all([
      q.run('c1', step('c1 first', 40)),
      q.run('c1', step('c1 retry', 1)),
      q.run('c2', step('c2', 1)),
    ]);
    expect(results).toEqual(['c1 first', 'c1 retry', 'c2']);
    expect(log.indexOf('c1 retry start')).toBeGreaterThan(log.indexOf('c1 first end'));
    expect(log.indexOf('c2 end')).toBeLessThan(log.indexOf('c1 first end'));
  });

  it('goes on after a failed call', async () => {
    const q = new KeyedSerialQueues();
    await expect(q.run('c1', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(q.run('c1', () => Promise.resolve(7))).resolves.toBe(7);
  });
});

describe('remnant GC while a transfer is open', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-gc-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('removes nothing held while a transfer may take from it, and the expired remnant once it ended', async () => {
    const executor = scratchExecutor(tmp);
    // c2 left pc2 long ago: its remnant (a rootfs other transfers may take chunks from) has expired.
    const rootfs = executor.store.rootfsDir('c2');
    mkdirSync(rootfs, { recursive: true });
    writeFileSync(path.join(rootfs, 'file'), 'held');
    await executor.store.markRemnant('c2', 1, new Date(Date.now() - 60_000));
    // c1 is on its way here.
    const { transferId } = await executor.transfers.register('c1');
    const during = await executor.collectGarbage();
    expect(during).toMatchObject({ remnants: [], generations: [], deferredBy: [transferId] });
    expect(existsSync(path.join(rootfs, 'file'))).toBe(true);
    await executor.transfers.finish(transferId);
    const after = await executor.collectGarbage();
    expect(after.remnants).toEqual(['c2']);
    expect(existsSync(rootfs)).toBe(false);
  });
});
