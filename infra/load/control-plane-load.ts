// The control plane at campus scale, for real (issue 30): PostgreSQL, a Temporal dev server and N migration-api
// processes on one database; synthetic PCs (this process) report every interval, long-poll their task queues, and
// placement and a rebalancing run are timed over the whole campus. A semester of history shows table growth and
// what pruning keeps. bench/control-plane.ts prints it; test/integration/control-plane-load.test.ts runs it small.
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import execa from 'execa';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from 'pg';
import { createControlActivities } from '../../activities/control';
import { migrate } from '../../api/db';
import { DEFAULT_POLICY } from '../../domain/placement';
import { nodeTaskQueue } from '../../common/names';
import { REPO_ROOT } from '../../common/paths';
import { createPool } from '../../state/db';
import { pruneHistory } from '../../state/migrations';
import { clusterConfig } from '../cluster/config';
import { startScratchPostgres } from '../cluster/postgres';
import { freePort, waitFor } from '../cluster/wait';
import { Latencies, SyntheticCampus } from './synthetic-campus';

export interface LoadSettings {
  pcs: number;
  containersPerPc: number;
  apiInstances: number;
  reportIntervalMs: number;
  /** How long the PCs report (and placement is asked) while measured. */
  measureMs: number;
  /** Long polls on every PC's task queue meanwhile (what idle node workers do). */
  pollers: boolean;
  /** PCs protect their containers (their reports carry the checkpoints they keep and send). @default false */
  protection?: boolean;
  /** Weeks of migration history written to show table growth, then pruned to `historyDays`. */
  historyWeeks: number;
  historyDays: number;
  seed: number;
  log: (line: string) => void;
}

export interface LoadReport {
  settings: Omit<LoadSettings, 'log'>;
  reports: ReturnType<Latencies['summary']> & { perSecond: number };
  placement: ReturnType<Latencies['summary']>;
  rebalance: { ms: number; entries: number; moves: number; skipped: number };
  /** CPU used while the PCs reported, in cores (1 = one core busy all the time). */
  cpuCores: { postgres: number; apis: number[]; temporal: number | null; harness: number };
  pollers: { queues: number; errors: number } | null;
  /** Per API instance: reports it answered (200). */
  reportsPerApi: number[];
  history: {
    migrations: number;
    bytesBefore: Record<string, number>;
    bytesPerMigration: number;
    pruned: Awaited<ReturnType<typeof pruneHistory>>;
    bytesAfter: Record<string, number>;
  };
}

const HISTORY_TABLES = ['migrations', 'lectures', 'lecture_conflicts', 'load_samples'];

/** Every process's parent and CPU seconds (user + system, children that ended included), from /proc. */
function processTable(): Map<number, { ppid: number; cpu: number; cmd: string }> {
  const out = new Map<number, { ppid: number; cpu: number; cmd: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
      const ticks = [11, 12, 13, 14].reduce((sum, k) => sum + Number(fields[k]), 0);
      out.set(Number(name), {
        ppid: Number(fields[1]),
        cpu: ticks / 100,
        cmd: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
      });
    } catch {
      /* ended meanwhile */
    }
  }
  return out;
}

/** CPU seconds used so far by `root` and every process under it. */
function treeCpuSeconds(root: number, table = processTable()): number {
  let sum = 0;
  const within = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 16; p = table.get(p)?.ppid ?? 0, hops++) if (p === root) return true;
    return false;
  };
  for (const [pid, t] of table) if (within(pid)) sum += t.cpu;
  return sum;
}

/** The Temporal dev server's pid: the one process running the CLI binary the test environment started. */
function temporalPid(binary: string): number | null {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').startsWith(binary)) return Number(name);
    } catch {
      /* ended meanwhile */
    }
  }
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;

