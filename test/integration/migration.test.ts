// A real container moves pc1 -> pc2 -> pc1 on the local cluster: runc, CRIU, Temporal, the data plane.
import type { Client } from '@temporalio/client';
import execa from 'execa';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { CONTROL_TASK_QUEUE } from '../../common/names';
import { ClusterConfig } from '../../infra/cluster/config';
import { planCluster } from '../../infra/cluster/plan';
import { payloadKeyFile } from '../../infra/cluster/secrets';
import { dist } from '../../infra/cluster/cluster';
import { REPO_ROOT as REPO_ROOT_FOR_TEST } from '../../common/paths';
import { inNamespace } from '../../infra/cluster/relays';
import { ensureCounterRootfs } from '../../infra/images/counter';
import { TransferRegistry } from '../../node/dataplane/transfers';
import { RemnantStore } from '../../node/store';
import type { MigrationRow } from '../../state/migrations';
import type {
  createContainer,
  evacuateForLecture,
  lectureEvacuations,
  moveContainer,
  recoverCrashedNodes,
  safetyCheckpoint,
} from '../../workflows';
import { moveReportOf, MoveReport } from '../../domain/reports';
import { LiveCluster, sleep } from '../helpers/live-cluster';
import { TEST_PREFIX } from '../helpers/names';

const CONTAINER = `${TEST_PREFIX}-counter`;
const API_CONTAINER = `${TEST_PREFIX}-api`;
const cluster = new LiveCluster();
let config: ClusterConfig;
let client: Client;
let nodeDirs: Record<string, string>;

/** Which nodes run a container now, read from each node's own runc state. */
const runningOn = () => cluster.runningOn(CONTAINER);
const runningOnFor = (id: string) => cluster.runningOn(id);
const counter = (node: string) => cluster.counter(node, CONTAINER);
const counterOf = (node: string, id: string) => cluster.counter(node, id);

/** Samples placement all along, each sample stamped with the time it was taken. */
class PlacementSampler {
  samples: { at: number; on: string[] }[] = [];
  private stopped = false;
  private loop: Promise<void> | null = null;
  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const at = Date.now();
        this.samples.push({ at, on: await runningOn() });
        await sleep(50);
      }
    })();
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

beforeAll(async () => {
  // This file's containers are small: have them restored lazily anyway, so the real lazy-pages path runs here.
  process.env.ZANSHIN_LAZY_RESTORE_MIN_MIB = '0';
  try {
    await cluster.start('10.80.0', 2);
  } finally {
    delete process.env.ZANSHIN_LAZY_RESTORE_MIN_MIB;
  }
  ({ config, client, nodeDirs } = cluster);
}, 180_000);

// Stops the cluster after removing every container the tests looked for from every PC.
afterAll(() => cluster.stop());

const moveIds: string[] = [];
/** When each move ran, as the test saw it: the only times the container may run nowhere. */
const moveWindows: { start: number; end: number }[] = [];

async function move(from: string, to: string): Promise<MoveReport> {
  const workflowId = `${CONTAINER}-move-${from}-${to}-${Date.now()}`;
  moveIds.push(workflowId);
  const start = Date.now();
  try {
    return await client.workflow.execute<typeof moveContainer>('moveContainer', {
      taskQueue: CONTROL_TASK_QUEUE,
      workflowId,
      args: [{ containerId: CONTAINER, from, to }],
    });
  } finally {
    moveWindows.push({ start, end: Date.now() });
  }
}

/** Activity attempts beyond the first, per workflow: a healthy move needs none. */
async function retries(workflowId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? [])
    .filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1)
    .map((e) => e.activityTaskStartedEventAttributes?.lastFailure?.message ?? 'retry');
}

