// Found by the soak (issue 28): a node worker killed at the checkpoint step, after CRIU had dumped the container (and
// so ended it). The retried step found the container absent and failed; the migration fell back to a checkpoint
// 46 s older, and that work was lost. The retry now takes the finished dump as the checkpoint.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { scratchExecutor } from '../helpers/executor';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-adopt-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const spec = { containerId: 'c1', args: ['/bin/app'], env: [], memoryMiB: 16 };

it('takes a dump CRIU finished before the worker died as the retried checkpoint, and only such a dump', async () => {
  const executor = scratchExecutor(tmp);
  await executor.store.writeSpec(spec);
  const image = executor.store.imageDir('c1', 7);
  mkdirSync(image, { recursive: true });
  writeFileSync(path.join(image, 'pages-1.img'), randomBytes(8 * 4096));
  writeFileSync(path.join(image, 'inventory.img'), randomBytes(64));
  // Without stats-dump CRIU did not finish: nothing to take, the container is simply not there.
  await expect(executor.checkpoint('c1', false)).rejects.toThrow(/c1 is absent on pc2, not running/);
  // Where runc has CRIU write it: the work directory beside the image (one in the image proves nothing).
  writeFileSync(path.join(image, 'stats-dump'), randomBytes(16));
  await expect(executor.checkpoint('c1', false)).rejects.toThrow(/absent/);
  const work = path.join(executor.store.generationDir('c1', 7), 'work');
  mkdirSync(work);
  writeFileSync(path.join(work, 'stats-dump'), randomBytes(16));
  const report = await executor.checkpoint('c1', false);
  expect(report).toMatchObject({ generation: 7, strategy: 'content', pages: 8 });
  expect(await executor.store.generations('c1')).toEqual([7]);
  // A checkpoint that leaves the container running is taken anew by its retry, never adopted.
  mkdirSync(path.join(executor.store.generationDir('c1', 8), 'work'), { recursive: true });
  writeFileSync(path.join(executor.store.generationDir('c1', 8), 'work', 'stats-dump'), '');
  await expect(executor.checkpoint('c1', true)).rejects.toThrow(/absent/);
});
