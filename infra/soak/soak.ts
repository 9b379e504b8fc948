// The chaos soak (issue 28): containers moved continuously between host PCs while a seeded schedule injects every
// kind of fault (schedule.ts), an observer outside Zanshin watches (observer.ts), and the run ends with the store
// checked chunk by chunk. `npm run soak -- --seed S --minutes M --json FILE`.
import { Client, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import execa from 'execa';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApiClient } from '../../cli/api-client';
import { CONTROL_TASK_QUEUE, migrationWorkflowId } from '../../common/names';
import type { ContainerNetwork } from '../../domain/container-network';
import { rootCause } from '../../common/errors';
import { RemnantStore } from '../../node/store';
import { ABANDONED_TRANSFER_MS } from '../../node/protection-holder';
import { imageDamage } from '../../node/verify-image';
import type { migrateContainer, recoverCrashedNodes, safetyCheckpoints } from '../../workflows';
import { startCluster, stopCluster } from '../cluster/cluster';
import { ClusterConfig, clusterConfig } from '../cluster/config';
import { planCluster } from '../cluster/plan';
import { clusterClient, clusterTemporal } from '../cluster/temporal-client';
import { freePorts } from '../cluster/wait';
import { ensureCounterRootfs } from '../images/counter';
import { ensureDebianRootfs, REDIS_ROOTFS } from '../images/debian-rootfs';
import { LoopDisks } from './disks';
import { faultInjector } from './faults';
import { Observer, Violation } from './observer';
import { seededRandom } from '../../common/seeded-random';
import { FAULT_KINDS, planFaults } from './schedule';
import { RedisWriter } from './writer';

export interface SoakOptions {
  seed: number;
  minutes: number;
  log?: (line: string) => void;
  /** Ends the soak early, cleaning up as at its end. */
  signal?: AbortSignal;
  /** Network namespace prefix and LAN subnet of the soak's cluster (so that two soaks, or a soak and a
   * user's cluster, never share names). @default zk, 10.91.0 */
  namespacePrefix?: string;
  lanSubnet?: string;
  /** Continuous protection on the soak's PCs (ZANSHIN_PROTECT_SECONDS); 0 or absent: off. */
  protectSeconds?: number;
}

export interface SoakReport {
  seed: number;
  minutes: number;
  violations: number;
  violationDetails: Violation[];
  migrations: { attempted: number; completed: number; rolledBack: number };
  faults: Record<string, number>;
  recoveries: number;
  restarts: number;
  workLostSeconds: { max: number; total: number };
  secondsToRecover: { max: number };
  redis: { acknowledgedWrites: number; reconnects: number; checks: number };
  observer: { looks: number };
  damagedOnPurpose: number;
}

const PCS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The soak's own cluster: test-paced fencing, paused schedules (the soak drives every workflow itself). */
async function soakConfig(o: SoakOptions): Promise<ClusterConfig> {
  const seed = o.seed;
  const [temporal, ui, gate, codec, api, pg] = (await freePorts(6)).map(String);
  return clusterConfig({
    ZANSHIN_DATA_DIR: path.join('/var/tmp', `zanshin-soak-${seed}-${process.pid}`),
    ZANSHIN_NODES: String(PCS),
    ZANSHIN_NS_PREFIX: o.namespacePrefix ?? 'zk',
    ZANSHIN_LAN_SUBNET: o.lanSubnet ?? '10.91.0',
    ZANSHIN_LINK_RATE: '1gbit',
    ZANSHIN_TEMPORAL_PORT: temporal,
    ZANSHIN_TEMPORAL_UI_PORT: ui,
    ZANSHIN_TEMPORAL_GATE_PORT: gate,
    ZANSHIN_CODEC_PORT: codec,
    ZANSHIN_API_PORT: api,
    ZANSHIN_PG_PORT: pg,
    ZANSHIN_SCHEDULES: 'paused',
    ZANSHIN_LOAD_REPORT_SECONDS: '2',
    ZANSHIN_LEASE_SECONDS: '8',
    ZANSHIN_FENCE_MARGIN_SECONDS: '3',
    ZANSHIN_RECOVERY_AFTER_SECONDS: '11',
    ZANSHIN_PROTECT_SECONDS: String(o.protectSeconds ?? 0),
  });
}