describe('container migration with remnants', () => {
  it('moves a running counter pc1 -> pc2 -> pc1: it keeps counting, runs on one node at a time, and the way back ships little', async () => {
    const rootfs = await ensureCounterRootfs();
    const created = await client.workflow.execute<typeof createContainer>('createContainer', {
      taskQueue: CONTROL_TASK_QUEUE,
      workflowId: `${CONTAINER}-create`,
      args: [
        {
          nodeId: 'pc1',
          containerId: CONTAINER,
          rootfs: { dir: rootfs },
          args: ['/bin/counter'],
          env: ['MIB=64', 'DIRTY_PAGES_PER_SEC=20'],
          memoryMiB: 96,
        },
      ],
    });
    expect(created.status).toBe('running');
    await sleep(1500);
    const start = counter('pc1');
    expect(start.count).toBeGreaterThan(5);
    expect(await runningOn()).toEqual(['pc1']);

    const sampler = new PlacementSampler();
    sampler.start();
    const there = await move('pc1', 'pc2');
    await sleep(1000);
    expect(await runningOn()).toEqual(['pc2']);
    const onPc2 = counter('pc2');
    expect(onPc2.bootId).toBe(start.bootId); // the same process, not a restart
    expect(onPc2.count).toBeGreaterThan(start.count);
    expect(there.targetHadRemnant).toBe(false);

    await sleep(2000);
    const back = await move('pc2', 'pc1');
    await sleep(1000);
    await sampler.stop();
    expect(await runningOn()).toEqual(['pc1']);
    const home = counter('pc1');
    expect(home.bootId).toBe(start.bootId);
    expect(home.count).toBeGreaterThan(onPc2.count);

    // Each step succeeded at its first attempt (a live rootfs changing under the sync must not fail it).
    for (const id of moveIds) expect(await retries(id)).toEqual([]);
    // Never on two nodes at once, at any sample; on exactly one at every sample outside a move (during a move's
    // downtime, between checkpoint and restore, it runs nowhere by design).
    expect(sampler.samples.filter((s) => s.on.length > 1)).toEqual([]);
    const duringMove = (at: number) => moveWindows.some((w) => at >= w.start && at <= w.end);
    expect(sampler.samples.filter((s) => s.on.length === 0 && !duringMove(s.at))).toEqual([]);
    expect(sampler.samples.filter((s) => !duringMove(s.at)).length).toBeGreaterThan(10);

    // The way back reuses pc1's remnant: under 2 % of pages changed, under 5 % of the full image on the wire.
    expect(back.targetHadRemnant).toBe(true);
    const cp = back.transfers.find((t) => t.kind === 'checkpoint')!;
    const pages = back.checkpoint.image.chunks;
    expect(cp.missingChunks / pages).toBeLessThan(0.02);
    expect(back.wireBytes / back.checkpoint.image.bytes).toBeLessThan(0.05);
    // pc2 held nothing of it: it wrote the synced rootfs while the counter still ran, and the frozen receive found
    // every file in place (written again: only what changed after the running sync).
    expect(there.steps.map((s) => s.step)).toContain('apply bundle (running)');
    expect(there.restore.bundle.unchanged).toBeGreaterThan(there.restore.bundle.written);
    // The way back found pc1's remnant: its rootfs is left alone until the freeze.
    expect(back.steps.map((s) => s.step)).not.toContain('apply bundle (running)');
    // The first move had nothing to reuse: it carried about the whole image.
    expect(there.wireBytes / there.checkpoint.image.bytes).toBeGreaterThan(0.9);
    // pc2 dropped the generation it had restored from before its dump (pc1 holds it): one image of it on pc2, the
    // new one; pc1 holds both, its remnant and the generation it restored.
    const held = (node: string) => new RemnantStore(path.join(nodeDirs[node]!, 'store')).generations(CONTAINER);
    expect(await held('pc2')).toEqual([back.generation]);
    expect(await held('pc1')).toEqual([there.generation, back.generation]);
    console.log(
      JSON.stringify({
        there: {
          wireBytes: there.wireBytes,
          image: there.checkpoint.image.bytes,
          downtimeMs: there.downtimeMs,
          dumpMs: there.checkpoint.dumpMs,
          hashMs: there.checkpoint.hashMs,
          restoreMs: there.restore.restoreMs,
        },
        back: {
          wireBytes: back.wireBytes,
          image: back.checkpoint.image.bytes,
          changedPages: cp.missingChunks,
          pages,
          downtimeMs: back.downtimeMs,
        },
      }),
    );
  });
});

