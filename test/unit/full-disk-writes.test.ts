// What a full disk must not break (found by the soak): the lease and the fenced list are written all the same (every
// lease renewal failed, and the fence froze a healthy PC's containers without recording which), and a transfer that
// cannot open leaves no staging behind.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { useTmpfs } from '../helpers/tmpfs';
import { TransferRegistry } from '../../node/dataplane/transfers';
import { FencedList, Lease } from '../../node/fence';
import { RemnantStore } from '../../node/store';

const mounted = useTmpfs('1m', 'fence-files');
let dir: string;
beforeAll(() => (dir = mounted()));

/** Fills the filesystem: the next write that needs a new block fails with ENOSPC. */
function fill(): void {
  execFileSync('sh', ['-c', `dd if=/dev/zero of=${path.join(dir, 'filler')} bs=64k 2>/dev/null; true`]);
  expect(() => writeFileSync(path.join(dir, 'probe'), 'x'.repeat(8192))).toThrow(/ENOSPC/);
}

it('renews the lease and rewrites the fenced list on a full disk, once they exist', async () => {
  const lease = new Lease(dir);
  const fenced = new FencedList(dir);
  await lease.acknowledge(1_000n);
  await fenced.write(['c-long-name-1', 'c-long-name-2', 'c-long-name-3']);
  fill();
  await lease.acknowledge(2_000n);
  expect(await lease.lastAck()).toBe(2_000n);
  await lease.acknowledge(1_500n); // an older report answered late renews nothing
  expect(await lease.lastAck()).toBe(2_000n);
  // Shorter than before: nothing of the longer list is left behind.
  await fenced.write(['c2']);
  expect(await fenced.read()).toEqual(['c2']);
  await fenced.write([]);
  expect(await fenced.read()).toEqual([]);
  rmSync(path.join(dir, 'filler'));
});

it('reads a damaged lease as none, and a damaged list as empty', async () => {
  writeFileSync(path.join(dir, 'lease.json'), '{"sentAtNs": "12');
  writeFileSync(path.join(dir, 'fenced.json'), '["c1", 3');
  expect(await new Lease(dir).lastAck()).toBeNull();
  expect(await new FencedList(dir).read()).toEqual([]);
  writeFileSync(path.join(dir, 'lease.json'), '{"sentAtNs": "x12"}');
  expect(await new Lease(dir).lastAck()).toBeNull();
});

it('opens no transfer on a full disk, and leaves no staging behind', async () => {
  const store = new RemnantStore(path.join(dir, 'store'));
  await new TransferRegistry(store).register('c1'); // the staging root exists, as on a PC that received before
  fill();
  await expect(new TransferRegistry(store).register('c2')).rejects.toThrow(/ENOSPC/);
  expect(readdirSync(store.stagingRoot())).toHaveLength(1);
  rmSync(path.join(dir, 'filler'));
});
