// The soak's observer, outside Zanshin: it asks runc on every PC which copies run (five times a second), the LAN who
// answers each container's address, migration-api where it says each container is, and each counter how far it got.
// What must never happen is a violation; what Zanshin is allowed to do (lose the work since a checkpoint when it
// recovers a container) is measured.
import execa from 'execa';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import type { ApiClient } from '../../cli/api-client';
import { isDying } from './dying';

export interface Violation {
  at: string;
  kind:
    | 'two copies running'
    | 'two copies answer the address'
    | 'runs nowhere'
    | 'database disagrees'
    | 'counter went back'
    | 'acknowledged write lost'
    | 'damaged chunk'
    | 'staging left';
  containerId?: string;
  detail: string;
}

interface ContainerView {
  id: string;
  state: string;
  nodeId: string | null;
  network: { address: string } | null;
}

/** How long a mismatch may last before it counts: a recovery takes lease + margin + a recovery round + a restore. */
const GRACE_MS = 60_000;

export class Observer {
  readonly violations: Violation[] = [];
  looks = 0;
  /** Per container: when it was last seen running somewhere, and where. */
  private readonly lastRunning = new Map<string, { node: string; at: number }>();
  private readonly nowhereSince = new Map<string, number>();
  private readonly disagreeSince = new Map<string, number>();
  private readonly counters = new Map<string, { bootId: string; count: number; at: number }>();
  /** Longest stretch a container ran nowhere (a move's downtime, a recovery). */
  maxDownMs = 0;
  /** Work a counter lost (count went back, or it started afresh), in seconds, per event. */
  readonly lostSeconds: number[] = [];
  private stopped = false;
  private loops: Promise<void>[] = [];
  /** Counters that went back, judged once the recovery that may explain them is recorded. */
  private readonly judgements: Promise<void>[] = [];

  constructor(
    private readonly o: {
      api: ApiClient;
      /** Each PC's data directory, by id. */
      nodeDirs: Record<string, string>;
      userNamespace: string;
      counters: string[];
      /** Recoveries and restarts recorded since `since` (they explain a counter going back). */
      explained: (containerId: string, since: number) => boolean;
    },
  ) {}

  private violate(v: Omit<Violation, 'at'>): void {
    this.violations.push({ at: new Date().toISOString(), ...v });
  }

  /** Which containers runc runs on which PC right now. */
  async running(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    await Promise.all(
      Object.entries(this.o.nodeDirs).map(async ([node, dir]) => {
        const r = await execa('runc', ['--root', path.join(dir, 'runc'), 'list', '--format', 'json'], {
          reject: false,
        });
        if (r.exitCode !== 0 || !r.stdout.trim()) return;
        for (const c of (JSON.parse(r.stdout) as { id: string; status: string; pid: number }[] | null) ?? [])
          if (c.status === 'running' && !(await dyingProcess(c.pid))) out.set(c.id, [...(out.get(c.id) ?? []), node]);
      }),
    );
    return out;
  }

  start(): this {
    const every = (ms: number, fn: () => Promise<void>) =>
      (async () => {
        while (!this.stopped) {
          await fn().catch(() => undefined); // a check that could not be made (a restart under way) is made again
          await new Promise((r) => setTimeout(r, ms));
        }
      })();
    this.loops = [
      every(200, () => this.checkCopies()),
      every(1_000, () => this.checkAddresses()),
      every(2_000, () => this.checkDatabase()),
      every(1_000, () => this.checkCounters()),
    ];
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    await Promise.all(this.judgements);
  }

  private async checkCopies(): Promise<void> {
    const running = await this.running();
    const now = Date.now();
    for (const [id, nodes] of running) {
      if (nodes.length > 1) this.violate({ kind: 'two copies running', containerId: id, detail: nodes.join(', ') });
      const since = this.nowhereSince.get(id);
      if (since !== undefined) this.maxDownMs = Math.max(this.maxDownMs, now - since);
      this.nowhereSince.delete(id);
      this.lastRunning.set(id, { node: nodes[0]!, at: now });
    }
    for (const id of this.lastRunning.keys())
      if (!running.has(id) && !this.nowhereSince.has(id)) this.nowhereSince.set(id, now);
    this.looks++;
  }