/** Runs as a source inside another PC's namespace, using the real client against a real node's data plane. */
const HOSTILE_SOURCE = `
const [address, transferId, token, dir, containerId, distDir] = process.argv.slice(1);
const { DataPlaneClient } = require(distDir + '/node/dataplane/client.js');
const { ChunkReader } = require(distDir + '/node/chunk-reader.js');
const { scanDirectory } = require(distDir + '/node/scan.js');
const { sliceList } = require(distDir + '/domain/digest-index.js');
// The target's data-plane certificate is no secret (it shows it to anyone): the hostile source trusts it too.
const certificate = () => new Promise((resolve, reject) => {
  const [host, port] = address.split(':');
  const s = require('node:tls').connect({ host, port: Number(port), rejectUnauthorized: false }, () => {
    resolve(s.getPeerX509Certificate().toString());
    s.end();
  });
  s.on('error', reject);
});
(async () => {
  const out = {};
  const cert = await certificate();
  const attempt = async (name, run) => {
    try { await run(); out[name] = 'accepted'; } catch (e) { out[name] = { status: e.status, message: e.message }; }
  };
  const { manifest, locations } = await scanDirectory(dir, 'checkpoint', containerId, 99);
  await attempt('wrongToken', () => new DataPlaneClient({ address, transferId, token: 'not-the-token', certificate: cert }).offer(manifest));
  const escaping = { ...manifest, entries: [{ ...manifest.entries[0], path: '../../escape.img' }] };
  await attempt('dotDot', () => new DataPlaneClient({ address, transferId, token, certificate: cert }).offer(escaping));
  const client = new DataPlaneClient({ address, transferId, token, certificate: cert });
  const missing = await client.offer(manifest);
  const honest = ChunkReader.fromLocations(locations);
  const tampering = new ChunkReader([(h) => honest.candidates(h)]);
  tampering.read = async (h) => { const d = Buffer.from(await honest.read(h)); d[0] ^= 1; return d; };
  await attempt('tampered', () => client.send(sliceList(missing, 0, 3), tampering));
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe('data plane of a live PC', () => {
  it('refuses a wrong token, a path with .., and a tampered chunk, and its remnant store stays as it was', async () => {
    const [pc1, pc2] = planCluster(config).nodes;
    const store = new RemnantStore(path.join(nodeDirs.pc1!, 'store'));
    const storeFiles = () =>
      readdirSync(store.root, { recursive: true })
        .map(String)
        .filter((f) => !f.startsWith('staging'))
        .sort();
    const before = storeFiles();
    const { transferId, token } = await new TransferRegistry(store).register(CONTAINER);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-hostile-'));
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'pages-1.img'), randomBytes(16 * 4096));
    writeFileSync(path.join(dir, 'core-1.img'), randomBytes(100));
    try {
      const [cmd, ...args] = inNamespace(pc2!.namespace, [
        process.execPath,
        '-e',
        HOSTILE_SOURCE,
        `${pc1!.address}:7070`,
        transferId,
        token,
        dir,
        CONTAINER,
        dist(),
      ]);
      const { stdout } = await execa(cmd!, args);
      const out = JSON.parse(stdout) as Record<string, { status: number; message: string }>;
      const refusal = (name: string) => [out[name]?.status, out[name]?.message];
      expect(refusal('wrongToken')).toEqual([403, expect.stringMatching(/wrong token/)]);
      expect(refusal('dotDot')).toEqual([400, expect.stringMatching(/has a "\.\." segment/)]);
      expect(refusal('tampered')).toEqual([422, expect.stringMatching(/does not match its content/)]);
      expect(storeFiles()).toEqual(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await new TransferRegistry(store).finish(transferId);
    }
  });
});

const zanshin = (...args: string[]) =>
  execa(process.execPath, [dist('cli', 'zanshin.js'), ...args], {
    reject: false,
    env: {
      ...process.env,
      ZANSHIN_API_URL: `http://127.0.0.1:${config.apiPort}`,
      ZANSHIN_ADMIN_TOKEN_FILE: path.join(planCluster(config).paths.secrets, 'admin-token'),
    },
  });
/** A fixed-offset zone where it is about noon now, so "in 10 minutes" never crosses midnight. */
const noonZone = (): { zone: string; local: Date } => {
  const offset = ((12 - new Date().getUTCHours() + 36) % 24) - 12;
  return { zone: offset >= 0 ? `UTC+${offset}` : `UTC${offset}`, local: new Date(Date.now() + offset * 3_600_000) };
};
const timetable = (room: string, startsInMinutes: number): string => {
  const { local } = noonZone();
  const start = new Date(local.getTime() + startsInMinutes * 60_000);
  const hhmm = (d: Date) => d.toISOString().slice(11, 16);
  const day = start.toISOString().slice(0, 10);
  const weekday = ((start.getUTCDay() + 6) % 7) + 1;
  return `room,weekday,start,end,term_start,term_end,title\n${room},${weekday},${hhmm(start)},${hhmm(new Date(start.getTime() + 45 * 60_000))},${day},${day},Lab\n`;
};

