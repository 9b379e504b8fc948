import type { Client } from '@temporalio/client';
import { ApiClient } from '../../cli/api-client';
import { nodeLifecycleWorkflowId } from '../../common/names';
import { controlTaskQueue } from '../../common/config';
import { moveReportOf } from '../../domain/reports';
import type { MigrationRow } from '../../state/migrations';
import type { ContainerNetwork } from '../../domain/container-network';
import { REBALANCE_SCHEDULE_ID } from '../cluster/cluster';
import { ensureDebianRootfs, REDIS_ROOTFS } from '../images/debian-rootfs';
import { connectRedisClient } from './lan-client';

export interface ScenarioOptions {
  home: string;
  /** Keys redis holds (DEBUG POPULATE). */
  keys: number;
  /** Network namespace of the user's machine on the LAN, where the client runs. */
  userNamespace: string;
  log: (line: string) => void;
}

/** What the client on the LAN saw: one connection throughout, and its longest wait for an answer in each move. */
export interface ClientView {
  address: string;
  clientId: unknown;
  digest: unknown;
  /** Per move: same connection (CLIENT ID), same data (DEBUG DIGEST), longest wait while probing every 10 ms. */
  moves: { sameConnection: boolean; sameDigest: boolean; longestWaitMs: number }[];
}

export interface ScenarioResult {
  moves: MigrationRow[];
  client: ClientView;
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
export async function runScenario(api: ApiClient, temporal: Client, o: ScenarioOptions): Promise<ScenarioResult> {
  const id = `demo-${Date.now().toString(36)}`;
  const room = `DEMO-${o.home.toUpperCase()}`;
  const rootfs = await ensureDebianRootfs(REDIS_ROOTFS);
  const created = await api.post<{ network: ContainerNetwork | null }>('/v1/containers', {
    id,
    args: ['/usr/bin/redis-server', '/etc/redis.conf', '--save', ''],
    memoryMiB: 512,
    rootfs: { dir: rootfs },
  });
  if (!created.network) throw new Error('migration-api gave the container no address: set ZANSHIN_CONTAINER_POOL');
  const address = created.network.address;
  await api.post(`/v1/containers/${id}/start`, { nodeId: o.home });
  o.log(`1. ${id}: redis-server (Debian) starts on ${o.home} with its own address ${address}`);
  const client = await connectRedisClient(o.userNamespace, address);
  try {
    await client.command('DEBUG', 'POPULATE', String(o.keys), 'key', '64');
    const view: ClientView = {
      address,
      clientId: await client.command('CLIENT', 'ID'),
      digest: await client.command('DEBUG', 'DIGEST'),
      moves: [],
    };
    o.log(
      `   a student's client on the LAN holds one connection (CLIENT ID ${String(view.clientId)}) and filled it with ${o.keys} keys (DEBUG DIGEST ${String(view.digest).slice(0, 12)}...)`,
    );
    /** Probes during a move, then checks the connection and the data with redis' own commands. */
    const watch = async (move: () => Promise<MigrationRow>): Promise<MigrationRow> => {
      client.startProbe();
      const m = await move();
      const longestWaitMs = await client.stopProbe();
      const seen = {
        sameConnection: (await client.command('CLIENT', 'ID')) === view.clientId,
        sameDigest: (await client.command('DEBUG', 'DIGEST')) === view.digest,
        longestWaitMs,
      };
      view.moves.push(seen);
      o.log(
        `   the client's connection ${seen.sameConnection ? 'stayed open' : 'WAS REPLACED'}, data ${seen.sameDigest ? 'unchanged' : 'CHANGED'}; its longest wait for an answer: ${longestWaitMs} ms`,
      );
      return m;
    };

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
    const away = await watch(async () => {
      const t1 = new Date();
      await temporal.schedule.getHandle(REBALANCE_SCHEDULE_ID).trigger();
      return nextMigration(api, id, t1, 'the rebalancing migration');
    });
    o.log(`   rebalancing moved it ${away.from} -> ${away.to} (${away.reason})`);

    const wait = end.getTime() + 2_000 - Date.now();
    if (wait > 0) {
      o.log(`3. waiting ${Math.ceil(wait / 1000)} s for the lecture on ${o.home} to end`);
      await sleep(wait);
    }
    o.log(`4. ${away.to} is switched off: its power-off unit signals node-${away.to}`);
    const back = await watch(async () => {
      const t2 = new Date();
      await temporal.workflow.signalWithStart('nodeLifecycle', {
        taskQueue: controlTaskQueue(),
        workflowId: nodeLifecycleWorkflowId(away.to),
        args: [{ nodeId: away.to }],
        signal: 'shutdown',
        signalArgs: [{ deadlineSeconds: 60, reason: 'power-off' }],
      });
      return nextMigration(api, id, t2, 'the evacuation');
    });
    o.log(
      `   evacuation moved it ${back.from} -> ${back.to}${moveReportOf(back.report)?.targetHadRemnant ? `, reusing the remnant ${back.to} kept` : ''}`,
    );
    return { moves: [away, back], client: view };
  } finally {
    client.close();
  }
}