  private async containers(): Promise<ContainerView[]> {
    return (await this.o.api.get<{ containers: ContainerView[] }>('/v1/containers')).containers;
  }

  private async checkAddresses(): Promise<void> {
    await Promise.all(
      (await this.containers()).map(async (c) => {
        if (!c.network) return;
        const r = await execa(
          'nsenter',
          [
            `--net=/run/netns/${this.o.userNamespace}`,
            'busybox',
            'arping',
            '-c',
            '1',
            '-w',
            '1',
            '-I',
            'eth0',
            c.network.address,
          ],
          { reject: false },
        );
        const answers = Number(/Received (\d+) response/.exec(r.stdout)?.[1] ?? 0);
        if (answers > 1)
          this.violate({
            kind: 'two copies answer the address',
            containerId: c.id,
            detail: `${c.network.address}: ${answers} answers`,
          });
      }),
    );
  }

  /** migration-api and runc agree, but for the moment a move or a recovery takes. */
  private async checkDatabase(): Promise<void> {
    const [containers, running] = await Promise.all([this.containers(), this.running()]);
    const now = Date.now();
    for (const c of containers) {
      if (c.state === 'migrating') {
        this.disagreeSince.delete(c.id);
        continue;
      }
      // The soak's programs never end by themselves: exited, lost or stopped for long is a container down.
      const where = running.get(c.id) ?? [];
      const agrees = c.state === 'running' && where.length === 1 && where[0] === c.nodeId;
      if (agrees) {
        this.disagreeSince.delete(c.id);
        continue;
      }
      const since = this.disagreeSince.get(c.id) ?? now;
      this.disagreeSince.set(c.id, since);
      if (now - since > GRACE_MS) {
        this.violate({
          kind: where.length ? 'database disagrees' : 'runs nowhere',
          containerId: c.id,
          detail: `migration-api: ${c.state} on ${c.nodeId}; runc: ${where.join(', ') || 'nowhere'} for ${Math.round((now - since) / 1000)} s`,
        });
        this.disagreeSince.set(c.id, now); // said once a grace period
      }
    }
  }

  private async checkCounters(): Promise<void> {
    const running = await this.running();
    for (const id of this.o.counters) {
      const node = running.get(id)?.[0];
      if (!node) continue;
      const text = await readFile(
        path.join(this.o.nodeDirs[node]!, 'store', 'containers', id, 'bundle', 'rootfs', 'data', 'counter'),
        'utf8',
      ).catch(() => null);
      if (!text) continue;
      const [bootId, count] = text.trim().split(' ');
      const now = { bootId: bootId!, count: Number(count), at: Date.now() };
      const before = this.counters.get(id);
      this.counters.set(id, now);
      if (!before) continue;
      const back = now.bootId !== before.bootId || now.count < before.count;
      if (!back) continue;
      // 10 counts a second: what it lost since the checkpoint it came back from (or all of it, afresh).
      const lost = (now.bootId === before.bootId ? before.count - now.count : before.count) / 10;
      this.lostSeconds.push(lost);
      // Judged a little later: the recovery that explains it is recorded once its restore has returned.
      const since = before.at - 5_000;
      const detail = `${before.bootId}:${before.count} -> ${now.bootId}:${now.count} with no recovery or restart recorded`;
      this.judgements.push(
        new Promise((r) => setTimeout(r, 30_000)).then(() => {
          if (!this.o.explained(id, since)) this.violate({ kind: 'counter went back', containerId: id, detail });
        }),
      );
    }
  }
}

/** A copy being killed is not a running copy (dying.ts says why runc lists it as running). */
async function dyingProcess(pid: number): Promise<boolean> {
  const [status, stat] = await Promise.all([
    readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''),
    readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''),
  ]);
  return isDying(status, stat);
}
