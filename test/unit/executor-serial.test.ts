// The executor runs a container's restores one at a time (issue 14): a retried restore step whose first attempt
// still runs waits for it and, once that one completed, gets its answer instead of "already exists" (which would
// have made the workflow restore the container on its source as well). The restore itself is replaced here: runc
// and CRIU run in the integration tests; what is tested is the executor's own ordering.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NodeExecutor } from '../../node/executor';
import { scratchExecutor } from '../helpers/executor';
import type { ContainerSpec, GenerationMeta } from '../../domain/reports';

let tmp: string;
let executor: NodeExecutor;
beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-exec-serial-'));
  executor = scratchExecutor(tmp);
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const spec = (containerId: string): ContainerSpec => ({ containerId, args: ['/bin/app'], env: [], memoryMiB: 16 });
const meta: GenerationMeta = {
  generation: 3,
  createdAt: '2026-11-29T00:00:00Z',
  strategy: 'content',
  sourceNode: 'pc1',
};

it("runs one container's restores one at a time, and answers a retry of a completed one with its report", async () => {
  const running: string[] = [];
  let overlap = 0;
  let calls = 0;
  jest
    .spyOn(
      (executor as unknown as { restorer: { restoreFromTransferHere: () => Promise<unknown> } }).restorer,
      'restoreFromTransferHere',
    )
    .mockImplementation(async (...args: unknown[]) => {
      const [transferId, s] = args as [string, ContainerSpec];
      calls++;
      if (running.includes(s.containerId)) overlap++;
      running.push(s.containerId);
      await new Promise((r) => setTimeout(r, 30));
      running.splice(running.indexOf(s.containerId), 1);
      return { transferId, containerId: s.containerId };
    });
  const [first, retry, other] = await Promise.all([
    executor.restoreFromTransfer('t-1', spec('c1'), meta),
    executor.restoreFromTransfer('t-1', spec('c1'), meta),
    executor.restoreFromTransfer('t-2', spec('c2'), meta),
  ]);
  expect(overlap).toBe(0);
  expect(calls).toBe(2); // c1 once (its retry got the first answer), c2 once
  expect(retry).toBe(first);
  expect(other).toMatchObject({ containerId: 'c2' });
});
