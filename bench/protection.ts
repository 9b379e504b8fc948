// Continuous protection measured (issue 33): `npm run bench:protection`. Per size, a Debian redis filled to that many
// MiB runs on pc1 with a client on the LAN writing timestamped keys (MSET t:<ms> <ms> last <ms>, one every 50 ms);
// pc1 protects it on pc2 with the node defaults (ZANSHIN_PROTECT_SECONDS, 2 % of wall time for freezes). For
// BENCH_MINUTES the checkpoints are watched through migration-api; then pc1 is switched off at the wall at a seeded
// random point of an interval, recovery restores the newest checkpoint on pc2, and the newest key redis still has
// says how much acknowledged work was lost. Prints each size's interval chosen, freezes, bytes per minute, the CPU
// pc1's worker (with CRIU, its children) used, and the loss; writes bench/results/<stamp>-protection.json.
import { Connection } from '@temporalio/client';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiClient, apiClientConfig } from '../cli/api-client';
import { controlTaskQueue } from '../common/config';
import { seededRandom } from '../common/seeded-random';
import type { ContainerNetwork } from '../domain/container-network';
import type { ProtectionStatus } from '../domain/protection';
import { startCluster, stopCluster } from '../infra/cluster/cluster';
import { clusterConfig, REPO_ROOT } from '../infra/cluster/config';
import { planCluster } from '../infra/cluster/plan';
import { powerOffPc, powerOnPc } from '../infra/cluster/power';
import { readState } from '../infra/cluster/state';
import { clusterClient, clusterTemporal } from '../infra/cluster/temporal-client';
import { freePorts } from '../infra/cluster/wait';
import { connectRedisClient, RedisLanClient } from '../infra/demo/lan-client';
import { ensureDebianRootfs, REDIS_ROOTFS } from '../infra/images/debian-rootfs';
import type { recoverCrashedNodes } from '../workflows';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Keys of 64-byte values per MiB of redis memory (bench/redis-move.ts measured it). */
const KEYS_PER_MIB = 6_800;

interface SizeFigures {
  sizeMiB: number;
  usedMemoryMiB: number;
  observedSeconds: number;
  checkpoints: number;
  intervalSecondsChosen: number[];
  freezeMs: { median: number; max: number; all: number[] };
  tookMs: { median: number; max: number };
  wireMiBPerMinute: number;
  /** pc1's worker with its children (CRIU, runc), cores while protecting; and idle before the container. */
  sourceCores: number;
  sourceIdleCores: number;
  holderCores: number;
  powerOff: { lostSeconds: number; restoredOn: string | null; generation: number | null; writes: number };
}

