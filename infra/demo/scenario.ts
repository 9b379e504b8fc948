import type { Client } from '@temporalio/client';
import { ApiClient } from '../../cli/api-client';
import { nodeLifecycleWorkflowId } from '../../common/names';
import { controlTaskQueue } from '../../common/config';
import { moveReportOf } from '../../domain/reports';
import type { MigrationRow } from '../../state/migrations';
import { REBALANCE_SCHEDULE_ID } from '../cluster/cluster';
import { ensureCounterRootfs } from '../images/counter';

export interface ScenarioOptions {
  home: string;
  mib: number;
  dirtyPagesPerSecond: number;
  log: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const clock = (d: Date): string => d.toISOString().slice(11, 19) + 'Z';

/** iCalendar for one lecture (UTC times, seconds precision) in a room. */
function lectureIcs(room: string, start: Date, end: Date): string {
  const t = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  return [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Zanshin//demo//EN',
    'BEGIN:VEVENT',
    `UID:demo-${t(start)}@zanshin`,
    `DTSTAMP:${t(new Date())}`,
    'SUMMARY:Demo lecture',
    `LOCATION:${room}`,
    `DTSTART:${t(start)}`,
    `DTEND:${t(end)}`,
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}

/** Waits until `containerId` has a finished migration that started after `since`; returns it. */
async function nextMigration(
  api: ApiClient,
  containerId: string,
  since: Date,
  what: string,
  timeoutMs = 180_000,
): Promise<MigrationRow> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { migrations } = await api.get<{ migrations: MigrationRow[] }>(`/v1/migrations?containerId=${containerId}`);
    const m = migrations.find((x) => new Date(x.startedAt) >= since && x.status !== 'running');
    if (m) {
      if (m.status !== 'completed') throw new Error(`${what} failed: ${m.error}`);
      return m;
    }
    await sleep(500);
  }
  throw new Error(`${what} did not finish within ${timeoutMs / 1000} s (see the Temporal Web UI)`);
}

/**
 * The paper's story on the local cluster: a lecture is about to start on the container's PC, so the scheduled
 * rebalancing moves it away; later the PC it went to powers off, and evacuation brings it back to its first PC,
 * which still holds its remnant.
 */
export async function runScenario(api: ApiClient, temporal: Client, o: ScenarioOptions): Promise<MigrationRow[]> {
  const id = `demo-${Date.now().toString(36)}`;
  const room = `DEMO-${o.home.toUpperCase()}`;
  const rootfs = await ensureCounterRootfs();
  o.log(`1. ${id} (a counter holding ${o.mib} MiB, rewriting ${o.dirtyPagesPerSecond} pages/s) starts on ${o.home}`);
  await api.post('/v1/containers', {
    id,
    args: ['/bin/counter'],
    env: [`MIB=${o.mib}`, `DIRTY_PAGES_PER_SEC=${o.dirtyPagesPerSecond}`],
    memoryMiB: o.mib + 32,
    rootfs: { dir: rootfs },
  });
  await api.post(`/v1/containers/${id}/start`, { nodeId: o.home });

  const start = new Date(Date.now() + 25_000);
  const end = new Date(start.getTime() + 30_000);
  await api.put(`/v1/rooms/${room}`, { nodes: [o.home] });
  await api.post('/v1/lectures/imports', {
    name: `demo-${o.home}`,
    format: 'ics',
    content: lectureIcs(room, start, end),
  });
  o.log(
    `2. the timetable gets a lecture in ${room} (${o.home}) from ${clock(start)} to ${clock(end)}; the rebalancing schedule runs now`,
  );
  const t1 = new Date();
  await temporal.schedule.getHandle(REBALANCE_SCHEDULE_ID).trigger();
  const away = await nextMigration(api, id, t1, 'the rebalancing migration');
  o.log(`   rebalancing moved it ${away.from} -> ${away.to} (${away.reason})`);

  const wait = end.getTime() + 2_000 - Date.now();
  if (wait > 0) {
    o.log(`3. waiting ${Math.ceil(wait / 1000)} s for the lecture on ${o.home} to end`);
    await sleep(wait);
  }
  o.log(`4. ${away.to} is switched off: its power-off unit signals node-${away.to}`);
  const t2 = new Date();
  await temporal.workflow.signalWithStart('nodeLifecycle', {
    taskQueue: controlTaskQueue(),
    workflowId: nodeLifecycleWorkflowId(away.to),
    args: [{ nodeId: away.to }],
    signal: 'shutdown',
    signalArgs: [{ deadlineSeconds: 60, reason: 'power-off' }],
  });
  const back = await nextMigration(api, id, t2, 'the evacuation');
  o.log(
    `   evacuation moved it ${back.from} -> ${back.to}${moveReportOf(back.report)?.targetHadRemnant ? `, reusing the remnant ${back.to} kept` : ''}`,
  );
  return [away, back];
}
