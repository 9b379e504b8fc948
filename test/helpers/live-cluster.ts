import { Client, Connection } from '@temporalio/client';
import execa from 'execa';
import { cpSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClusterConfig } from '../../infra/cluster/config';
import { startCluster, stopCluster } from '../../infra/cluster/cluster';
import { powerOffPc, powerOnPc } from '../../infra/cluster/power';
import { planCluster } from '../../infra/cluster/plan';
import { isRunning } from '../../infra/cluster/processes';
import { readState } from '../../infra/cluster/state';
import { testClusterConfig } from './cluster';
import { clusterClient, clusterTemporal, connectTemporal } from '../../infra/cluster/temporal-client';
import { CONTROL_TASK_QUEUE, migrationWorkflowId } from '../../common/names';
import type { migrateContainer } from '../../workflows';
import type { MigrationResult } from '../../workflows/migrate-container';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads until `ok` holds (every 0.5 s), failing after `ms` with what was last seen. */
export async function until<T>(
  what: string,
  read: () => Promise<T> | T,
  ok: (v: T) => boolean,
  ms: number,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen ${JSON.stringify(v)}`);
    await sleep(500);
  }
}

/** A real cluster for one test file, with the checks such tests need: where a container runs, its counter, PCs dying. */
export class LiveCluster {
  config!: ClusterConfig;
  client!: Client;
  private connection!: Connection;
  nodeDirs: Record<string, string> = {};
  private containers = new Set<string>();

  async start(subnet: string, nodes: number, overrides: Partial<ClusterConfig> = {}): Promise<void> {
    this.config = await testClusterConfig(subnet, overrides, nodes);
    await startCluster(this.config, () => undefined);
    this.nodeDirs = Object.fromEntries(planCluster(this.config).nodes.map((n) => [n.id, n.dataDir]));
    this.connection = await connectTemporal(clusterTemporal(this.config));
    this.client = clusterClient(this.connection, clusterTemporal(this.config));
  }

  /** Stops everything, after removing the containers the tests touched from every PC. */
  async stop(): Promise<void> {
    for (const dir of Object.values(this.nodeDirs)) {
      for (const id of this.containers)
        await execa('runc', ['--root', path.join(dir, 'runc'), 'delete', '--force', id], { reject: false });
    }
    await this.connection?.close();
    if (this.config) {
      await stopCluster(this.config, () => undefined);
      // The processes' logs (guests' consoles included) outlive the cluster, one copy per subnet, for a failure's story.
      const kept = path.join(os.tmpdir(), 'zanshin-test-logs', this.config.lanSubnet);
      rmSync(kept, { recursive: true, force: true });
      cpSync(planCluster(this.config).paths.logs, kept, { recursive: true });
      rmSync(this.config.dataDir, { recursive: true, force: true });
    }
  }

  /** Lines of the cluster's logs (guests' consoles included) from each line matching `pattern`, `after` more with it. */
  logLines(pattern: RegExp, after = 40): string[] {
    const dir = planCluster(this.config).paths.logs;
    const found: string[] = [];
    for (const file of readdirSync(dir)) {
      const lines = readFileSync(path.join(dir, file), 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (pattern.test(line)) found.push(`${file}:`, ...lines.slice(i, i + after + 1));
      });
    }
    return found;
  }

  /** Migrates a container as users do (migrateContainer, under its migration lock), to `to`. */
  migrate(containerId: string, to: string): Promise<MigrationResult> {
    return this.client.workflow.execute<typeof migrateContainer>('migrateContainer', {
      taskQueue: CONTROL_TASK_QUEUE,
      workflowId: migrationWorkflowId(containerId),
      args: [{ containerId, to, reason: 'test' }],
    });
  }

  /** The PCs whose own runc says the container is running. */
  async runningOn(id: string): Promise<string[]> {
    this.containers.add(id);
    const on: string[] = [];
    for (const [node, dir] of Object.entries(this.nodeDirs)) {
      const r = await execa('runc', ['--root', path.join(dir, 'runc'), 'state', id], { reject: false });
      if (r.exitCode === 0 && (JSON.parse(r.stdout) as { status: string }).status === 'running') on.push(node);
    }
    return on;
  }

  /** What the counter workload last wrote into its rootfs on a PC. */
  counter(node: string, id: string): { bootId: string; count: number } {
    const [bootId, count] = readFileSync(
      path.join(this.nodeDirs[node]!, 'store', 'containers', id, 'bundle', 'rootfs', 'data', 'counter'),
      'utf8',
    )
      .trim()
      .split(' ');
    return { bootId: bootId!, count: Number(count) };
  }

  /** SIGKILLs a PC's node worker, as a PC switched off would leave it. */
  async killWorker(node: string): Promise<void> {
    const worker = readState(planCluster(this.config).paths.state)!.processes.find(
      (p) => p.name === `${node}/node-worker`,
    )!;
    process.kill(worker.pid, 'SIGKILL');
    while (isRunning(worker)) await sleep(20);
  }

  /** A PC switched off at the wall (infra/cluster/power.ts). */
  powerOff(node: string): Promise<void> {
    return powerOffPc(this.config, node);
  }

  /** Switches a PC powered off by powerOff() on again. */
  powerOn(node: string): Promise<void> {
    return powerOnPc(this.config, node);
  }

  /** The PID of a PC's process (`node-worker`, `fence`, ...), as the launcher recorded it. */
  pidOf(node: string, process: string): number {
    const rec = readState(planCluster(this.config).paths.state)!.processes.find((p) => p.name === `${node}/${process}`);
    if (!rec) throw new Error(`no process ${node}/${process} in the cluster`);
    return rec.pid;
  }

  /**
   * Cuts a PC off: its LAN link goes down and its way to Temporal and migration-api (the relays inside its namespace)
   * drops every packet. Its processes and containers keep running, as on a PC whose cable was pulled.
   */
  async cut(node: string): Promise<void> {
    const ns = planCluster(this.config).nodes.find((n) => n.id === node)!.namespace;
    await execa('ip', ['-n', ns, 'link', 'set', 'eth0', 'down']);
    await execa('nsenter', [`--net=/run/netns/${ns}`, 'iptables', '-w', ...this.cutRule('-I')]);
  }

  /** Undoes cut(). */
  async reconnect(node: string): Promise<void> {
    const ns = planCluster(this.config).nodes.find((n) => n.id === node)!.namespace;
    await execa('nsenter', [`--net=/run/netns/${ns}`, 'iptables', '-w', ...this.cutRule('-D')], { reject: false });
    await execa('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  }

  private cutRule(op: '-I' | '-D'): string[] {
    const ports = `${this.config.temporalPort},${this.config.apiPort}`;
    return [op, 'OUTPUT', '-o', 'lo', '-p', 'tcp', '-m', 'multiport', '--dports', ports, '-j', 'DROP'];
  }

  /** runc's status of a container on every PC that knows it (running, paused, ...). */
  async statusOn(id: string): Promise<Record<string, string>> {
    this.containers.add(id);
    const out: Record<string, string> = {};
    for (const [node, dir] of Object.entries(this.nodeDirs)) {
      const r = await execa('runc', ['--root', path.join(dir, 'runc'), 'state', id], { reject: false });
      if (r.exitCode === 0) out[node] = (JSON.parse(r.stdout) as { status: string }).status;
    }
    return out;
  }

  /** migration-api as the administrator, or as the holder of `asToken` (an owner). */
  async api(
    method: string,
    route: string,
    body?: unknown,
    asToken?: string,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const token =
      asToken ?? readFileSync(path.join(planCluster(this.config).paths.secrets, 'admin-token'), 'utf8').trim();
    const res = await fetch(`http://127.0.0.1:${this.config.apiPort}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  }

  /** Waits until a running workflow's progress query lists the step. */
  async waitForStep(workflowId: string, step: string): Promise<void> {
    const handle = this.client.workflow.getHandle(workflowId);
    for (;;) {
      const progress = await handle.query<{ steps: { step: string }[] }>('progress');
      if (progress.steps.some((s) => s.step === step)) return;
      await sleep(50);
    }
  }
}
