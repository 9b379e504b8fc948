// The launcher as a user meets it (issue 26): status and stop look at the cluster that runs from the data directory,
// not at the environment; a stop removes its own namespaces (guest PCs' too) and never another running cluster's;
// a data directory is left usable by PostgreSQL whatever created it first. Real namespaces, no processes.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterStatus, stopCluster } from '../../infra/cluster/cluster';
import { ClusterConfig, clusterConfig } from '../../infra/cluster/config';
import { claimNamespaces, ownerOf } from '../../infra/cluster/netns-owners';
import { listNamespaces } from '../../infra/cluster/netns';
import { planCluster, plannedNamespaces } from '../../infra/cluster/plan';
import { ensureDataDir } from '../../infra/cluster/private-dir';
import { ensureClusterSecrets } from '../../infra/cluster/secrets';
import { writeState } from '../../infra/cluster/state';
import { freePorts } from '../../infra/cluster/wait';
import { scratchExecutor } from '../helpers/executor';

const PREFIX = 'zq'; // the tests' own namespaces: zq-*, zqc-*
let tmp: string;
let ports: Record<string, string>;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-cluster-stop-'));
  process.env.ZANSHIN_NETNS_OWNERS_DIR = path.join(tmp, 'owners');
  // Ports nothing listens on: status finds the API and Temporal down at once.
  const [a, b, c, d, e, f] = await freePorts(6);
  ports = {
    ZANSHIN_TEMPORAL_PORT: String(a),
    ZANSHIN_TEMPORAL_UI_PORT: String(b),
    ZANSHIN_TEMPORAL_GATE_PORT: String(c),
    ZANSHIN_CODEC_PORT: String(d),
    ZANSHIN_API_PORT: String(e),
    ZANSHIN_PG_PORT: String(f),
  };
});

afterAll(async () => {
  for (const ns of (await listNamespaces()).filter((n) => n.startsWith(`${PREFIX}-`) || n.startsWith(`${PREFIX}c-`)))
    execFileSync('ip', ['netns', 'delete', ns]);
  delete process.env.ZANSHIN_NETNS_OWNERS_DIR;
  rmSync(tmp, { recursive: true, force: true });
});

const config = (dataDir: string, env: Record<string, string> = {}): ClusterConfig =>
  clusterConfig({ ZANSHIN_DATA_DIR: dataDir, ZANSHIN_NS_PREFIX: PREFIX, ...ports, ...env });

/** A cluster "running" as `started` says: its state file and its namespaces, as a start leaves them. */
function fakeRunning(started: ClusterConfig, extra: string[] = []): string[] {
  const plan = planCluster(started);
  const namespaces = plannedNamespaces(plan);
  writeState(plan.paths.state, {
    version: 1,
    startedAt: new Date().toISOString(),
    config: started,
    processes: [],
    namespaces,
  });
  claimNamespaces(namespaces, plan.paths.state);
  for (const ns of [...namespaces, ...extra]) execFileSync('ip', ['netns', 'add', ns]);
  return [...namespaces, ...extra];
}

it("status and stop take the PCs from the running cluster's state, guest PCs included, not from the environment", async () => {
  const dataDir = path.join(tmp, 'a');
  const started = config(dataDir, { ZANSHIN_NODES: '12', ZANSHIN_VM_NODES: '2' });
  const made = fakeRunning(started, [`${PREFIX}c-pc3-web1`]);
  const now = config(dataDir); // the environment says 3 PCs, no guests
  const status = await clusterStatus(now);
  const queues = status.parts.filter((p) => p.part.includes('task queue')).map((p) => p.part.split(' ')[0]);
  expect(queues).toEqual([...Array.from({ length: 12 }, (_, i) => `pc${i + 1}`), 'vm1', 'vm2']);
  expect(status.running).toBe(false);

  await stopCluster(now, () => undefined);
  const left = new Set(await listNamespaces());
  expect(made.filter((ns) => left.has(ns))).toEqual([]); // zq-vm1, zq-vm2 and the container's too
  expect(made.map(ownerOf)).toEqual(made.map(() => null));
});

it("a stop from another data directory leaves a running cluster's namespaces alone, and removes its own leftovers", async () => {
  const running = path.join(tmp, 'running');
  const made = fakeRunning(config(running, { ZANSHIN_NODES: '2' }), [`${PREFIX}c-pc1-db`]);
  const other = path.join(tmp, 'other');
  const logged: string[] = [];
  await stopCluster(config(other, { ZANSHIN_NODES: '2' }), (l) => logged.push(l));
  const left = new Set(await listNamespaces());
  expect(made.filter((ns) => !left.has(ns))).toEqual([]);
  expect(logged.join('\n')).toMatch(new RegExp(`belongs to the cluster running from ${running}`));

  // Once that cluster is gone (its state removed without a stop), its namespaces are anyone's leftovers.
  rmSync(planCluster(config(running)).paths.state);
  await stopCluster(config(other, { ZANSHIN_NODES: '2' }), () => undefined);
  const after = new Set(await listNamespaces());
  expect(made.filter((ns) => after.has(ns))).toEqual([]);
});

it('leaves the data directory traversable for PostgreSQL, whatever created it first', async () => {
  const fresh = path.join(tmp, 'fresh');
  ensureClusterSecrets(path.join(fresh, 'secrets')); // what `cluster status` does first, on a never-started cluster
  await scratchExecutor(path.join(tmp, 'fresh2', 'nodes', 'pc1')).secureDataDir();
  const mode = (p: string) => statSync(p).mode & 0o777;
  expect([mode(fresh), mode(path.join(fresh, 'secrets'))]).toEqual([0o755, 0o700]);
  expect([mode(path.join(tmp, 'fresh2')), mode(path.join(tmp, 'fresh2', 'nodes', 'pc1'))]).toEqual([0o755, 0o700]);
  // One an earlier version left 0700 gets its search bits back at the next start.
  const locked = path.join(tmp, 'locked');
  mkdirSync(locked, { mode: 0o700 });
  ensureDataDir(locked);
  expect(mode(locked)).toBe(0o711);
});
