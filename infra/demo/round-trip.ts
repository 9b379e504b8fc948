import type { Client } from '@temporalio/client';
import { createWorkflowId } from '../../common/names';
import { controlTaskQueue } from '../../common/config';
import type { createContainer, moveContainer } from '../../workflows';
import type { MoveReport } from '../../domain/reports';
import type { NodeTimeouts } from '../../workflows/activity-proxies';
import { ensureCounterRootfs } from '../images/counter';

export interface RoundTripOptions {
  containerId: string;
  /** Memory the counter holds. */
  mib: number;
  /** Pages it rewrites per second. */
  dirtyPagesPerSecond: number;
  /** Time the container runs on each node between moves. */
  dwellMs: number;
  /** More environment for the counter (e.g. FILL=text). */
  env?: string[];
  home: string;
  away: string;
  /** How long the PCs may take to answer (guest PCs under emulation need minutes). */
  timeouts?: NodeTimeouts;
  log: (line: string) => void;
}

export interface RoundTrip {
  there: MoveReport;
  back: MoveReport;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates a counter container on `home`, moves it to `away` (no remnant there) and back (remnant reused). */
export async function runRoundTrip(client: Client, o: RoundTripOptions): Promise<RoundTrip> {
  const rootfs = await ensureCounterRootfs();
  const stamp = Date.now();
  o.log(
    `creating ${o.containerId} on ${o.home} (counter holding ${o.mib} MiB, ${o.dirtyPagesPerSecond} dirty pages/s)`,
  );
  await client.workflow.execute<typeof createContainer>('createContainer', {
    taskQueue: controlTaskQueue(),
    workflowId: createWorkflowId(o.containerId, stamp),
    args: [
      {
        nodeId: o.home,
        containerId: o.containerId,
        rootfs: { dir: rootfs },
        args: ['/bin/counter'],
        env: [`MIB=${o.mib}`, `DIRTY_PAGES_PER_SEC=${o.dirtyPagesPerSecond}`, ...(o.env ?? [])],
        memoryMiB: o.mib + 32,
      },
    ],
  });
  const move = async (from: string, to: string): Promise<MoveReport> => {
    await sleep(o.dwellMs);
    o.log(`moving ${o.containerId} ${from} -> ${to}`);
    return client.workflow.execute<typeof moveContainer>('moveContainer', {
      taskQueue: controlTaskQueue(),
      workflowId: `move-${o.containerId}-${from}-${to}-${stamp}`,
      args: [{ containerId: o.containerId, from, to, ...(o.timeouts ? { timeouts: o.timeouts } : {}) }],
    });
  };
  const there = await move(o.home, o.away);
  const back = await move(o.away, o.home);
  return { there, back };
}
