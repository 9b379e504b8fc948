// The control plane under a campus's load without the PCs: synthetic PCs (one process) that register, report every
// interval through migration-api with their own credentials, and run containers recorded in PostgreSQL; placement
// asked the way an administrator's CLI asks. Used by bench/control-plane.ts (1,000 PCs) and its short test.
import type { Pool } from 'pg';
import { nodeTaskQueue } from '../../common/names';
import type { NodeReport } from '../../domain/node-report';
import { insertContainer, nextEpoch, setRunning } from '../../state/containers';
import { CAMPUS_ZONE, generateCampus, type Campus, type SimPc } from '../simulate/campus';
import { forEachBounded } from '../../common/bounded';
import { seededRandom } from '../../common/seeded-random';

/** Latencies in ms, and what went wrong, of one kind of request. */
export class Latencies {
  readonly ms: number[] = [];
  readonly errors: string[] = [];

  async time<T>(fn: () => Promise<T>): Promise<T | null> {
    const t0 = performance.now();
    try {
      const r = await fn();
      this.ms.push(performance.now() - t0);
      return r;
    } catch (err) {
      if (this.errors.length < 20) this.errors.push((err as Error).message);
      else this.errors.push('');
      return null;
    }
  }

  /** The p-th percentile (0-100) by nearest rank; null without samples. */
  percentile(p: number): number | null {
    if (!this.ms.length) return null;
    const sorted = [...this.ms].sort((a, b) => a - b);
    return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! * 10) / 10;
  }

  summary(): { count: number; errors: number; p50: number | null; p99: number | null; max: number | null } {
    return {
      count: this.ms.length,
      errors: this.errors.length,
      p50: this.percentile(50),
      p99: this.percentile(99),
      max: this.percentile(100),
    };
  }
}

/** One API instance as the synthetic PCs reach it. */
export interface ApiEndpoint {
  baseUrl: string;
  adminToken: string;
}

async function call<T>(base: string, method: string, url: string, token: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 200)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

export interface SyntheticCampusOptions {
  pcs: number;
  containersPerPc: number;
  seed: number;
  /** migration-api instances: PCs are spread over them (PC i reports to instance i mod n). */
  apis: ApiEndpoint[];
  /** Direct access for what only workflows write (containers running on PCs). */
  db: Pool;
  reportIntervalMs: number;
  /**
   * Continuous protection on: each PC reports its containers' newest safety checkpoints, kept by the next PC, which
   * reports them among its remnants (what protection adds to the control plane: rows in reports, no workflows).
   */
  protection?: boolean;
}

/** A campus of synthetic PCs: `setUp` registers everything, `reportFor` runs the reporters. */
export class SyntheticCampus {
  readonly campus: Campus;
  readonly reports = new Latencies();
  /** Reports each API instance answered. */
  readonly reportsPerApi: number[];
  private readonly tokens = new Map<string, string>();
  /** Containers each PC runs, with their epochs. */
  private readonly running = new Map<string, { containerId: string; epoch: number }[]>();

  constructor(private readonly o: SyntheticCampusOptions) {
    this.reportsPerApi = o.apis.map(() => 0);
    // A 15-week term in its last weeks: this week's lectures are in placement's horizon (PCs in and near lectures),
    // and the weeks behind are history for pruning.
    this.campus = generateCampus({
      pcs: o.pcs,
      weeks: 15,
      rnd: seededRandom(o.seed),
      startsOn: new Date(Date.now() - 13 * 7 * 86_400_000).toISOString().slice(0, 10),
    });
  }

  private apiOf(index: number): ApiEndpoint {
    return this.o.apis[index % this.o.apis.length]!;
  }

  private report(pc: SimPc, index: number): NodeReport {
    const running = this.running.get(pc.id) ?? [];
    const usedBytes = running.length * 256 * 2 ** 20;
    // One PC in ten is busy (its user's own work): C + M over the rebalancer's 1.5, so its containers are weighed.
    const busy = index % 10 === 0;
    return {
      address: `10.200.${Math.floor(index / 250)}.${(index % 250) + 1}`,
      taskQueue: nodeTaskQueue(pc.id),
      cpu: busy ? 0.95 : Math.min(1, 0.05 + 0.1 * running.length + 0.05 * Math.sin(Date.now() / 60_000 + index)),
      memory: busy ? 0.8 : Math.min(1, 0.15 + usedBytes / pc.memoryBytes),
      memoryTotalBytes: pc.memoryBytes,
      memoryAvailableBytes: Math.max(0, Math.round(pc.memoryBytes * 0.85 - usedBytes)),
      cpuModel: pc.cpuModel,
      cpuCores: pc.cores,
      cpuFlags: pc.cpuFlags,
      dirtyTracking: false,
      criuVersion: '4.2.1',
      strategy: 'content',
      checkpointsOtherUsers: false,
      linkRateBps: 1e9,
      diskTotalBytes: 256 * 2 ** 30,
      diskFreeBytes: 200 * 2 ** 30,
      remnants: [...running, ...(this.o.protection ? this.keptFor(index) : [])].map((c) => ({
        containerId: c.containerId,
        hasBundle: true,
        generations: [c.epoch * 1_000_000 + 1],
        imageBytes: 256 * 2 ** 20,
        leftAt: null,
        expiresAt: null,
      })),
      containers: running.map((c) => ({ containerId: c.containerId, status: 'running', exit: null, epoch: c.epoch })),
      listedAt: new Date().toISOString(),
      ...(this.o.protection ? this.protectionRows(index, running) : {}),
    };
  }

