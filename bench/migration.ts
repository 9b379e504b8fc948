// Benchmark: Zanshin's moves against what a user would do instead, in one run on the same simulated PCs and links.
// For each size: a counter container with its own LAN address moves pc1 -> pc2 (no remnant: pre-copy) and back
// (remnant reused) while a client on the user host probes it over UDP every 10 ms: its downtime is the longest
// silence the client saw, and every other silence (pre-copy freezes) is reported too. Then a
// plain runc container of the same size does stop-and-copy (runc checkpoint, rsync of the whole image, runc
// restore) and the way back with rsync -B4096 onto the old image. Writes bench/results/<stamp>-<workload>.json and
// an SVG of downtime against size; the README's tables come from those files.
// Run: npm run bench:migration   (as root). Options (environment):
//   BENCH_SIZES=64,256,1024,2048  MiB per container (default 256,1024)
//   BENCH_WORKLOAD=random|text    random memory, or text with zero pages (compressible) (default random)
//   BENCH_DIRTY_PAGES_PER_SEC=110 pages the workload rewrites per second (default 110)
//   BENCH_LINK_RATE=1gbit         shaping of every PC's link (default 1gbit, "off" for none)
//   BENCH_EVACUATION=4x256        a room evacuation: containers x MiB leaving one PC at once ("off": none)
//   BENCH_REDIS=1024              a real program: redis filled to about this many MiB, moved there and back while a
//                                 LAN client PINGs it over TCP every 10 ms and a writer SETs ("off": none)
//   BENCH_KEEP_LOGS=/some/dir     copy the cluster's logs there before the data is removed
//   (ZANSHIN_MEMORY_TRACE_MS=200 makes node workers log their memory as it changes)
import { Client, Connection } from '@temporalio/client';
import { clusterClient, clusterTemporal } from '../infra/cluster/temporal-client';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, clusterConfig } from '../infra/cluster/config';
import { startCluster, stopCluster } from '../infra/cluster/cluster';
import { planCluster } from '../infra/cluster/plan';
import { readState } from '../infra/cluster/state';
import { freePorts } from '../infra/cluster/wait';
import { ensureCounterRootfs } from '../infra/images/counter';
import { ApiClient, apiClientConfig } from '../cli/api-client';
import { formatMoves } from '../cli/format';
import type { MigrationResult, MoveReport } from '../domain/reports';
import { moveSteps } from './move-steps';
import type { ContainerNetwork } from '../domain/container-network';
import { controlTaskQueue } from '../common/config';
import { nodeLifecycleWorkflowId } from '../common/names';
import type { EvacuationReport } from '../workflows/node-lifecycle';
import type { migrateContainer } from '../workflows';
import execa from 'execa';
import { runcBaselines } from './baselines';
import type { BenchResults, EvacuationResult, MethodResult, SizeResult } from './measure';
import { lineChartSvg } from './plot';
import { benchRedis, type RedisBenchResult } from './redis-move';

interface ProbeResult {
  sent: number;
  answered: number;
  gaps: { atMs: number; ms: number }[];
}

const ECHO_PORT = 7;

/** A UDP client on the user host (another machine of the LAN) probing the container every 10 ms during `fn`. */
async function probed<T>(
  userNs: string,
  address: string,
  fn: () => Promise<T>,
): Promise<{ result: T; probe: ProbeResult }> {
  const child = execa(
    'nsenter',
    [
      `--net=/run/netns/${userNs}`,
      process.execPath,
      path.join(REPO_ROOT, 'dist', 'bench', 'udp-probe.js'),
      address,
      String(ECHO_PORT),
    ],
    { stdin: 'pipe' },
  );
  try {
    await sleep(300);
    const result = await fn();
    await sleep(300);
    child.stdin!.end();
    const probe = JSON.parse((await child).stdout) as ProbeResult;
    if (probe.answered === 0)
      throw new Error(`the container at ${address} never answered the probe (UDP ${ECHO_PORT})`);
    return { result, probe };
  } finally {
    child.kill();
  }
}

