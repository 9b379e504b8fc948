// A write into a full store says so, and what to do (found by the soak: Node's recursive mkdir said ENOENT).
import os from 'node:os';
import { useTmpfs } from '../helpers/tmpfs';
import { storeWriteError } from '../../node/executor-config';

const mounted = useTmpfs('8m', 'full');
let dir: string;
beforeAll(() => (dir = mounted()));

it('names a full store and what to do, and leaves other errors as they are', async () => {
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, mkdir '/x'"), { code: 'ENOENT' });
  // 8 MiB in all: under the 64 MiB a store needs free, it counts as full.
  const said = (await storeWriteError(enoent, dir, 'pc4', 'checkpoint c1')) as Error;
  expect(said.message).toMatch(/^pc4's store is full \(\d+ MiB free of 0 GiB\): it cannot checkpoint c1\. Free space/);
  expect(await storeWriteError(enoent, os.tmpdir(), 'pc4', 'checkpoint c1')).toBe(enoent);
});