/** GET of one key from the user host (a one-shot client on the LAN): its value, or null. */
async function redisGet(userNs: string, host: string, key: string): Promise<string | null> {
  const script = String.raw`
const s = require('net').connect({ host: process.argv[1], port: 6379 }, () =>
  s.write('*2\r\n$3\r\nGET\r\n$' + process.argv[2].length + '\r\n' + process.argv[2] + '\r\n'));
let b = ''; s.on('data', (d) => { b += d; const m = /^\$(-?\d+)\r\n/.exec(b);
  if (m && (m[1] === '-1' || b.length >= m[0].length + Number(m[1]) + 2)) { console.log(m[1] === '-1' ? 'NULL' : b.slice(m[0].length, m[0].length + Number(m[1]))); process.exit(0); } });
s.on('error', () => process.exit(2)); setTimeout(() => process.exit(3), 5000);`;
  const r = await execa('nsenter', [`--net=/run/netns/${userNs}`, process.execPath, '-e', script, host, key], {
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`redis at ${host} did not answer (exit ${r.exitCode})`);
  return r.stdout.trim() === 'NULL' ? null : r.stdout.trim();
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? ((l: string) => console.log(`[soak] ${l}`));
  const config = await soakConfig(o);
  const plan = planCluster(config);
  const disks = new LoopDisks(`${config.dataDir}-disks`);
  const nodeIds = plan.nodes.map((n) => n.id);
  const nodeDirs = Object.fromEntries(plan.nodes.map((n) => [n.id, n.dataDir]));
  const rnd = seededRandom(o.seed ^ 0x5eed);
  const pick = <T>(list: T[]): T => list[Math.floor(rnd() * list.length)]!;
  const report: SoakReport = {
    seed: o.seed,
    minutes: o.minutes,
    violations: 0,
    violationDetails: [],
    migrations: { attempted: 0, completed: 0, rolledBack: 0 },
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])),
    recoveries: 0,
    restarts: 0,
    workLostSeconds: { max: 0, total: 0 },
    secondsToRecover: { max: 0 },
    redis: { acknowledgedWrites: 0, reconnects: 0, checks: 0 },
    observer: { looks: 0 },
    damagedOnPurpose: 0,
  };
  const extraViolations: Violation[] = [];
  const violate = (v: Omit<Violation, 'at'>) => extraViolations.push({ at: new Date().toISOString(), ...v });
  /** Recoveries and restarts by container, with when: they explain a counter going back. */
  const comebacks: { containerId: string; at: number }[] = [];
  const damaged = new Set<string>(); // "<pc>/<container>/<generation>" the soak itself damaged
  let connection: Connection | null = null;
  let observer: Observer | null = null;
  /** What a violation needs explained, kept before the cluster goes: its logs and migration-api's records. */
  let keepEvidence: () => Promise<string> = () => Promise.resolve('(no cluster yet)');
  let writer: RedisWriter | null = null;
  /** Faults in effect, undone before the end whatever happens. */
  const undo = new Map<string, () => Promise<void>>();

  log(`seed ${o.seed}, ${o.minutes} min, ${PCS} PCs, data in ${config.dataDir}`);
  try {
    for (const n of plan.nodes) await disks.mount(n.id, n.dataDir, 4);
    await startCluster(config, (l) => log(`cluster: ${l}`));
    connection = await Connection.connect({ address: `127.0.0.1:${config.temporalPort}` });
    const client: Client = clusterClient(connection, clusterTemporal(config));
    const api = new ApiClient({
      url: `http://127.0.0.1:${config.apiPort}`,
      token: (await readFile(path.join(plan.paths.secrets, 'admin-token'), 'utf8')).trim(),
    });
    keepEvidence = async () => {
      const dir = `${config.dataDir}-evidence`;
      await execa('cp', ['-a', plan.paths.logs, path.join(dir, 'logs')], { reject: false });
      for (const [what, url] of [
        ['containers', '/v1/containers'],
        ['migrations', '/v1/migrations?limit=1000'],
      ])
        await api
          .get(url!)
          .then((body) => writeFileSync(path.join(dir, `${what}.json`), JSON.stringify(body, null, 2)))
          .catch(() => undefined);
      // What filled a store, if one was full: each PC's disk and the sizes of what its store holds.
      const stores: string[] = [];
      for (const n of plan.nodes) {
        const df = await execa('df', ['-h', n.dataDir], { reject: false });
        const du = await execa('du', ['-a', '-h', '-d', '5', path.join(n.dataDir, 'store')], { reject: false });
        stores.push(`== ${n.id}\n${df.stdout}\n${du.stdout}`);
      }
      writeFileSync(path.join(dir, 'stores.txt'), stores.join('\n'));
      return dir;
    };

    // Workloads: three counters and a redis of >= 128 MiB (as root: programs of another uid cannot be checkpointed
    // on these PCs), whose client on the user host writes keys in order.
    const counterRootfs = await ensureCounterRootfs();
    const redisRootfs = await ensureDebianRootfs(REDIS_ROOTFS);
    const counters = ['c1', 'c2', 'c3'].map((c) => `soak-${c}`);
    const redis = 'soak-redis';
    const create = async (id: string, body: object, node: string) => {
      const c = await api.post<{ network: ContainerNetwork | null }>('/v1/containers', { id, ...body });
      await api.post(`/v1/containers/${id}/start`, { nodeId: node });
      return c.network!;
    };
    for (const [i, id] of counters.entries())
      await create(
        id,
        {
          args: ['/bin/counter'],
          env: [`MIB=${16 * (i + 1)}`, 'DIRTY_PAGES_PER_SEC=20'],
          memoryMiB: 96,
          rootfs: { dir: counterRootfs },
        },
        nodeIds[i]!,
      );
    const redisNet = await create(
      redis,
      {
        args: ['/usr/bin/redis-server', '/etc/redis.conf', '--save', ''],
        memoryMiB: 512,
        rootfs: { dir: redisRootfs },
      },
      nodeIds[3]!,
    );
    const fill = await execa('nsenter', [
      `--net=/run/netns/${plan.user.namespace}`,
      process.execPath,
      '-e',
      String.raw`const s=require('net').connect({host:process.argv[1],port:6379},()=>s.write('*5\r\n$5\r\nDEBUG\r\n$8\r\nPOPULATE\r\n$6\r\n450000\r\n$4\r\nfill\r\n$3\r\n256\r\n'));s.on('data',(d)=>{console.log(String(d).trim());process.exit(0)});setTimeout(()=>process.exit(1),60000)`,
      redisNet.address,
    ]);
    log(`redis filled (${fill.stdout}): about 140 MiB`);
    writer = new RedisWriter(plan.user.namespace, redisNet.address);
    writer.start();
    const all = [...counters, redis];
    const explained = (id: string, since: number) => comebacks.some((c) => c.containerId === id && c.at >= since);
    observer = new Observer({ api, nodeDirs, userNamespace: plan.user.namespace, counters, explained }).start();

    /** Keys a recovery lost by design: acknowledged after the checkpoint it came back from. */
    const lostByRecovery: { from: number; to: number }[] = [];
    const checkRedis = async (why: string, ackedBefore: number) => {
      const n = writer!.lastAckedBefore(ackedBefore);
      if (!n) return;
      report.redis.checks++;
      const value = await redisGet(plan.user.namespace, redisNet.address, `soak:${n}`).catch(
        (err: Error) => err.message,
      );
      if (value !== null) return;
      // Judged a little later: the recovery that lost it by design is known once its workflow has returned.
      judgements.push(
        sleep(20_000).then(() => {
          if (!lostByRecovery.some((r) => n >= r.from && n <= r.to))
            violate({
              kind: 'acknowledged write lost',
              containerId: redis,
              detail: `${why}: soak:${n} (acknowledged) is gone`,
            });
        }),
      );
    };
    const judgements: Promise<void>[] = [];

    const start = Date.now();
    let endAt = start + o.minutes * 60_000;
    // Asked to stop (Ctrl-C): no more faults or moves, undo what is in effect, settle briefly, clean up.
    o.signal?.addEventListener('abort', () => {
      log('stopping early: undoing the faults in effect');
      endAt = Date.now();
    });
    const coolDownMs = Math.min(60_000, (o.minutes * 60_000) / 4);
    const faults = planFaults({
      seed: o.seed,
      minutes: o.minutes,
      pcs: PCS,
      leaseSeconds: config.leaseSeconds,
      recoverySeconds: config.recoveryAfterSeconds,
      warmUpMs: Math.min(30_000, (o.minutes * 60_000) / 6),
      coolDownMs,
    });
    log(
      `${faults.length} faults planned: ${FAULT_KINDS.map((k) => `${k} ${faults.filter((f) => f.kind === k).length}`).join(', ')}`,
    );
    const faulted = new Set<string>(); // PCs hurt right now: not chosen as targets
    const inFlight = new Set<string>();

    const migrate = async (id: string, to: string): Promise<void> => {
      inFlight.add(id);
      report.migrations.attempted++;
      try {
        await client.workflow.execute<typeof migrateContainer>('migrateContainer', {
          taskQueue: CONTROL_TASK_QUEUE,
          workflowId: migrationWorkflowId(id),
          workflowIdConflictPolicy: 'FAIL',
          args: [{ containerId: id, to, reason: 'soak' }],
        });
        report.migrations.completed++;
        if (id === redis) await checkRedis(`after moving to ${to}`, Date.now() - 1_000);
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) report.migrations.attempted--;
        else {
          report.migrations.rolledBack++;
          log(`migration of ${id} to ${to} failed: ${rootCause(err).message.slice(0, 300)}`);
        }
      } finally {
        inFlight.delete(id);
      }
    };

    // Drivers: moves all the time, safety checkpoints and crash recovery as the schedules would run them.
    const drivers: Promise<void>[] = [];
    const loop = (everyMs: number, fn: () => Promise<void>) =>
      drivers.push(
        (async () => {
          while (Date.now() < endAt - coolDownMs / 2) {
            await fn().catch((err: unknown) => log(`driver: ${rootCause(err).message.slice(0, 200)}`));
            await sleep(everyMs);
          }
        })(),
      );
    loop(3_000, async () => {
      if (inFlight.size >= 2) return;
      const { containers } = await api.get<{ containers: { id: string; state: string; nodeId: string | null }[] }>(
        '/v1/containers',
      );
      const movable = containers.filter((c) => c.state === 'running' && c.nodeId && !inFlight.has(c.id));
      if (!movable.length) return;
      const c = pick(movable);
      const targets = nodeIds.filter((n) => n !== c.nodeId && !faulted.has(n));
      if (targets.length) void migrate(c.id, pick(targets));
    });
    loop(30_000, async () => {
      await client.workflow.execute<typeof safetyCheckpoints>('safetyCheckpoints', {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId: `soak-safety-${Date.now()}`,
        args: [{}],
      });
    });
    loop(5_000, async () => {
      const results = await client.workflow.execute<typeof recoverCrashedNodes>('recoverCrashedNodes', {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId: `soak-recovery-${Date.now()}`,
        args: [{ offlineAfterSeconds: config.recoveryAfterSeconds }],
      });
      for (const r of results.filter((x) => x.restoredOn)) {
        report.recoveries++;
        comebacks.push({ containerId: r.containerId, at: Date.now() });
        const lost = (r.checkpointAgeMs ?? 0) / 1000;
        report.workLostSeconds.max = Math.max(report.workLostSeconds.max, lost);
        report.workLostSeconds.total += lost;
        log(`recovered ${r.containerId} on ${r.restoredOn} (its checkpoint was ${Math.round(lost)} s old)`);
        if (r.containerId === redis) {
          const checkpointAt = Date.now() - (r.checkpointAgeMs ?? 0);
          lostByRecovery.push({ from: writer!.lastAckedBefore(checkpointAt - 5_000) + 1, to: writer!.lastAcked });
          await checkRedis('after a recovery', checkpointAt - 5_000);
        }
      }
      for (const r of results.filter((x) => x.error)) log(`recovery of ${r.containerId}: ${r.error}`);
    });
    // Remnant GC, as its hourly schedule would (here every minute: the soak moves containers far more often).
    loop(60_000, async () => {
      await client.workflow.execute('collectRemnants', {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId: `soak-gc-${Date.now()}`,
        args: [],
      });
    });
    // Restarts are recorded by the API; they explain a counter that starts afresh.
    loop(5_000, async () => {
      for (const id of all) {
        const c = await api.get<{ restartCount: number; lastRestartAt: string | null }>(`/v1/containers/${id}`);
        if (c.lastRestartAt && !comebacks.some((x) => x.containerId === id && x.at === Date.parse(c.lastRestartAt!))) {
          comebacks.push({ containerId: id, at: Date.parse(c.lastRestartAt) });
          report.restarts++;
        }
      }
    });

    const inject = faultInjector({
      config,
      plan,
      nodeIds,
      nodeDirs,
      api,
      client,
      disks,
      observer,
      rnd,
      migrate,
      inFlight,
      faulted,
      undo,
      damaged,
      log,
    });

    for (const f of faults) {
      while (Date.now() < start + f.atMs && !o.signal?.aborted) await sleep(200);
      if (o.signal?.aborted) break;
      log(`fault: ${f.kind} on ${nodeIds[f.pc]} for ${Math.round(f.forMs / 1000)} s`);
      report.faults[f.kind]!++;
      await inject(f).catch((err: unknown) => log(`fault ${f.kind} failed: ${rootCause(err).message}`));
      if (f.forMs) {
        await sleep(o.signal?.aborted ? 0 : f.forMs);
        for (const fn of [...undo.values()]) await fn().catch((err: Error) => log(`undo: ${err.message}`));
      }
    }
    while (Date.now() < endAt - coolDownMs / 2) await sleep(500);
    await Promise.all(drivers);
    while (inFlight.size) await sleep(500);

    // Settle: crash recovery once more, then every container must run exactly once where migration-api says.
    log('settling');
    const settleUntil = Date.now() + coolDownMs / 2;
    while (Date.now() < settleUntil) await sleep(1_000);
    await checkRedis('at the end', Date.now() - 2_000);
    await Promise.all(judgements);
    await observer.stop();
    writer.stop();
    report.redis.acknowledgedWrites = writer.lastAcked;
    report.redis.reconnects = writer.reconnects;
    report.observer.looks = observer.looks;
    report.secondsToRecover.max = Math.round(observer.maxDownMs / 100) / 10;
    for (const l of observer.lostSeconds) report.workLostSeconds.max = Math.max(report.workLostSeconds.max, l);

    // The stores: every chunk verifies (but those the soak damaged itself), nothing left in staging.
    for (const pc of nodeIds) {
      const store = new RemnantStore(path.join(nodeDirs[pc]!, 'store'));
      for (const id of await store.containers())
        for (const g of await store.generations(id)) {
          if (damaged.has(`${pc}/${id}/${g}`)) continue;
          const { manifest } = await store.readGeneration(id, g);
          const damage = await imageDamage(store.imageDir(id, g), manifest);
          if (damage) violate({ kind: 'damaged chunk', containerId: id, detail: `${pc} generation ${g}: ${damage}` });
        }
      let staging = existsSync(store.stagingRoot()) ? readdirSync(store.stagingRoot()) : [];
      // With protection on, a holder may be receiving a checkpoint right now, or still waiting out one a dead source
      // left (node/protection-holder.ts drops it after ABANDONED_TRANSFER_MS): only older ones are left behind.
      if (o.protectSeconds)
        staging = staging.filter((id) => {
          const record = path.join(store.stagingRoot(), id, 'transfer.json');
          const openedAt = existsSync(record)
            ? Date.parse((JSON.parse(readFileSync(record, 'utf8')) as { createdAt: string }).createdAt)
            : 0;
          return Date.now() - openedAt > ABANDONED_TRANSFER_MS + 60_000;
        });
      if (staging.length) violate({ kind: 'staging left', detail: `${pc}: ${staging.join(', ')}` });
    }
    report.damagedOnPurpose = damaged.size;
  } finally {
    for (const fn of [...undo.values()]) await fn().catch(() => undefined);
    await observer?.stop().catch(() => undefined);
    if ((observer?.violations.length ?? 0) + extraViolations.length > 0) {
      await mkdir(`${config.dataDir}-evidence`, { recursive: true });
      log(`violations: the cluster's logs and records are kept in ${await keepEvidence()}`);
    }
    writer?.stop();
    await connection?.close().catch(() => undefined);
    await stopCluster(config, () => undefined).catch((err: Error) => log(`stop: ${err.message}`));
    await disks.removeAll();
    await execa('rm', ['-rf', config.dataDir], { reject: false });
  }
  report.violationDetails = [...(observer?.violations ?? []), ...extraViolations];
  report.violations = report.violationDetails.length;
  report.workLostSeconds.total = Math.round(report.workLostSeconds.total * 10) / 10;
  report.workLostSeconds.max = Math.round(report.workLostSeconds.max * 10) / 10;
  return report;
}

/** Writes the report as JSON. */
export function writeReport(file: string, report: SoakReport): void {
  writeFileSync(file, JSON.stringify(report, null, 2) + os.EOL);
}
