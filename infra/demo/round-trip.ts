import type { Client } from '@temporalio/client';
import Table from 'cli-table3';
import { CONTROL_TASK_QUEUE } from '../../common/names';
import type { createContainer, moveContainer } from '../../workflows';
import type { MoveReport } from '../../workflows/move-container';
import { ensureCounterRootfs } from '../images/counter';

export interface RoundTripOptions {
  containerId: string;
  /** Memory the counter holds. */
  mib: number;
  /** Pages it rewrites per second. */
  dirtyPagesPerSecond: number;
  /** Time the container runs on each node between moves. */
  dwellMs: number;
  home: string;
  away: string;
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
  o.log(`creating ${o.containerId} on ${o.home} (counter holding ${o.mib} MiB, ${o.dirtyPagesPerSecond} dirty pages/s)`);
  await client.workflow.execute<typeof createContainer>('createContainer', {
    taskQueue: CONTROL_TASK_QUEUE, workflowId: `create-${o.containerId}-${stamp}`,
    args: [{ nodeId: o.home, containerId: o.containerId, rootfs: { dir: rootfs }, args: ['/bin/counter'],
      env: [`MIB=${o.mib}`, `DIRTY_PAGES_PER_SEC=${o.dirtyPagesPerSecond}`], memoryMiB: o.mib + 32 }],
  });
  const move = async (from: string, to: string): Promise<MoveReport> => {
    await sleep(o.dwellMs);
    o.log(`moving ${o.containerId} ${from} -> ${to}`);
    return client.workflow.execute<typeof moveContainer>('moveContainer', {
      taskQueue: CONTROL_TASK_QUEUE, workflowId: `move-${o.containerId}-${from}-${to}-${stamp}`, args: [{ containerId: o.containerId, from, to }],
    });
  };
  const there = await move(o.home, o.away);
  const back = await move(o.away, o.home);
  return { there, back };
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;
const pct = (a: number, b: number): string => `${((100 * a) / b).toFixed(2)} %`;

/** A readable report of moves: route, strategy, downtime, bytes on the wire against the full image, per-step times. */
export function formatMoves(moves: MoveReport[]): string {
  const summary = new Table({ head: ['route', 'strategy', 'remnant on target', 'downtime', 'wire', 'full image + rootfs', 'wire / full', 'changed pages'], style: { head: [], border: [], compact: true } });
  for (const m of moves) {
    const cp = m.transfers.find((t) => t.kind === 'checkpoint');
    summary.push([`${m.from} -> ${m.to}`, m.strategy, m.targetHadRemnant ? 'yes' : 'no', `${m.downtimeMs} ms`, mb(m.wireBytes), mb(m.fullBytes),
      pct(m.wireBytes, m.fullBytes), cp ? `${cp.missingChunks} of ${m.checkpoint.image.chunks}` : '-']);
  }
  const steps = new Table({ head: ['route', 'step', 'node', 'time'], style: { head: [], border: [], compact: true } });
  for (const m of moves) for (const s of m.steps) steps.push([`${m.from} -> ${m.to}`, s.step, s.node, `${s.ms} ms`]);
  const inside = new Table({ head: ['route', 'dump', 'hash pages', 'write image on target', 'runc restore'], style: { head: [], border: [], compact: true } });
  for (const m of moves) inside.push([`${m.from} -> ${m.to}`, `${m.checkpoint.dumpMs} ms`, `${m.checkpoint.hashMs} ms`, `${m.restore.writeImageMs} ms`, `${m.restore.restoreMs} ms`]);
  return [summary.toString(), steps.toString(), inside.toString()].join('\n');
}