  /** This PC's containers' newest checkpoints, each kept by the next PC (a 15 s interval, a 300 ms freeze). */
  private protectionRows(
    index: number,
    running: { containerId: string; epoch: number }[],
  ): Pick<NodeReport, 'protection'> {
    const holder = this.campus.pcs[(index + 1) % this.campus.pcs.length]!.id;
    const at = new Date(Date.now() - (index % 15) * 1000).toISOString();
    return {
      protection: running.map((c) => ({
        containerId: c.containerId,
        holder,
        generation: c.epoch * 1_000_000 + 2,
        at,
        frozenMs: 300,
        wireBytes: 2 * 2 ** 20,
        tookMs: 1500,
        intervalMs: 15_000,
      })),
    };
  }

  /** The previous PC's containers, whose checkpoints this PC keeps. */
  private keptFor(index: number): { containerId: string; epoch: number }[] {
    const pcs = this.campus.pcs;
    return this.running.get(pcs[(index + pcs.length - 1) % pcs.length]!.id) ?? [];
  }

  /**
   * Credentials for every PC, rooms and the term's timetable imported through the API, a first report from each,
   * then `containersPerPc` containers running on each (recorded as workflows record them). Progress to `log`.
   */
  async setUp(log: (line: string) => void): Promise<void> {
    const admin = this.o.apis[0]!;
    const pcs = this.campus.pcs;
    await forEachBounded(pcs, 32, async (pc) => {
      const { token } = await call<{ token: string }>(
        admin.baseUrl,
        'POST',
        `/v1/nodes/${pc.id}/credential`,
        admin.adminToken,
        {},
      );
      this.tokens.set(pc.id, token);
    });
    log(`${pcs.length} PC credentials issued`);
    for (const room of this.campus.rooms)
      await call(admin.baseUrl, 'PUT', `/v1/rooms/${room.id}`, admin.adminToken, {
        nodes: pcs.filter((p) => p.room === room.id).map((p) => p.id),
      });
    const imported = await call<{ lectures: number }>(admin.baseUrl, 'POST', '/v1/lectures/imports', admin.adminToken, {
      name: 'synthetic-term',
      format: 'csv',
      content: this.campus.timetableCsv,
      timezone: CAMPUS_ZONE,
    });
    log(`${this.campus.rooms.length} rooms, ${imported.lectures} lectures imported`);
    await forEachBounded(pcs, 32, (pc) => this.reportOnce(pc, pcs.indexOf(pc), null));
    let n = 0;
    for (const [i, pc] of pcs.entries())
      for (let k = 0; k < this.o.containersPerPc; k++) {
        const id = `load-${pc.id}-${k}`;
        await insertContainer(
          this.o.db,
          {
            id,
            args: ['/bin/sleep', 'infinity'],
            env: [],
            memoryMiB: 256,
            diskMiB: 1024,
            cpus: 1,
            pids: 256,
            user: null,
            rootfs: { dir: '/srv/rootfs' },
          },
          null,
        );
        await setRunning(this.o.db, id, pc.id);
        const epoch = (await nextEpoch(this.o.db, id)) ?? 1;
        this.running.set(pc.id, [...(this.running.get(pc.id) ?? []), { containerId: id, epoch }]);
        n++;
        if (n % 500 === 0) log(`${n} containers running (PC ${i + 1} of ${pcs.length})`);
      }
    log(`${n} containers running on ${pcs.length} PCs`);
  }

  private async reportOnce(pc: SimPc, index: number, into: Latencies | null): Promise<void> {
    const send = async () => {
      await call(
        this.apiOf(index).baseUrl,
        'PUT',
        `/v1/nodes/${pc.id}/report`,
        this.tokens.get(pc.id)!,
        this.report(pc, index),
      );
      this.reportsPerApi[index % this.o.apis.length]!++;
    };
    if (into) await into.time(send);
    else await send();
  }

  /** Every PC reports every interval, phases spread over it, for `ms`; latencies go to `reports`. */
  async reportFor(ms: number): Promise<void> {
    const until = Date.now() + ms;
    const every = this.o.reportIntervalMs;
    await Promise.all(
      this.campus.pcs.map(async (pc, i) => {
        await sleep((i / this.campus.pcs.length) * every);
        while (Date.now() < until) {
          const t0 = Date.now();
          await this.reportOnce(pc, i, this.reports);
          await sleep(Math.max(0, every - (Date.now() - t0)));
        }
      }),
    );
  }

  /** Container ids, for placement queries. */
  containerIds(): string[] {
    return [...this.running.values()].flat().map((c) => c.containerId);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
