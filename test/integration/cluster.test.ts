// The local cluster launcher, for real: PostgreSQL, Temporal dev server, migration-api, workers, namespaces.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../common/paths';
import { hasSysResource } from '../../domain/container-user';
import { ClusterConfig } from '../../infra/cluster/config';
import { clusterStatus, startCluster, stopCluster } from '../../infra/cluster/cluster';
import { listNamespaces } from '../../infra/cluster/netns';
import { planCluster } from '../../infra/cluster/plan';
import { isRunning, ProcessRecord } from '../../infra/cluster/processes';
import { probeNodes } from '../../infra/cluster/probe';
import { readState } from '../../infra/cluster/state';
import { clusterTemporal, withTemporalClient } from '../../infra/cluster/temporal-client';
import { processesMentioning, testClusterConfig } from '../helpers/cluster';
import { TEST_PREFIX } from '../helpers/names';

const testConfig = (overrides: Partial<ClusterConfig> = {}) =>
  testClusterConfig('10.79.0', { linkRate: '100mbit', ...overrides });

const quiet = () => undefined;

describe('local cluster', () => {
  let config: ClusterConfig;
  let started: ProcessRecord[] = [];

  beforeAll(async () => {
    config = await testConfig();
    await startCluster(config, quiet);
    started = readState(planCluster(config).paths.state)!.processes;
  });

  afterAll(async () => {
    await stopCluster(config, quiet).catch(() => undefined);
    rmSync(config.dataDir, { recursive: true, force: true });
  });

  it('comes up with every part healthy', async () => {
    const status = await clusterStatus(config);
    expect(status.parts.filter((p) => !p.up)).toEqual([]);
    expect(status.running).toBe(true);
    expect(started.map((p) => p.name)).toEqual(
      expect.arrayContaining([
        'postgres',
        'temporal',
        'migration-api',
        'control-worker',
        'pc1/node-worker',
        'pc2/node-worker',
      ]),
    );
  });

  it('runs probeNode through Temporal on each PC, inside its own namespace with its own address', async () => {
    const results = await withTemporalClient(clusterTemporal(config), (client) => probeNodes(client, ['pc1', 'pc2']));
    expect(results.map((r) => [r.nodeId, r.error, r.description?.networkNamespace, r.description?.addresses])).toEqual([
      ['pc1', undefined, `${TEST_PREFIX}-pc1`, ['10.79.0.11']],
      ['pc2', undefined, `${TEST_PREFIX}-pc2`, ['10.79.0.12']],
    ]);
  });

  it('has every PC report its load, CPU features and capabilities to migration-api', async () => {
    const token = readFileSync(`${planCluster(config).paths.secrets}/admin-token`, 'utf8').trim();
    const res = await fetch(`http://127.0.0.1:${config.apiPort}/v1/nodes`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const { nodes } = (await res.json()) as {
      nodes: {
        id: string;
        address: string;
        cpuFlags: string[];
        dirtyTracking: boolean;
        criuVersion: string;
        cpu: number;
      }[];
    };
    expect(nodes.map((n) => [n.id, n.address])).toEqual([
      ['pc1', '10.79.0.11:7070'],
      ['pc2', '10.79.0.12:7070'],
    ]);
    for (const n of nodes) {
      expect(n.cpuFlags.length).toBeGreaterThan(5);
      expect(n.criuVersion).toMatch(/^4\./);
      expect(n.cpu).toBeGreaterThanOrEqual(0);
    }
  });

  it('creates its schedules (paused here) and one lifecycle workflow per PC', async () => {
    await withTemporalClient(clusterTemporal(config), async (client) => {
      for (const id of [
        'zanshin-rebalance',
        'zanshin-lecture-evacuation',
        'zanshin-safety-checkpoints',
        'zanshin-crash-recovery',
        'zanshin-remnant-gc',
      ]) {
        const d = await client.schedule.getHandle(id).describe();
        expect([id, d.state.paused]).toEqual([id, true]);
      }
      for (const pc of ['pc1', 'pc2'])
        expect((await client.workflow.getHandle(`node-${pc}`).describe()).status.name).toBe('RUNNING');
    });
  });

  it('shapes each PC link with tbf at the configured rate', async () => {
    const { execa } = await import('execa').then((m) => ({ execa: m.default }));
    const { stdout } = await execa('tc', ['-n', `${TEST_PREFIX}-pc1`, 'qdisc', 'show', 'dev', 'eth0']);
    expect(stdout).toMatch(/tbf .*rate 100Mbit/);
  });

  it('answers `zanshin status` and `zanshin doctor` run by name from any directory (issue 26)', async () => {
    const { execa } = await import('execa').then((m) => ({ execa: m.default }));
    // The command provisioning put on PATH is this checkout's build.
    const { stdout: found } = await execa('sh', ['-c', 'readlink -f "$(command -v zanshin)"']);
    expect(found).toBe(path.join(REPO_ROOT, 'dist', 'cli', 'zanshin.js'));
    const env = {
      ZANSHIN_API_URL: `http://127.0.0.1:${config.apiPort}`,
      ZANSHIN_ADMIN_TOKEN_FILE: `${planCluster(config).paths.secrets}/admin-token`,
    };
    const help = await execa('zanshin', ['--help'], { cwd: '/tmp', env });
    expect(help.stdout).toMatch(/status/);
    const status = JSON.parse((await execa('zanshin', ['status', '--json'], { cwd: '/tmp', env })).stdout) as {
      pcs: { total: number; reporting: number };
    };
    expect(status.pcs).toMatchObject({ total: 2, reporting: 2 });
    const doctor = JSON.parse((await execa('zanshin', ['doctor', '--json'], { cwd: '/tmp', env })).stdout) as {
      id: string;
      strategy: string;
      criuVersion: string;
      checkpointsOtherUsers: boolean;
      linkRateBps: number;
      diskFreeBytes: number;
    }[];
    // What this machine can do, as this test process sees it (the workers run as root beside it).
    const otherUsers = hasSysResource(readFileSync('/proc/self/status', 'utf8'));
    const dirty = (await execa(config.criuBin, ['check', '--feature', 'mem_dirty_track'], { reject: false })).exitCode;
    const strategy = dirty === 0 ? 'kernel' : 'content';
    expect(doctor.map((d) => [d.id, d.strategy, d.checkpointsOtherUsers, d.linkRateBps])).toEqual([
      ['pc1', strategy, otherUsers, 100e6],
      ['pc2', strategy, otherUsers, 100e6],
    ]);
    for (const d of doctor) {
      expect(d.criuVersion).toMatch(/^4\./);
      expect(d.diskFreeBytes).toBeGreaterThan(0);
    }
  });

  it('leaves a running cluster as it is when started again', async () => {
    const lines: string[] = [];
    await startCluster(config, (l) => lines.push(l));
    expect(lines).toEqual(['cluster already running']);
    expect(readState(planCluster(config).paths.state)!.processes).toEqual(started);
  });

  it('shows a PC whose worker died as down', async () => {
    const worker = started.find((p) => p.name === 'pc2/node-worker')!;
    process.kill(worker.pid, 'SIGKILL');
    while (isRunning(worker)) await new Promise((r) => setTimeout(r, 50));
    const status = await clusterStatus(config);
    expect(status.running).toBe(false);
    expect(status.parts.find((p) => p.part === 'pc2/node-worker')).toMatchObject({ up: false });
    expect(status.parts.find((p) => p.part === 'pc1/node-worker')).toMatchObject({ up: true });
  });

  it('stops exactly what it started: no process, namespace or state left', async () => {
    await stopCluster(config, quiet);
    expect(started.filter(isRunning).map((p) => p.name)).toEqual([]);
    expect(processesMentioning(config.dataDir)).toEqual([]);
    const namespaces = await listNamespaces();
    expect(namespaces.filter((ns) => ns.startsWith(`${TEST_PREFIX}-`))).toEqual([]);
    expect(existsSync(planCluster(config).paths.state)).toBe(false);
    expect((await clusterStatus(config)).running).toBe(false);
  });
});

describe('local cluster start failure', () => {
  it('names the part that failed and stops everything it had started', async () => {
    const config = await testConfig({ temporalBin: '/bin/false' });
    try {
      await expect(startCluster(config, quiet)).rejects.toThrow(/temporal exited (at once|during start)/);
      expect(processesMentioning(config.dataDir)).toEqual([]);
      expect((await listNamespaces()).filter((ns) => ns.startsWith(`${TEST_PREFIX}-`))).toEqual([]);
      expect(existsSync(planCluster(config).paths.state)).toBe(false);
    } finally {
      await stopCluster(config, quiet).catch(() => undefined);
      rmSync(config.dataDir, { recursive: true, force: true });
    }
  });
});
