// The paper's kernel path from the README's own command (issue 27): guest PCs started as a user starts them,
// `npm run cluster -- start --nodes 1 --vm-nodes 2` with every default (the repository's data directory, ports,
// prefix, subnet, link rate, running schedules), take the kernel strategy, `cluster status` says so per PC, and a
// counter moved vm1 -> vm2 -> vm1 comes back with a differential dump (under 5 % of its full image on the wire).
// It takes the README's default data directory and ports: a cluster already running there is refused, not touched.
import execa from 'execa';
import { cpSync, existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../common/paths';
import { listNamespaces } from '../../infra/cluster/netns';
import type { ClusterStatus } from '../../infra/cluster/cluster';
import type { RoundTrip } from '../../infra/demo/round-trip';
import { processesMentioning } from '../helpers/cluster';

jest.setTimeout(900_000);

const DATA_DIR = path.join(REPO_ROOT, '.zanshin');
/** The environment of a user's shell: none of the project's settings (every default applies). */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ZANSHIN_')));
const cluster = (args: string[]) =>
  execa(process.execPath, [path.join(REPO_ROOT, 'dist', 'infra', 'cluster', 'cli.js'), ...args], {
    cwd: REPO_ROOT,
    env,
    extendEnv: false,
    all: true,
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dataDirWasThere = false;

beforeAll(async () => {
  if (existsSync(path.join(DATA_DIR, 'run', 'cluster.json')))
    throw new Error(
      `a cluster runs from ${DATA_DIR}: this test starts the README's own cluster there; stop it first ` +
        '(npm run cluster -- stop)',
    );
  dataDirWasThere = existsSync(DATA_DIR);
  const started = await cluster(['start', '--nodes', '1', '--vm-nodes', '2']).catch((err: execa.ExecaError) => err);
  if (started.exitCode !== 0) throw new Error(`cluster start failed:\n${started.all ?? ''}`);
}, 900_000);

afterAll(async () => {
  const stopped = await cluster(['stop']).catch((err: execa.ExecaError) => err);
  // The README's cluster leaves nothing behind: no process of its data dir, none of its namespaces.
  expect([stopped.exitCode, processesMentioning(DATA_DIR)]).toEqual([0, []]);
  expect((await listNamespaces()).filter((ns) => /^zsc?-/.test(ns))).toEqual([]);
  // The logs (guests' consoles included) outlive the cluster, for a failure's story.
  const kept = path.join(os.tmpdir(), 'zanshin-test-logs', 'readme-cluster');
  rmSync(kept, { recursive: true, force: true });
  if (existsSync(path.join(DATA_DIR, 'logs'))) cpSync(path.join(DATA_DIR, 'logs'), kept, { recursive: true });
  if (!dataDirWasThere) rmSync(DATA_DIR, { recursive: true, force: true });
}, 300_000);

it("gives guest PCs the kernel strategy, and `cluster status` shows each PC's strategy", async () => {
  // A guest's first report comes once its worker runs (under emulation, up to a minute after it polls).
  let status: ClusterStatus | undefined;
  for (let i = 0; i < 60; i++) {
    status = JSON.parse((await cluster(['status', '--json'])).stdout) as ClusterStatus;
    if (status.pcs.every((p) => p.strategy !== null)) break;
    await sleep(2_000);
  }
  expect(status!.pcs.map((p) => [p.id, p.kind, p.strategy])).toEqual([
    ['pc1', 'pc', 'content'],
    ['vm1', 'vm', 'kernel'],
    ['vm2', 'vm', 'kernel'],
  ]);
  const text = await cluster(['status']);
  expect(text.stdout).toContain('dump strategy per PC: pc1 content, vm1 kernel, vm2 kernel');
});

it('moves a counter vm1 -> vm2 -> vm1 on the kernel path, the return under 5 % of the full image', async () => {
  // 5 dirtied pages a second (the default is 20): under emulation a round trip takes minutes, and the return's
  // delta grows with the time since the restore on vm2, not with what the kernel path does.
  const run = await cluster(['roundtrip', '--from', 'vm1', '--to', 'vm2', '--dirty', '5', '--json']);
  const { there, back } = JSON.parse(run.stdout) as RoundTrip;
  console.log(
    `README cluster, counter 64 MiB, 5 pages/s: vm1 -> vm2 ${there.strategy}, ${there.wireBytes} B of ${there.fullBytes}; ` +
      `vm2 -> vm1 ${back.strategy}, ${back.wireBytes} B of ${back.fullBytes}, downtime ${back.downtimeMs} ms, ` +
      `remnant on vm1 ${back.targetHadRemnant}` +
      (back.checkpoint.fallback ? `, kernel dump failed: ${back.checkpoint.fallback}` : ''),
  );
  // A move that left the kernel path says why in the cluster's log (the PCs' consoles are kept, see afterAll).
  if (back.strategy !== 'kernel') console.log(`roundtrip's own log:\n${run.stderr}`);
  expect([there.strategy, back.strategy]).toEqual(['kernel', 'kernel']);
  expect(back.targetHadRemnant).toBe(true);
  expect(back.checkpoint.meta.parent).toBeDefined(); // a differential dump, not a full one
  expect(back.wireBytes).toBeLessThan(0.05 * back.fullBytes);
});