const stepsText = (steps: Record<string, number>) =>
  Object.entries(steps)
    .map(([k, v]) => `${k} ${fmtMs(v)}`)
    .join(', ');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function zanshinResult(m: MoveReport, probe: ProbeResult): MethodResult {
  const steps = moveSteps(m);
  // Request to done as the migration reports it (older reports: the sum of its steps).
  const totalMs = (m as MigrationResult).totalMs ?? m.steps.reduce((n, s) => n + s.ms, 0);
  // Downtime as a client sees it: the longest silence; every silence counts in the frozen total.
  const longest = Math.max(0, ...probe.gaps.map((g) => g.ms));
  const silent = probe.gaps.reduce((n, g) => n + g.ms, 0);
  return {
    downtimeMs: longest,
    frozenInPreCopyMs: silent - longest,
    totalMs,
    wireBytes: m.wireBytes,
    steps,
  };
}

/** "4x256": four containers of 256 MiB; "off": none. */
function parseEvacuation(spec: string): [number, number] | null {
  if (spec === 'off') return null;
  const m = /^(\d+)x(\d+)$/.exec(spec);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1)
    throw new Error(`BENCH_EVACUATION must be <containers>x<MiB> (e.g. 4x256) or off, got ${spec}`);
  return [Number(m[1]), Number(m[2])];
}

/** Peak resident memory of each node worker since the last reset (MiB); with `reset`, starts a new peak. */
function nodeWorkerPeaks(stateFile: string, reset: boolean): Record<string, number> {
  const peaks: Record<string, number> = {};
  for (const p of readState(stateFile)?.processes ?? [])
    if (p.name.endsWith('/node-worker')) {
      const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1];
      if (hwm) peaks[p.name] = Math.round(Number(hwm) / 1024);
      // 5 resets the peak (proc(5), clear_refs).
      if (reset) writeFileSync(`/proc/${p.pid}/clear_refs`, '5');
    }
  return peaks;
}

/**
 * A room evacuation: `count` containers on one PC, then the lecture signal its lifecycle workflow gets from the
 * timetable; measured until the PC holds no container (the evacuation's own report says when).
 */
async function benchEvacuation(o: {
  client: Client;
  api: ApiClient;
  rootfs: string;
  count: number;
  mib: number;
  env: string[];
  dirty: number;
  home: string;
  dwellMs: number;
  log: (l: string) => void;
}): Promise<EvacuationResult> {
  const ids = Array.from({ length: o.count }, (_, i) => `evac-${i + 1}`);
  for (const id of ids) {
    await o.api.post('/v1/containers', {
      id,
      args: ['/bin/counter'],
      env: [`MIB=${o.mib}`, `DIRTY_PAGES_PER_SEC=${o.dirty}`, ...o.env],
      memoryMiB: o.mib + 32,
      rootfs: { dir: o.rootfs },
    });
    await o.api.post(`/v1/containers/${id}/start`, { nodeId: o.home });
  }
  o.log(`evacuation: ${o.count} counters of ${o.mib} MiB on ${o.home}; the lecture signal follows`);
  await sleep(o.dwellMs + ((o.count * o.mib) / 256) * 1000);
  const handle = await o.client.workflow.signalWithStart('nodeLifecycle', {
    taskQueue: controlTaskQueue(),
    workflowId: nodeLifecycleWorkflowId(o.home),
    args: [{ nodeId: o.home }],
    signal: 'lectureStarting',
    signalArgs: [{ reason: 'bench: lecture starting' }], // the default deadline, as the timetable sends it
  });
  const t0 = Date.now();
  for (;;) {
    const status = await handle.query<{ evacuations: EvacuationReport[] }>('status');
    const report = status.evacuations.find((e) => e.requestedAt >= t0 - 5_000);
    if (report?.finishedAt) {
      for (const id of ids) await o.api.post(`/v1/containers/${id}/stop`, {}).catch(() => undefined);
      return {
        containers: o.count,
        sizeMiB: o.mib,
        pcFreeMs: report.finishedAt - report.requestedAt,
        outcomes: report.containers,
        stopAndCopyOneByOneMs: null,
        nodeWorkerPeakRssMiB: {},
      };
    }
    if (Date.now() - t0 > 1_200_000) throw new Error(`the evacuation of ${o.home} did not finish in 20 minutes`);
    await sleep(500);
  }
}

