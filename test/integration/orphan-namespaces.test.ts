// Found by the soak (issue 28): a worker killed after a container's dump but before its namespace was removed left
// the namespace up, still answering the container's address on the LAN while the container ran elsewhere. Each report
// now sweeps the namespaces of containers the PC holds but no longer runs. Real namespaces; no runc container runs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNamespaces } from '../../infra/cluster/netns';
import { scratchExecutor } from '../helpers/executor';

let tmp: string;
const made: string[] = [];
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-orphans-'));
});
afterAll(() => {
  for (const ns of made) execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
  rmSync(tmp, { recursive: true, force: true });
});

it("removes the namespace of a container the PC holds but no longer runs, and leaves others' alone", async () => {
  const executor = scratchExecutor(tmp); // pc2, namespaces zc-pc2-<container>
  await executor.store.writeSpec({ containerId: 'zo1', args: ['/bin/app'], env: [], memoryMiB: 16 });
  for (const ns of ['zc-pc2-zo1', 'zc-pc2-zo2']) {
    execFileSync('ip', ['netns', 'add', ns]);
    made.push(ns);
  }
  expect(await executor.removeOrphanedNamespaces()).toEqual(['zo1']);
  made.splice(made.indexOf('zc-pc2-zo1'), 1);
  const left = await listNamespaces();
  expect(left).not.toContain('zc-pc2-zo1');
  expect(left).toContain('zc-pc2-zo2'); // not a container this PC holds: another PC's, maybe
});