describe('control plane on the live cluster, through the zanshin CLI', () => {
  it('keeps a PC with a lecture in 10 minutes out of every placement, then migrates there with progress once it is free', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-tt-'));
    try {
      // pc2 at its seat on R595's plan; a place the CLI cannot read is refused before anything is sent.
      const bad = await zanshin('rooms', 'set', 'R595', 'pc2@row1');
      expect([bad.exitCode, bad.stderr]).toEqual([1, expect.stringMatching(/"pc2@row1": a PC is given as its id/)]);
      expect((await zanshin('rooms', 'set', 'R595', 'pc2@1.3')).stdout).toBe('R595: pc2@1.3');
      expect((await zanshin('rooms')).stdout).toMatch(/│ R595 │ pc2@1\.3 +│/);
      writeFileSync(path.join(dir, 'term.csv'), timetable('R595', 10));
      const imported = await zanshin(
        'lectures',
        'import',
        path.join(dir, 'term.csv'),
        '--name',
        'test-term',
        '--timezone',
        noonZone().zone,
      );
      expect([imported.exitCode, imported.stdout]).toEqual([0, 'imported 1 lectures in 1 room(s)']);

      const rootfs = await ensureCounterRootfs();
      expect(
        (
          await zanshin(
            'container',
            'create',
            API_CONTAINER,
            '--rootfs-dir',
            rootfs,
            '--memory',
            '96',
            '-e',
            'MIB=32',
            '--',
            '/bin/counter',
          )
        ).exitCode,
      ).toBe(0);
      const started = await zanshin('container', 'start', API_CONTAINER);
      expect(started.stderr).toBe('');
      expect(started.stdout).toMatch(new RegExp(`^${API_CONTAINER} runs on pc1`));
      expect(started.stdout).toMatch(/pc2 .*a lecture starts in (9|10) min \(margin 15 min\)/);
      expect(await runningOnFor(API_CONTAINER)).toEqual(['pc1']);

      const refused = await zanshin('migrate', API_CONTAINER);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(/no node can take .*pc2 \(a lecture starts in/);

      writeFileSync(path.join(dir, 'term.csv'), timetable('R101', 10)); // the lecture moved to another room
      expect(
        (
          await zanshin(
            'lectures',
            'import',
            path.join(dir, 'term.csv'),
            '--name',
            'test-term',
            '--timezone',
            noonZone().zone,
          )
        ).exitCode,
      ).toBe(0);
      const moved = await zanshin('migrate', API_CONTAINER, '--reason', 'test');
      expect([moved.exitCode, moved.stderr]).toEqual([0, '']);
      expect(moved.stdout).not.toMatch(/failed/);
      expect(moved.stdout).toMatch(/migrating .*: pc1 -> pc2/);
      expect(moved.stdout).toMatch(/✓ checkpoint on pc1/);
      expect(moved.stdout).toMatch(/✓ restore on pc2/);
      expect(moved.stdout).toMatch(/completed/);
      expect(await runningOnFor(API_CONTAINER)).toEqual(['pc2']);

      const containers = JSON.parse((await zanshin('containers', '--json')).stdout) as {
        id: string;
        nodeId: string;
        state: string;
      }[];
      expect(containers.find((c) => c.id === API_CONTAINER)).toMatchObject({ nodeId: 'pc2', state: 'running' });
      const history = JSON.parse(
        (await zanshin('migrations', '--container', API_CONTAINER, '--json')).stdout,
      ) as MigrationRow[];
      expect(history.map((m) => [m.from, m.to, m.status, m.reason])).toEqual([['pc1', 'pc2', 'completed', 'test']]);
      expect(moveReportOf(history[0]!.report)!.steps.map((st) => st.step)).toContain('transfer checkpoint');
      const decision = history[0]!.decision as { chosen: string; candidates: { nodeId: string }[] };
      expect(decision.chosen).toBe('pc2');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('shutdown evacuation', () => {
  it('moves every container off a PC that powers off, through the systemd script and nodeLifecycle', async () => {
    // After the CLI test, API_CONTAINER runs on pc2 (as the database says).
    expect(await runningOnFor(API_CONTAINER)).toEqual(['pc2']);
    const powerOff = path.join(REPO_ROOT_FOR_TEST, 'dist', 'workers', 'power-off.js');
    const run = await execa(process.execPath, [powerOff], {
      reject: false,
      timeout: 120_000,
      env: {
        ...process.env,
        ZANSHIN_NODE_ID: 'pc2',
        TEMPORAL_ADDRESS: `127.0.0.1:${config.temporalPort}`,
        ZANSHIN_PAYLOAD_KEY_FILE: payloadKeyFile(planCluster(config).paths.secrets),
        ZANSHIN_EVACUATION_DEADLINE: '60',
      },
    });
    expect([run.exitCode, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toMatch(/containers of pc2 evacuated/);
    expect(await runningOnFor(API_CONTAINER)).toEqual(['pc1']);
    const status = await client.workflow.getHandle('node-pc2').query<{
      evacuations: { reason: string; containers: { containerId: string; outcome: string; to?: string }[] }[];
    }>('status');
    expect(status.evacuations.at(-1)).toMatchObject({
      reason: 'power-off',
      containers: [{ containerId: API_CONTAINER, outcome: 'moved', to: 'pc1' }],
    });
  });
});

describe('lectures drive evacuation', () => {
  it("moves a PC's containers off before its lecture starts, and records a container caught in a lecture as a conflict", async () => {
    // After the shutdown test, API_CONTAINER runs on pc1.
    expect(await runningOnFor(API_CONTAINER)).toEqual(['pc1']);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-lecture-'));
    const importTimetable = async (csv: string) => {
      writeFileSync(path.join(dir, 'term.csv'), csv);
      const r = await zanshin(
        'lectures',
        'import',
        path.join(dir, 'term.csv'),
        '--name',
        'evac-term',
        '--timezone',
        noonZone().zone,
      );
      expect([r.exitCode, r.stderr]).toEqual([0, '']);
    };
    const plan = (safetyMs: number) =>
      client.workflow.execute<typeof lectureEvacuations>('lectureEvacuations', {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId: `${TEST_PREFIX}-lectures-${Date.now()}`,
        args: [{ safetyMs }],
      });
    try {
      expect((await zanshin('rooms', 'set', 'R701', 'pc1')).exitCode).toBe(0);
      expect((await zanshin('rooms', 'set', 'R702', 'pc2')).exitCode).toBe(0);
      // 1. A lecture on pc1 in 2-3 minutes; a lead of 10 minutes (the margin given here) makes it due now.
      await importTimetable(timetable('R701', 3));
      const week = await zanshin('lectures', 'week', '--room', 'R701', '--json');
      const lectureAt = (JSON.parse(week.stdout) as { startsAt: string }[])[0]!.startsAt;
      const first = await plan(600_000);
      expect(first.started.map((x) => [x.nodeId, x.lectureAt, x.containers])).toEqual([
        ['pc1', new Date(lectureAt).toISOString(), [API_CONTAINER]],
      ]);
      expect(first.newConflicts).toBe(0);
      const report = await client.workflow.getHandle<typeof evacuateForLecture>(first.started[0]!.workflowId).result();
      expect(report.containers).toEqual([{ containerId: API_CONTAINER, outcome: 'moved', to: 'pc2' }]);
      expect(report.finishedAt).toBeLessThan(Date.parse(lectureAt));
      expect(await runningOnFor(API_CONTAINER)).toEqual(['pc2']);
      // Nothing is left on pc1 for its lecture: a second run has nothing to do there.
      expect((await plan(600_000)).started).toEqual([]);

      // 2. A lecture that began a minute ago on pc2, where the container is now: a conflict, and it leaves.
      await importTimetable(timetable('R702', -1));
      const second = await plan(0);
      expect(second.newConflicts).toBe(1);
      expect(second.started.map((x) => x.nodeId)).toEqual(['pc2']);
      const back = await client.workflow.getHandle<typeof evacuateForLecture>(second.started[0]!.workflowId).result();
      expect(back.containers).toEqual([{ containerId: API_CONTAINER, outcome: 'moved', to: 'pc1' }]);
      expect(await runningOnFor(API_CONTAINER)).toEqual(['pc1']);
      const listed = await zanshin('lectures', 'conflicts', '--json');
      const conflicts = JSON.parse(listed.stdout) as { containerId: string; nodeId: string }[];
      expect(conflicts.map((c) => [c.containerId, c.nodeId])).toEqual([[API_CONTAINER, 'pc2']]);
      expect((await plan(0)).newConflicts).toBe(0); // recorded once
    } finally {
      await importTimetable(timetable('R799', 3)); // a room without PCs: the later tests see no lectures
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('safety checkpoints and crash recovery', () => {
  it('restores the containers of a PC switched off without warning from their safety checkpoint on another PC', async () => {
    // After the evacuation test, API_CONTAINER runs on pc1.
    expect(await runningOnFor(API_CONTAINER)).toEqual(['pc1']);
    // Read before the checkpoint: the container keeps counting while its safety copy travels.
    const atCheckpoint = counterOf('pc1', API_CONTAINER);
    const safety = await client.workflow.execute<typeof safetyCheckpoint>('safetyCheckpoint', {
      taskQueue: CONTROL_TASK_QUEUE,
      workflowId: `migrate-${API_CONTAINER}`,
      args: [{ containerId: API_CONTAINER }],
    });
    expect(safety).toMatchObject({ source: 'pc1', holder: 'pc2' });
    expect(await runningOnFor(API_CONTAINER)).toEqual(['pc1']); // a safety checkpoint does not stop it

    // pc2's next load report lists the new generation.
    const token = readFileSync(path.join(planCluster(config).paths.secrets, 'admin-token'), 'utf8').trim();
    const heldBy = async (node: string) => {
      const res = await fetch(`http://127.0.0.1:${config.apiPort}/v1/nodes/${node}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return (
        ((await res.json()) as { remnants: { containerId: string; generations: number[] }[] }).remnants.find(
          (r) => r.containerId === API_CONTAINER,
        )?.generations ?? []
      );
    };
    for (let i = 0; i < 50 && !(await heldBy('pc2')).includes(safety.generation!); i++) await sleep(200);
    expect(await heldBy('pc2')).toContain(safety.generation);

    // pc1 is switched off: its worker and the container die together.
    await sleep(1000);
    const beforeCrash = counterOf('pc1', API_CONTAINER);
    await cluster.killWorker('pc1');
    await execa('runc', ['--root', path.join(nodeDirs.pc1!, 'runc'), 'delete', '--force', API_CONTAINER]);
    expect(await runningOnFor(API_CONTAINER)).toEqual([]);
    // pc1's last report ages past lease + margin (8 + 3 s here): before that, a cut-off pc1 might still run it.
    await sleep(12_000);

    const recovered = await client.workflow.execute<typeof recoverCrashedNodes>('recoverCrashedNodes', {
      taskQueue: CONTROL_TASK_QUEUE,
      workflowId: `recover-${TEST_PREFIX}`,
      args: [{ offlineAfterSeconds: 4, timeouts: { answerSeconds: 3 } }],
    });
    expect(recovered.map((r) => [r.containerId, r.deadNode, r.restoredOn, r.generation])).toEqual([
      [API_CONTAINER, 'pc1', 'pc2', safety.generation],
    ]);
    expect(recovered[0]!.checkpointAgeMs).toBeGreaterThan(1000);
    expect(await runningOnFor(API_CONTAINER)).toEqual(['pc2']);
    await sleep(1000);
    const after = counterOf('pc2', API_CONTAINER);
    // The same process, back from its checkpoint: what it did after the checkpoint is lost, nothing before.
    expect(after.bootId).toBe(atCheckpoint.bootId);
    expect(after.count).toBeGreaterThanOrEqual(atCheckpoint.count);
    expect(beforeCrash.count).toBeGreaterThan(atCheckpoint.count);
    const res = await fetch(`http://127.0.0.1:${config.apiPort}/v1/migrations?containerId=${API_CONTAINER}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const history = (
      (await res.json()) as {
        migrations: { reason: string; to: string; status: string; report: { checkpointAgeMs: number } }[];
      }
    ).migrations;
    expect(history[0]).toMatchObject({
      reason: 'crash recovery: pc1 stopped reporting',
      to: 'pc2',
      status: 'completed',
    });
    expect(history[0]!.report.checkpointAgeMs).toBeGreaterThan(1000);
  });
});