/** A semester of migration history, shaped like real rows (a move's report, a recorded decision), over `weeks`. */
async function writeHistory(db: Pool, containerIds: string[], nodeIds: string[], weeks: number, perWeek: number) {
  const report = {
    strategy: 'content',
    downtimeMs: 2554,
    steps: ['prepare target', 'pre-copy 1', 'pre-copy 2', 'checkpoint', 'transfer checkpoint', 'restore', 'done'].map(
      (step, i) => ({ step, ms: 100 * (i + 1), bytes: 1_000_000 * i }),
    ),
    freezes: [
      { kind: 'final dump', ms: 870 },
      { kind: 'restore', ms: 470 },
    ],
    transfers: { bundle: { chunks: 812, sent: 12, bytes: 4_100_000 }, checkpoint: { chunks: 25_600, sent: 1_024 } },
  };
  const decision = {
    chosen: nodeIds[0],
    candidates: nodeIds.slice(0, 16).map((nodeId) => ({
      nodeId,
      eligible: true,
      excludedBecause: [],
      terms: { C: 0.2, M: 0.3, P: 0, B: 0, L: 1 },
      cost: 0,
    })),
    omittedCandidates: Math.max(0, nodeIds.length - 16),
  };
  const start = Date.now() - weeks * 7 * 86_400_000;
  const total = weeks * perWeek;
  for (let done = 0; done < total;) {
    const rows: unknown[][] = [];
    for (let k = 0; k < 500 && done < total; k++, done++) {
      const at = new Date(start + (done / total) * weeks * 7 * 86_400_000);
      const c = containerIds[done % containerIds.length]!;
      rows.push([
        `${c}-h${done}`,
        `migrate-${c}`,
        `run-${done}`,
        c,
        nodeIds[done % nodeIds.length],
        nodeIds[(done + 1) % nodeIds.length],
        'rebalance',
        JSON.stringify(decision),
        JSON.stringify(report),
        at,
      ]);
    }
    const values = rows.map(
      (_, r) =>
        `(${Array.from({ length: 10 }, (_, k) => `$${r * 10 + k + 1}`).join(', ')}, 'completed', $${r * 10 + 10})`,
    );
    await db.query(
      `INSERT INTO migrations (id, workflow_id, run_id, container_id, from_node, to_node, reason, decision, report, started_at, status, ended_at)
       VALUES ${values.join(', ')}`,
      rows.flat(),
    );
  }
  return total;
}

async function tableBytes(db: Pool): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of HISTORY_TABLES) {
    const { rows } = await db.query<{ bytes: string }>('SELECT pg_total_relation_size($1)::text AS bytes', [t]);
    out[t] = Number(rows[0]!.bytes);
  }
  return out;
}

