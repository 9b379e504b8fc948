// The soak's faults (schedule.ts names them), done and undone on the soak's own cluster.
import type { Client } from '@temporalio/client';
import execa from 'execa';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ApiClient } from '../../cli/api-client';
import { migrationWorkflowId } from '../../common/names';
import { RemnantStore } from '../../node/store';
import { restartPart } from '../cluster/cluster';
import { powerOffPc, powerOnPc } from '../cluster/power';
import type { ClusterConfig } from '../cluster/config';
import type { ClusterPlan } from '../cluster/plan';
import { readState } from '../cluster/state';
import type { LoopDisks } from './disks';
import type { Observer } from './observer';
import type { PlannedFault } from './schedule';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FaultContext {
  config: ClusterConfig;
  plan: ClusterPlan;
  nodeIds: string[];
  nodeDirs: Record<string, string>;
  api: ApiClient;
  client: Client;
  disks: LoopDisks;
  observer: Observer;
  rnd: () => number;
  /** Starts a migration the soak counts (and awaits it). */
  migrate: (containerId: string, to: string) => Promise<void>;
  /** Containers being moved right now. */
  inFlight: Set<string>;
  /** PCs hurt right now (not chosen as targets): faults add and remove theirs. */
  faulted: Set<string>;
  /** Faults in effect, by key: how to undo each. */
  undo: Map<string, () => Promise<void>>;
  /** "<pc>/<container>/<generation>" the soak damaged itself (left out of the final check). */
  damaged: Set<string>;
  log: (line: string) => void;
}

/** Does one planned fault; the lasting ones leave their undo in `ctx.undo`. */
export function faultInjector(ctx: FaultContext): (f: PlannedFault) => Promise<void> {
  const {
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
  } = ctx;
  const pick = <T>(list: T[]): T => list[Math.floor(rnd() * list.length)]!;
  const worker = (pc: string) => `${pc}/node-worker`;
  const pidOf = (name: string) => readState(plan.paths.state)!.processes.find((p) => p.name === name)!.pid;
  const signal = (name: string, sig: NodeJS.Signals) => {
    try {
      process.kill(pidOf(name), sig);
    } catch {
      /* gone already */
    }
  };
  const cutRule = (op: '-I' | '-D') => [
    'iptables',
    '-w',
    op,
    'OUTPUT',
    '-o',
    'lo',
    '-p',
    'tcp',
    '-m',
    'multiport',
    '--dports',
    `${config.temporalPort},${config.apiPort}`,
    '-j',
    'DROP',
  ];
  const nsOf = (pc: string) => plan.nodes.find((n) => n.id === pc)!.namespace;
  const inject = async (f: PlannedFault): Promise<void> => {
    const pc = nodeIds[f.pc]!;
    const hurt = (key: string, fn: () => Promise<void>) => {
      faulted.add(pc);
      undo.set(key, async () => {
        await fn();
        faulted.delete(pc);
        undo.delete(key);
      });
    };
    const restart = (name: string) => restartPart(config, name, () => undefined);
    switch (f.kind) {
      case 'kill-worker-mid-migration': {
        const { containers } = await api.get<{ containers: { id: string; state: string; nodeId: string }[] }>(
          '/v1/containers',
        );
        const c = containers.find((x) => x.state === 'running' && !inFlight.has(x.id));
        if (!c) return;
        const to = pick(nodeIds.filter((n) => n !== c.nodeId && !faulted.has(n)));
        const moving = migrate(c.id, to);
        await sleep(500 + rnd() * 5_000); // somewhere in its steps
        const victim = rnd() < 0.5 ? c.nodeId : to;
        const progress = await client.workflow
          .getHandle(migrationWorkflowId(c.id))
          .query<{ steps: { step: string }[] }>('progress')
          .catch(() => null);
        signal(worker(victim), 'SIGKILL');
        const step = progress?.steps.at(-1)?.step ?? 'its first step';
        log(`killed ${victim}'s worker while ${c.id} moved ${c.nodeId} -> ${to}, after ${step}`);
        await sleep(8_000);
        await restart(worker(victim));
        await moving;
        return;
      }
      case 'stop-worker':
        signal(worker(pc), 'SIGSTOP');
        hurt(`stop-${pc}`, () => Promise.resolve(signal(worker(pc), 'SIGCONT')));
        return;
      case 'partition-short':
      case 'partition-long':
        await execa('ip', ['-n', nsOf(pc), 'link', 'set', 'eth0', 'down']);
        await execa('nsenter', [`--net=/run/netns/${nsOf(pc)}`, ...cutRule('-I')]);
        hurt(`cut-${pc}`, async () => {
          await execa('nsenter', [`--net=/run/netns/${nsOf(pc)}`, ...cutRule('-D')], { reject: false });
          await execa('ip', ['-n', nsOf(pc), 'link', 'set', 'eth0', 'up']);
        });
        return;
      case 'power-off': {
        // Everything of the PC at once: worker, fence, containers, and the containers' namespaces with them.
        await powerOffPc(config, pc);
        hurt(`power-${pc}`, () => powerOnPc(config, pc));
        return;
      }
      case 'restart-temporal':
        return void (await restart('temporal'));
      case 'restart-postgres':
        return void (await restart('postgres'));
      case 'restart-api':
        return void (await restart('migration-api'));
      case 'restart-control-worker':
        return void (await restart('control-worker'));
      case 'disk-full': {
        // The PC's disk full, and a container sent there meanwhile: the move must fail cleanly, the container stay.
        const filler = await disks.fill(nodeDirs[pc]!);
        undo.set(`disk-${pc}`, async () => {
          await execa('rm', ['-f', filler]);
          undo.delete(`disk-${pc}`);
        });
        const { containers } = await api.get<{ containers: { id: string; state: string; nodeId: string }[] }>(
          '/v1/containers',
        );
        const c = containers.find((x) => x.state === 'running' && x.nodeId !== pc && !inFlight.has(x.id));
        if (c) {
          log(`sending ${c.id} to ${pc}, whose disk is full`);
          void migrate(c.id, pc);
        }
        return;
      }
      case 'corrupt-checkpoint': {
        // A byte flipped in a pages file of a generation a PC holds of a container it does not run.
        const store = new RemnantStore(path.join(nodeDirs[pc]!, 'store'));
        const running = await observer.running();
        for (const id of await store.containers()) {
          if (running.get(id)?.includes(pc)) continue;
          const gens = await store.generations(id);
          if (!gens.length) continue;
          const g = pick(gens);
          const dir = store.imageDir(id, g);
          const pages = (await readdir(dir)).find((n) => /^pages-\d+\.img$/.test(n));
          if (!pages) continue;
          const file = path.join(dir, pages);
          const buf = await readFile(file);
          if (!buf.length) continue;
          const at = Math.floor(rnd() * buf.length);
          buf[at] = buf[at]! ^ 0xff;
          await writeFile(file, buf);
          damaged.add(`${pc}/${id}/${g}`);
          log(`flipped byte ${at} of ${id} generation ${g} on ${pc}`);
          return;
        }
        return;
      }
    }
  };

  return inject;
}
