// zanshin-init's record of how a program ended (issue 28, found by the soak): only this copy's record counts (a
// restore clears one carried in the rootfs from an earlier life, or a copy later lost is taken for "exited" and never
// recovered), and the record is read without following the container's symlinks.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clearExitRecord } from '../../node/restoring';
import { scratchExecutor } from '../helpers/executor';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-exit-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

it("reads the program's ending only as zanshin-init writes it, following no symlink", async () => {
  const executor = scratchExecutor(tmp);
  const rootfs = executor.store.rootfsDir('c1');
  mkdirSync(path.join(rootfs, '.zanshin'), { recursive: true });
  expect(await executor.exitOf('c1')).toBeNull();
  writeFileSync(path.join(rootfs, '.zanshin', 'exit'), 'signal 9\n');
  expect(await executor.exitOf('c1')).toEqual({ status: 'signal 9' });
  writeFileSync(path.join(rootfs, '.zanshin', 'exit'), 'anything a program may write here');
  expect(await executor.exitOf('c1')).toBeNull();
  // A record that is a symlink to a host file, or a .zanshin that leads outside the rootfs: nothing is read.
  const host = path.join(tmp, 'host-secret');
  writeFileSync(host, 'exit 0');
  rmSync(path.join(rootfs, '.zanshin', 'exit'));
  symlinkSync(host, path.join(rootfs, '.zanshin', 'exit'));
  expect(await executor.exitOf('c1')).toBeNull();
  rmSync(path.join(rootfs, '.zanshin'), { recursive: true });
  mkdirSync(path.join(tmp, 'elsewhere'));
  writeFileSync(path.join(tmp, 'elsewhere', 'exit'), 'exit 0');
  symlinkSync(path.join(tmp, 'elsewhere'), path.join(rootfs, '.zanshin'));
  expect(await executor.exitOf('c1')).toBeNull();
  // ...and clearing through it removes nothing outside.
  await clearExitRecord(rootfs);
  expect(existsSync(path.join(tmp, 'elsewhere', 'exit'))).toBe(true);
});

it('clears an ending recorded in an earlier life of the rootfs', async () => {
  const rootfs = path.join(tmp, 'rootfs');
  mkdirSync(path.join(rootfs, '.zanshin'), { recursive: true });
  writeFileSync(path.join(rootfs, '.zanshin', 'exit'), 'signal 9');
  writeFileSync(path.join(rootfs, '.zanshin', 'exit.tmp'), 'sig');
  await clearExitRecord(rootfs);
  expect(readdirSync(path.join(rootfs, '.zanshin'))).toEqual([]);
});