/** utime + stime + cutime + cstime of a process, in seconds (children once waited for: CRIU, runc). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return [11, 12, 13, 14].reduce((n, i) => n + Number(fields[i]), 0) / 100;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[s.length >> 1]! : (s[(s.length >> 1) - 1]! + s[s.length >> 1]!) / 2) : 0;
};

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_SIZES ?? '256,1024').split(',').map(Number);
  if (sizes.some((s) => !Number.isInteger(s) || s < 16))
    throw new Error(`BENCH_SIZES must be a comma-separated list of MiB (16 or more), got ${process.env.BENCH_SIZES}`);
  const minutes = Number(process.env.BENCH_MINUTES ?? 3);
  if (!(minutes >= 0.5)) throw new Error(`BENCH_MINUTES must be 0.5 or more, got ${process.env.BENCH_MINUTES}`);
  const seed = Number(process.env.BENCH_SEED ?? 1);
  const random = seededRandom(seed);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-bench-protection-'));
  chmodSync(dataDir, 0o755);
  const [temporalPort, uiPort, apiPort, pgPort] = await freePorts(4);
  const config = clusterConfig({
    ...process.env,
    ZANSHIN_DATA_DIR: dataDir,
    ZANSHIN_NODES: '2',
    ZANSHIN_NS_PREFIX: 'zp',
    ZANSHIN_LAN_SUBNET: '10.82.0',
    ZANSHIN_TEMPORAL_PORT: String(temporalPort),
    ZANSHIN_TEMPORAL_UI_PORT: String(uiPort),
    ZANSHIN_API_PORT: String(apiPort),
    ZANSHIN_PG_PORT: String(pgPort),
    ZANSHIN_PROTECT_SECONDS: process.env.ZANSHIN_PROTECT_SECONDS ?? '15',
    // Recovery is run by the bench once the lease ran out, not by a schedule; nothing else moves the container.
    ZANSHIN_SCHEDULES: 'paused',
    ZANSHIN_LOAD_REPORT_SECONDS: '2',
    ZANSHIN_LEASE_SECONDS: '8',
    ZANSHIN_FENCE_MARGIN_SECONDS: '3',
  });
  const log = (l: string) => console.log(`[bench:protection] ${l}`);
  const plan = planCluster(config);
  const pidOf = (name: string) => readState(plan.paths.state)!.processes.find((p) => p.name === name)!.pid;
  const results: SizeFigures[] = [];
  try {
    log(
      `cluster of 2 PCs, protection every ${config.protectSeconds} s asked, freezes <= ${config.protectFreezePercent} %`,
    );
    await startCluster(config, log);
    const api = new ApiClient(
      apiClientConfig({ ...process.env, ZANSHIN_API_URL: `http://127.0.0.1:${apiPort}`, ZANSHIN_DATA_DIR: dataDir }),
    );
    const connection = await Connection.connect({ address: `127.0.0.1:${temporalPort}` });
    const client = clusterClient(connection, clusterTemporal(config));
    const rootfs = await ensureDebianRootfs(REDIS_ROOTFS);
    try {
      for (const mib of sizes) {
        const id = `bench-protect-${mib}`;
        // The source's worker at rest, before the container exists.
        const idle0 = cpuSeconds(pidOf('pc1/node-worker'));
        await sleep(20_000);
        const sourceIdleCores = (cpuSeconds(pidOf('pc1/node-worker')) - idle0) / 20;
        const created = await api.post<{ network: ContainerNetwork | null }>('/v1/containers', {
          id,
          args: ['/usr/bin/redis-server', '/etc/redis.conf', '--save', ''],
          memoryMiB: Math.ceil(mib * 1.25) + 128,
          rootfs: { dir: rootfs },
        });
        const address = created.network!.address;
        await api.post(`/v1/containers/${id}/start`, { nodeId: 'pc1' });
        const filler = await connectRedisClient(plan.user.namespace, address);
        await filler.command('DEBUG', 'POPULATE', String(mib * KEYS_PER_MIB), 'key', '64');
        const usedMemoryMiB =
          Number(/used_memory:(\d+)/.exec(String(await filler.command('INFO', 'memory')))![1]) / 2 ** 20;
        filler.close();
        log(`${id}: ${usedMemoryMiB.toFixed(0)} MiB used; a writer sends timestamped keys; watching ${minutes} min`);
        const writerClient = await connectRedisClient(plan.user.namespace, address);
        const writer = startWriter(writerClient);
        const seen = new Map<number, ProtectionStatus>();
        const t0 = Date.now();
        const [src0, hold0] = [cpuSeconds(pidOf('pc1/node-worker')), cpuSeconds(pidOf('pc2/node-worker'))];
        while (Date.now() - t0 < minutes * 60_000) {
          const p = (await api.get<{ protection: ProtectionStatus | null }>(`/v1/containers/${id}`)).protection;
          if (p && !seen.has(p.generation)) {
            seen.set(p.generation, p);
            log(
              `  generation ${p.generation} on ${p.holder}: frozen ${p.frozenMs} ms, ${(p.wireBytes / 2 ** 20).toFixed(1)} MiB, kept after ${p.tookMs} ms, next in ${p.intervalMs / 1000} s`,
            );
          }
          await sleep(1_000);
        }
        const observed = (Date.now() - t0) / 1000;
        const sourceCores = (cpuSeconds(pidOf('pc1/node-worker')) - src0) / observed;
        const holderCores = (cpuSeconds(pidOf('pc2/node-worker')) - hold0) / observed;
        // The power cut, at a random point of the current interval.
        const last = [...seen.values()].at(-1);
        await sleep(random() * (last?.intervalMs ?? 15_000));
        const { lastAcked, writes } = await writer.stop();
        const offAt = Date.now();
        await powerOffPc(config, 'pc1');
        writerClient.close();
        log(`  pc1 switched off (last write acknowledged ${offAt - lastAcked} ms before)`);
        let restored: Awaited<ReturnType<typeof recoverCrashedNodes>>[number] | undefined;
        for (let i = 0; i < 60 && !restored; i++) {
          restored = (
            await client.workflow.execute<typeof recoverCrashedNodes>('recoverCrashedNodes', {
              taskQueue: controlTaskQueue(),
              workflowId: `bench-recover-${Date.now()}`,
              args: [{ offlineAfterSeconds: 1, timeouts: { answerSeconds: 10 } }],
            })
          ).find((r) => r.containerId === id && r.restoredOn);
          if (!restored) await sleep(2_000);
        }
        let lostSeconds = NaN;
        if (restored) {
          const after = await connectRedisClient(plan.user.namespace, address);
          lostSeconds = (offAt - Number(await after.command('GET', 'last'))) / 1000;
          after.close();
        }
        log(
          `  restored on ${restored?.restoredOn ?? 'nowhere'}: ${lostSeconds.toFixed(1)} s of acknowledged writes lost`,
        );
        const all = [...seen.values()];
        results.push({
          sizeMiB: mib,
          usedMemoryMiB: Math.round(usedMemoryMiB),
          observedSeconds: Math.round(observed),
          checkpoints: all.length,
          intervalSecondsChosen: [...new Set(all.map((p) => p.intervalMs / 1000))],
          freezeMs: {
            median: median(all.map((p) => p.frozenMs)),
            max: Math.max(...all.map((p) => p.frozenMs)),
            all: all.map((p) => p.frozenMs),
          },
          tookMs: { median: median(all.map((p) => p.tookMs)), max: Math.max(...all.map((p) => p.tookMs)) },
          wireMiBPerMinute: all.reduce((n, p) => n + p.wireBytes, 0) / 2 ** 20 / (observed / 60),
          sourceCores,
          sourceIdleCores,
          holderCores,
          powerOff: {
            lostSeconds,
            restoredOn: restored?.restoredOn ?? null,
            generation: restored?.generation ?? null,
            writes,
          },
        });
        await powerOnPc(config, 'pc1');
        // Gone before the next size: its memory would weigh on the PCs.
        await api.post(`/v1/containers/${id}/stop`, {});
        await api.delete(`/v1/containers/${id}`);
      }
    } finally {
      await connection.close();
    }
  } finally {
    await stopCluster(config, () => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
  for (const r of results)
    console.log(
      `${r.sizeMiB} MiB redis (${r.usedMemoryMiB} MiB used): ${r.checkpoints} checkpoints in ${r.observedSeconds} s, ` +
        `interval chosen ${r.intervalSecondsChosen.join('/')} s, freeze median ${r.freezeMs.median} ms (max ${r.freezeMs.max}), ` +
        `kept ${r.tookMs.median} ms after the freeze, ${r.wireMiBPerMinute.toFixed(1)} MiB/min on the wire, ` +
        `pc1 worker+CRIU ${r.sourceCores.toFixed(3)} cores (idle ${r.sourceIdleCores.toFixed(3)}), holder ${r.holderCores.toFixed(3)}; ` +
        `power-off lost ${r.powerOff.lostSeconds.toFixed(1)} s (${r.powerOff.writes} writes)`,
    );
  const out = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const file = path.join(out, `${new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-')}-protection.json`);
  writeFileSync(file, JSON.stringify({ seed, protectSeconds: config.protectSeconds, results }, null, 2) + '\n');
  log(`written ${file}`);
}

/** MSET t:<ms> <ms> last <ms> every 50 ms until stopped; the newest acknowledged timestamp. */
function startWriter(client: RedisLanClient): { stop: () => Promise<{ lastAcked: number; writes: number }> } {
  let stopping = false;
  let lastAcked = 0;
  let writes = 0;
  const done = (async () => {
    while (!stopping) {
      const ms = Date.now();
      await client.command('MSET', `t:${ms}`, String(ms), 'last', String(ms));
      lastAcked = ms;
      writes++;
      await sleep(50);
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await done;
      return { lastAcked, writes };
    },
  };
}

main().catch((err: unknown) => {
  console.error(`bench:protection: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