const fmtMs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const fmtMB = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

/** The cluster's configuration; a bad one leaves no data directory behind. */
function configOrClean(dataDir: string, env: NodeJS.ProcessEnv): ReturnType<typeof clusterConfig> {
  try {
    return clusterConfig(env);
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_SIZES ?? '256,1024').split(',').map(Number);
  if (sizes.some((s) => !Number.isInteger(s) || s < 1))
    throw new Error(`BENCH_SIZES must be a comma-separated list of MiB, got ${process.env.BENCH_SIZES}`);
  const workload = process.env.BENCH_WORKLOAD ?? 'random';
  if (workload !== 'random' && workload !== 'text')
    throw new Error(`BENCH_WORKLOAD must be random or text, got ${workload}`);
  const dirty = Number(process.env.BENCH_DIRTY_PAGES_PER_SEC ?? 110);
  const dwellMs = 5_000;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-bench-'));
  chmodSync(dataDir, 0o755);
  // Taken together, so that no two are the same (four separate picks once gave the API and Temporal one port).
  const [temporalPort, uiPort, apiPort, pgPort] = await freePorts(4);
  const config = configOrClean(dataDir, {
    ...process.env,
    ZANSHIN_DATA_DIR: dataDir,
    ZANSHIN_NODES: '2',
    ZANSHIN_NS_PREFIX: 'zb',
    ZANSHIN_LAN_SUBNET: '10.81.0',
    ...(process.env.BENCH_LINK_RATE ? { ZANSHIN_LINK_RATE: process.env.BENCH_LINK_RATE } : {}),
    ZANSHIN_TEMPORAL_PORT: String(temporalPort),
    ZANSHIN_TEMPORAL_UI_PORT: String(uiPort),
    ZANSHIN_API_PORT: String(apiPort),
    ZANSHIN_PG_PORT: String(pgPort),
  });
  const plan = planCluster(config);
  const [home, away] = plan.nodes;
  const log = (l: string) => console.log(`[bench] ${l}`);
  const results: SizeResult[] = [];
  const peakRssMiB: Record<string, number> = {};
  const env = workload === 'text' ? ['FILL=text'] : [];
  const evacuationSpec = parseEvacuation(process.env.BENCH_EVACUATION ?? '4x256');
  let evacuation: EvacuationResult | null = null;
  const redisMiB = process.env.BENCH_REDIS === 'off' ? null : Number(process.env.BENCH_REDIS ?? 1024);
  if (redisMiB !== null && !(Number.isInteger(redisMiB) && redisMiB >= 16))
    throw new Error(`BENCH_REDIS must be MiB (at least 16) or off, got ${process.env.BENCH_REDIS}`);
  let redis: RedisBenchResult | null = null;
  try {
    log(`cluster of 2 PCs, link ${config.linkRate ?? 'unshaped'}, ${workload} memory, data in ${dataDir}`);
    await startCluster(config, log);
    const connection = await Connection.connect({ address: `127.0.0.1:${config.temporalPort}` });
    try {
      const client = clusterClient(connection, clusterTemporal(config));
      const api = new ApiClient(
        apiClientConfig({
          ...process.env,
          ZANSHIN_API_URL: `http://127.0.0.1:${config.apiPort}`,
          ZANSHIN_DATA_DIR: config.dataDir,
        }),
      );
      const rootfs = await ensureCounterRootfs();
      for (const mib of sizes) {
        const id = `bench-${mib}`;
        const created = await api.post<{ network: ContainerNetwork | null }>('/v1/containers', {
          id,
          args: ['/bin/counter'],
          env: [`MIB=${mib}`, `DIRTY_PAGES_PER_SEC=${dirty}`, `ECHO_PORT=${ECHO_PORT}`, ...env],
          memoryMiB: mib + 32,
          rootfs: { dir: rootfs },
        });
        const address = created.network?.address;
        if (!address) throw new Error('migration-api gave the container no address (ZANSHIN_CONTAINER_POOL)');
        log(`${id}: counter holding ${mib} MiB (${workload}), ${dirty} dirty pages/s, at ${address}`);
        await api.post(`/v1/containers/${id}/start`, { nodeId: home!.id });
        await sleep(dwellMs + (mib / 256) * 1000); // filling the memory takes about a second per 256 MiB
        const move = (from: string, to: string) =>
          probed(plan.user.namespace, address, () =>
            // Registered (for its address): moved as users move it, claimed and recorded by migrateContainer.
            client.workflow.execute<typeof migrateContainer>('migrateContainer', {
              taskQueue: controlTaskQueue(),
              workflowId: `bench-move-${id}-${from}-${to}-${Date.now()}`,
              args: [{ containerId: id, to, reason: 'benchmark' }],
            }),
          );
        nodeWorkerPeaks(plan.paths.state, true); // this size's moves start a new peak
        log(`moving ${id} ${home!.id} -> ${away!.id} (no remnant there)`);
        const there = await move(home!.id, away!.id);
        await sleep(dwellMs);
        log(`moving ${id} ${away!.id} -> ${home!.id} (its remnant is there)`);
        const back = await move(away!.id, home!.id);
        // Goal: a node worker stays under 256 MiB resident while it moves a 1 GiB container (streams only).
        const movePeaks = nodeWorkerPeaks(plan.paths.state, false);
        log(`peak resident memory of the node workers during these moves: ${JSON.stringify(movePeaks)} MiB`);
        console.log(formatMoves([there.result, back.result]));
        await api.post(`/v1/containers/${id}/stop`, {}).catch(() => undefined);
        const baselines = await runcBaselines({
          rootfs,
          env: [`MIB=${mib}`, `DIRTY_PAGES_PER_SEC=${dirty}`, ...env],
          args: ['/bin/counter'],
          readyRssBytes: mib * 0.95 * 1024 * 1024,
          workDir: path.join(dataDir, `baseline-${mib}`),
          criu: config.criuBin,
          home: home!,
          away: away!,
          dwellMs,
          log,
        });
        const r: SizeResult = {
          sizeMiB: mib,
          workload,
          dirtyPagesPerSecond: dirty,
          linkRate: config.linkRate,
          methods: {
            'zanshin first move': zanshinResult(there.result, there.probe),
            'zanshin return move': zanshinResult(back.result, back.probe),
            'stop-and-copy (runc + rsync)': baselines.stopAndCopy,
            'return with rsync -B4096': baselines.rsyncReturn,
            ...('result' in baselines.podman ? { 'podman export/import': baselines.podman.result } : {}),
          },
          ...('unavailable' in baselines.podman ? { podmanUnavailable: baselines.podman.unavailable } : {}),
          nodeWorkerPeakRssMiB: movePeaks,
        };
        for (const [name, mib] of Object.entries(movePeaks)) peakRssMiB[name] = Math.max(peakRssMiB[name] ?? 0, mib);
        results.push(r);
        console.log(`\n${mib} MiB, ${workload} memory, ${dirty} dirty pages/s, link ${config.linkRate ?? 'unshaped'}:`);
        for (const [name, m] of Object.entries(r.methods))
          console.log(
            `  ${name.padEnd(30)} downtime ${fmtMs(m.downtimeMs).padStart(9)}  total ${fmtMs(m.totalMs).padStart(9)}  wire ${fmtMB(m.wireBytes).padStart(10)}  ${stepsText(m.steps)}`,
          );
        const sc = baselines.stopAndCopy.downtimeMs;
        const rs = baselines.rsyncReturn;
        console.log(
          `  first move downtime / stop-and-copy: ${(r.methods['zanshin first move']!.downtimeMs / sc).toFixed(2)};` +
            ` return downtime - (runc checkpoint + restore): ${fmtMs(r.methods['zanshin return move']!.downtimeMs - rs.steps.checkpoint! - rs.steps.restore!)}`,
        );
      }
      if (redisMiB !== null) {
        nodeWorkerPeaks(plan.paths.state, true);
        redis = await benchRedis({
          client,
          api,
          userNamespace: plan.user.namespace,
          home: home!.id,
          away: away!.id,
          mib: redisMiB,
          log,
        });
        console.log(
          `\nredis, ${(redis.usedMemoryBytes / 2 ** 20).toFixed(0)} MiB used (${redis.keys} keys), TCP client:`,
        );
        for (const m of redis.moves)
          console.log(
            `  ${m.route.padEnd(12)} downtime ${fmtMs(m.downtimeMs)}  freezes ${m.freezes.map((f) => `${f.kind} ${fmtMs(f.ms)}`).join(', ')} (in all ${fmtMs(m.frozenTotalMs)})  client's longest wait ${fmtMs(m.clientLongestWaitMs)} (${m.clientMinusDowntimeMs >= 0 ? '+' : ''}${fmtMs(m.clientMinusDowntimeMs)})  writer's ${fmtMs(m.writerLongestWaitMs)}  wire ${fmtMB(m.wireBytes)}  request to done ${m.totalMs === null ? '-' : fmtMs(m.totalMs)}  held packets ${m.heldPackets ?? '-'}` +
              `\n               ${stepsText(m.steps)}`,
          );
        log(
          `node workers' peak memory during the redis moves: ${JSON.stringify(nodeWorkerPeaks(plan.paths.state, false))} MiB`,
        );
      }
      nodeWorkerPeaks(plan.paths.state, true); // the evacuation starts a new peak
      log(`peak resident memory of the node workers over all sizes: ${JSON.stringify(peakRssMiB)} MiB`);
      if (evacuationSpec) {
        const [count, mib] = evacuationSpec;
        evacuation = await benchEvacuation({
          client,
          api,
          rootfs,
          count,
          mib,
          env,
          dirty,
          home: home!.id,
          dwellMs,
          log,
        });
        const one = results.find((r) => r.sizeMiB === mib)?.methods['stop-and-copy (runc + rsync)'];
        evacuation.stopAndCopyOneByOneMs = one ? one.downtimeMs * count : null;
        evacuation.nodeWorkerPeakRssMiB = nodeWorkerPeaks(plan.paths.state, false);
        log(
          `evacuation of ${count} x ${mib} MiB: ${home!.id} free after ${fmtMs(evacuation.pcFreeMs)}` +
            (evacuation.stopAndCopyOneByOneMs !== null
              ? ` (stop-and-copy one by one: ${fmtMs(evacuation.stopAndCopyOneByOneMs)})`
              : '') +
            `; ${evacuation.outcomes.map((o) => `${o.containerId} ${o.outcome}${o.to ? ` to ${o.to}` : ''}${o.error ? ` (${o.error})` : ''}`).join(', ')}` +
            `; node workers' peak memory ${JSON.stringify(evacuation.nodeWorkerPeakRssMiB)} MiB`,
        );
      }
    } finally {
      await connection.close();
    }
  } finally {
    await stopCluster(config, () => undefined);
    if (process.env.BENCH_KEEP_LOGS)
      cpSync(path.join(dataDir, 'logs'), process.env.BENCH_KEEP_LOGS, { recursive: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
  const outDir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
  const base = path.join(outDir, `${stamp}-${workload}`);
  writeFileSync(
    `${base}.json`,
    JSON.stringify(
      { sizes: results, nodeWorkerPeakRssMiB: peakRssMiB, evacuation, redis } satisfies BenchResults,
      null,
      2,
    ) + '\n',
  );
  const names = Object.keys(results[0]?.methods ?? {});
  writeFileSync(
    `${base}.svg`,
    lineChartSvg(
      `Downtime against size (${workload} memory, ${dirty} dirty pages/s, link ${config.linkRate ?? 'unshaped'})`,
      'container memory (MiB)',
      'downtime (s)',
      names.map((name) => ({
        name,
        points: results.map((r) => ({ x: r.sizeMiB, y: r.methods[name]!.downtimeMs / 1000 })),
      })),
    ),
  );
  log(`results: ${base}.json and ${base}.svg`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