export async function runControlPlaneLoad(s: LoadSettings): Promise<LoadReport> {
  const { log, ...settings } = s;
  const adminToken = randomBytes(24).toString('hex');
  const pg = await startScratchPostgres();
  let temporal: TestWorkflowEnvironment | null = null;
  const apis: execa.ExecaChildProcess[] = [];
  let db: Pool | null = null;
  const stopPolling = new AbortController();
  try {
    db = createPool(pg.url, 8, () => undefined);
    await migrate(db);
    const { temporalBin } = clusterConfig();
    temporal = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: temporalBin }, ip: '127.0.0.1' },
    });
    const temporalAddress = temporal.connection.options.address;
    const endpoints = [];
    for (let i = 0; i < s.apiInstances; i++) {
      const port = await freePort();
      const api = execa('node', [path.join(REPO_ROOT, 'dist/api/main.js')], {
        env: {
          ZANSHIN_DATABASE_URL: pg.url,
          ZANSHIN_ADMIN_TOKEN: adminToken,
          ZANSHIN_API_PORT: String(port),
          TEMPORAL_ADDRESS: temporalAddress,
          ZANSHIN_HISTORY_DAYS: String(s.historyDays),
        },
        all: true,
      });
      apis.push(api);
      const baseUrl = `http://127.0.0.1:${port}`;
      let output = '';
      api.all?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4_000)));
      await waitFor(
        `migration-api ${i + 1}`,
        async () =>
          (await fetch(`${baseUrl}/health`, { headers: { authorization: `Bearer ${adminToken}` } }).catch(() => null))
            ?.ok ?? false,
        30_000,
        () => (api.exitCode === null ? null : `migration-api ${i + 1} exited: ${output}`),
      );
      endpoints.push({ baseUrl, adminToken });
    }
    log(`PostgreSQL, Temporal dev server and ${s.apiInstances} migration-api process(es) up`);

    const campus = new SyntheticCampus({
      pcs: s.pcs,
      containersPerPc: s.containersPerPc,
      seed: s.seed,
      apis: endpoints,
      db,
      reportIntervalMs: s.reportIntervalMs,
      protection: s.protection === true,
    });
    await campus.setUp(log);

    // Idle node workers long-poll their task queues: one poll per PC, renewed when the server answers empty.
    let pollErrors = 0;
    let firstPollError = '';
    const pollers = s.pollers
      ? (async () => {
          const connection = await Connection.connect({ address: temporalAddress });
          // A long poll lasts up to a minute: each runs without a deadline, and is cut when the run ends.
          const poll = (taskQueue: string, identity: string) =>
            connection.withAbortSignal(stopPolling.signal, () =>
              connection.withDeadline(Date.now() + 90_000, () =>
                connection.workflowService.pollActivityTaskQueue({
                  namespace: 'default',
                  taskQueue: { name: taskQueue },
                  identity,
                }),
              ),
            );
          await Promise.all(
            campus.campus.pcs.map(async (pc) => {
              while (!stopPolling.signal.aborted)
                await poll(nodeTaskQueue(pc.id), `load-${pc.id}`).catch(async (err: Error) => {
                  if (stopPolling.signal.aborted) return;
                  pollErrors++;
                  firstPollError ||= err.message;
                  await sleep(1_000);
                });
            }),
          );
          await connection.close();
        })()
      : null;

    const pidsOfApis = apis.map((a) => a.pid!);
    const pgPid = pg.process.pid;
    const tPid = temporalPid(temporalBin);
    const before = processTable();
    const cpu0 = {
      pg: treeCpuSeconds(pgPid, before),
      apis: pidsOfApis.map((p) => treeCpuSeconds(p, before)),
      temporal: tPid ? treeCpuSeconds(tPid, before) : null,
      self: process.cpuUsage(),
    };
    const t0 = Date.now();
    log(
      `${s.pcs} PCs report every ${s.reportIntervalMs / 1000} s for ${s.measureMs / 1000} s; placement asked meanwhile`,
    );
    const placement = new Latencies();
    const ids = campus.containerIds();
    const asking = (async () => {
      const until = t0 + s.measureMs;
      for (let i = 0; Date.now() < until; i++) {
        const id = ids[(i * 7919) % ids.length]!;
        const api = endpoints[i % endpoints.length]!;
        await placement.time(async () => {
          const res = await fetch(`${api.baseUrl}/v1/containers/${id}/placement`, {
            headers: { authorization: `Bearer ${adminToken}` },
          });
          if (!res.ok) throw new Error(`placement of ${id}: ${res.status}`);
          await res.arrayBuffer();
        });
        await sleep(200);
      }
    })();
    await Promise.all([campus.reportFor(s.measureMs), asking]);
    const wall = (Date.now() - t0) / 1000;
    const after = processTable();
    const self = process.cpuUsage(cpu0.self);
    const cpuCores = {
      postgres: round2((treeCpuSeconds(pgPid, after) - cpu0.pg) / wall),
      apis: pidsOfApis.map((p, i) => round2((treeCpuSeconds(p, after) - cpu0.apis[i]!) / wall)),
      temporal: tPid && cpu0.temporal !== null ? round2((treeCpuSeconds(tPid, after) - cpu0.temporal) / wall) : null,
      harness: round2((self.user + self.system) / 1e6 / wall),
    };
    const reportSummary = campus.reports.summary();
    log(
      `reports: ${reportSummary.count} answered (p50 ${reportSummary.p50} ms, p99 ${reportSummary.p99} ms), ${reportSummary.errors} errors`,
    );

    // A rebalancing run over the whole campus: the control worker's planning activity, timed.
    const activities = createControlActivities({ db, policy: DEFAULT_POLICY });
    const r0 = performance.now();
    const plan = await activities.planRebalance({ maxMigrations: 3, gainThreshold: 0.3, overloadThreshold: 1.5 });
    const rebalanceMs = Math.round(performance.now() - r0);
    log(`rebalancing run planned in ${rebalanceMs} ms: ${plan.moves.length} moves, ${plan.skipped.length} skipped`);

    stopPolling.abort();
    await pollers;
    if (firstPollError) log(`long polls failed ${pollErrors} times, first: ${firstPollError}`);

    // A semester of history: its size, then what pruning at the end of term keeps.
    const nodeIds = campus.campus.pcs.map((p) => p.id);
    // The simulator's 200-PC semester moved 2,683 times in 15 weeks (zanshin, seed 1): ~0.9 moves per PC and week.
    const perWeek = Math.round(0.9 * s.pcs);
    const migrations = await writeHistory(db, ids, nodeIds, s.historyWeeks, perWeek);
    await db.query('VACUUM ANALYZE');
    const bytesBefore = await tableBytes(db);
    const pruned = await pruneHistory(db, new Date(Date.now() - s.historyDays * 86_400_000));
    await db.query('VACUUM FULL');
    const bytesAfter = await tableBytes(db);
    return {
      settings,
      reports: { ...reportSummary, perSecond: round1(reportSummary.count / wall) },
      placement: placement.summary(),
      rebalance: {
        ms: rebalanceMs,
        entries: plan.moves.length + plan.skipped.length,
        moves: plan.moves.length,
        skipped: plan.skipped.length,
      },
      cpuCores,
      pollers: s.pollers ? { queues: s.pcs, errors: pollErrors } : null,
      reportsPerApi: campus.reportsPerApi,
      history: {
        migrations,
        bytesBefore,
        bytesPerMigration: Math.round(bytesBefore.migrations! / migrations),
        pruned,
        bytesAfter,
      },
    };
  } finally {
    stopPolling.abort();
    for (const a of apis) a.kill('SIGKILL');
    await Promise.all(apis.map((a) => a.catch(() => undefined)));
    await db?.end().catch(() => undefined);
    await temporal?.teardown().catch(() => undefined);
    await pg.stop();
  }
}
