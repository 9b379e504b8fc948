// The benchmark's real program (issue 29): a Debian redis-server filled to about the given size, a client on another
// machine of the LAN sending PING every 10 ms on one TCP connection (its longest wait is what a user lives), and a
// writer doing SETs as fast as answers come (one at a time, ~100/s). Moved there and back; each move's freezes (as
// the migration reports them) are printed next to what the client saw.
import type { Client } from '@temporalio/client';
import type { ApiClient } from '../cli/api-client';
import { controlTaskQueue } from '../common/config';
import type { ContainerNetwork } from '../domain/container-network';
import type { MigrationResult } from '../domain/reports';
import { connectRedisClient, RedisLanClient } from '../infra/demo/lan-client';
import { ensureDebianRootfs, REDIS_ROOTFS } from '../infra/images/debian-rootfs';
import { moveSteps } from './move-steps';
import type { migrateContainer } from '../workflows';

export interface RedisMoveResult {
  route: string;
  /** The migration's downtime (final dump to running on the target), as it reports it. */
  downtimeMs: number;
  freezes: { kind: string; ms: number }[];
  frozenTotalMs: number;
  longestFreezeMs: number;
  /** The longest a PING of the client waited for its answer during the move: what a user lives. */
  clientLongestWaitMs: number;
  /** client's longest wait - reported downtime: the goal is within 0.3 s. */
  clientMinusDowntimeMs: number;
  writerLongestWaitMs: number;
  writes: number;
  wireBytes: number;
  fullBytes: number;
  totalMs: number | null;
  heldPackets: number | null;
  /** Where the move's time went (bench/move-steps.ts). */
  steps: Record<string, number>;
}

export interface RedisBenchResult {
  sizeMiB: number;
  keys: number;
  usedMemoryBytes: number;
  moves: RedisMoveResult[];
}

/** Keys of 64-byte values per MiB of redis memory (measured here: 947,200 keys made 139 MiB used). */
const KEYS_PER_MIB = 6_800;

export async function benchRedis(o: {
  client: Client;
  api: ApiClient;
  userNamespace: string;
  home: string;
  away: string;
  mib: number;
  log: (l: string) => void;
}): Promise<RedisBenchResult> {
  const id = `bench-redis-${o.mib}`;
  const rootfs = await ensureDebianRootfs(REDIS_ROOTFS);
  const created = await o.api.post<{ network: ContainerNetwork | null }>('/v1/containers', {
    id,
    args: ['/usr/bin/redis-server', '/etc/redis.conf', '--save', ''],
    memoryMiB: Math.ceil(o.mib * 1.25) + 128,
    rootfs: { dir: rootfs },
  });
  const address = created.network?.address;
  if (!address) throw new Error('migration-api gave the container no address (ZANSHIN_CONTAINER_POOL)');
  await o.api.post(`/v1/containers/${id}/start`, { nodeId: o.home });
  const probe = await connectRedisClient(o.userNamespace, address);
  const writer = await connectRedisClient(o.userNamespace, address).catch((err: unknown) => {
    probe.close();
    throw err;
  });
  try {
    const keys = o.mib * KEYS_PER_MIB;
    o.log(`${id}: redis-server at ${address}, filling ${keys} keys`);
    await probe.command('DEBUG', 'POPULATE', String(keys), 'key', '64');
    const info = String(await probe.command('INFO', 'memory'));
    const usedMemoryBytes = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
    o.log(`${id}: ${(usedMemoryBytes / 2 ** 20).toFixed(0)} MiB used; a client PINGs every 10 ms, a writer SETs`);
    const moves: RedisMoveResult[] = [];
    for (const [from, to] of [
      [o.home, o.away],
      [o.away, o.home],
    ] as const) {
      const digest = await probe.command('DEBUG', 'DIGEST');
      probe.startProbe();
      const writing = writeWhile(writer);
      const result = await o.client.workflow.execute<typeof migrateContainer>('migrateContainer', {
        taskQueue: controlTaskQueue(),
        workflowId: `bench-move-${id}-${from}-${to}-${Date.now()}`,
        args: [{ containerId: id, to, reason: 'benchmark' }],
      });
      const clientLongestWaitMs = await probe.stopProbe();
      const wrote = await writing.stop();
      // The writes went on through the move: the digest moved with them, so check the data by its keys instead.
      if (Number(await probe.command('DBSIZE')) < keys + wrote.writes)
        throw new Error(`${id} lost keys in the move ${from} -> ${to} (digest before: ${String(digest)})`);
      moves.push(moveFigures(`${from} -> ${to}`, result, clientLongestWaitMs, wrote));
      o.log(
        `${id} ${from} -> ${to}: downtime ${result.downtimeMs} ms, freezes ${(result.freezes ?? []).map((f) => `${f.kind} ${f.ms}`).join(', ')} ms; client's longest wait ${clientLongestWaitMs} ms, writer's ${wrote.longestMs} ms (${wrote.writes} SETs)`,
      );
    }
    await o.api.post(`/v1/containers/${id}/stop`, {}).catch(() => undefined);
    return { sizeMiB: o.mib, keys, usedMemoryBytes, moves };
  } finally {
    probe.close();
    writer.close();
  }
}

function moveFigures(
  route: string,
  m: MigrationResult,
  clientLongestWaitMs: number,
  wrote: { writes: number; longestMs: number },
): RedisMoveResult {
  return {
    route,
    downtimeMs: m.downtimeMs,
    freezes: m.freezes ?? [{ kind: 'move', ms: m.downtimeMs }],
    frozenTotalMs: m.frozenTotalMs ?? m.downtimeMs,
    longestFreezeMs: m.longestFreezeMs ?? m.downtimeMs,
    clientLongestWaitMs,
    clientMinusDowntimeMs: clientLongestWaitMs - m.downtimeMs,
    writerLongestWaitMs: wrote.longestMs,
    writes: wrote.writes,
    wireBytes: m.wireBytes,
    fullBytes: m.fullBytes,
    totalMs: m.totalMs ?? null,
    heldPackets: m.restore.heldPackets ?? null,
    steps: moveSteps(m),
  };
}

/** SETs one after another (each waits for its answer) until stop(): how many, and the longest wait for one. */
function writeWhile(writer: RedisLanClient): { stop: () => Promise<{ writes: number; longestMs: number }> } {
  let stopping = false;
  let writes = 0;
  let longestMs = 0;
  const loop = (async () => {
    while (!stopping) {
      const t0 = Date.now();
      await writer.command('SET', `written:${writes}`, String(t0));
      longestMs = Math.max(longestMs, Date.now() - t0);
      writes++;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
      return { writes, longestMs };
    },
  };
}
