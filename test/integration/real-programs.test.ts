// Real programs that nobody here wrote move with their network: redis-server (Debian) and busybox httpd run in
// containers with their own LAN addresses, and clients on another PC keep talking to them through moves
// pc1 -> pc2 -> pc1. Each program's own check decides: redis' DEBUG DIGEST over a connection that never closes
// (same CLIENT ID before and after), the web page answering before, during (a pause) and after each move.
import execa from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../common/paths';
import type { ContainerNetwork } from '../../domain/container-network';
import { ensureDebianRootfs, HTTPD_ROOTFS, PYTHON_STATE_ROOTFS, REDIS_ROOTFS } from '../../infra/images/debian-rootfs';
import { listNamespaces } from '../../infra/cluster/netns';
import type { MigrationResult } from '../../workflows/migrate-container';
import { HttpLanProbe, httpGetFrom, RedisLanClient } from '../../infra/demo/lan-client';
import { planCluster } from '../../infra/cluster/plan';
import { LiveCluster } from '../helpers/live-cluster';
import { TEST_PREFIX } from '../helpers/names';

const cluster = new LiveCluster();
const REDIS = `${TEST_PREFIX}-redis`;
const HTTPD = `${TEST_PREFIX}-httpd`;
const pc3 = (): string => `${TEST_PREFIX}-pc3`;
const planClusterOf = () => planCluster(cluster.config);

beforeAll(async () => {
  await Promise.all([cluster.start('10.84.0', 3), ensureDebianRootfs(REDIS_ROOTFS), ensureDebianRootfs(HTTPD_ROOTFS)]);
}, 240_000);
afterAll(() => cluster.stop(), 120_000);

async function createAndStart(
  id: string,
  args: string[],
  rootfs: string,
  memoryMiB: number,
): Promise<ContainerNetwork> {
  const created = await cluster.api('POST', '/v1/containers', { id, args, memoryMiB, rootfs: { dir: rootfs } });
  expect(created.status).toBe(201);
  const started = await cluster.api('POST', `/v1/containers/${id}/start`, { nodeId: 'pc1' });
  expect(started.body).toMatchObject({ nodeId: 'pc1', state: 'running' });
  return created.body.network as ContainerNetwork;
}

const migrate = (containerId: string, to: string): Promise<MigrationResult> => cluster.migrate(containerId, to);

/** Which PCs hold a network namespace for the container (only the one it runs on may). */
const namespacesOf = async (id: string): Promise<string[]> =>
  (await listNamespaces())
    .filter((n) => n.startsWith(`${TEST_PREFIX}c-`) && n.endsWith(`-${id}`))
    .map((n) => n.split('-')[1]!);

describe('real programs keep their state, their address and their connections through moves', () => {
  it('redis-server: same DEBUG DIGEST and the same connection (CLIENT ID) on pc1 -> pc2 -> pc1', async () => {
    const rootfs = await ensureDebianRootfs(REDIS_ROOTFS);
    // An empty argument is a normal argument: `--save ""` turns persistence off.
    const net = await createAndStart(REDIS, ['/usr/bin/redis-server', '/etc/redis.conf', '--save', ''], rootfs, 512);
    expect(net.address).toMatch(/^10\.84\.0\.(1[2-9]\d|2[0-4]\d|25[0-4])$/);
    const client = new RedisLanClient(pc3(), net.address);
    try {
      await client.connected();
      expect(await client.command('DEBUG', 'POPULATE', '200000', 'key', '64')).toBe('OK');
      const clientId = await client.command('CLIENT', 'ID');
      const digest = await client.command('DEBUG', 'DIGEST');
      expect(digest).toMatch(/^[0-9a-f]{40}$/);
      const figures: string[] = [];
      for (const [to, from] of [
        ['pc2', 'pc1'],
        ['pc1', 'pc2'],
      ] as const) {
        client.startProbe();
        const result = await migrate(REDIS, to);
        const pauseMs = await client.stopProbe();
        expect(await cluster.runningOn(REDIS)).toEqual([to]);
        expect(await namespacesOf(REDIS)).toEqual([to]); // the source no longer answers for the address
        expect(await client.command('CLIENT', 'ID')).toBe(clientId);
        expect(await client.command('DEBUG', 'DIGEST')).toBe(digest);
        expect(await client.command('DBSIZE')).toBe(200000);
        // The client's PINGs of the downtime waited on the target (taken over early) instead of being dropped.
        expect(result.steps.map((s) => s.step)).toContain('take over address');
        expect(result.restore.heldPackets).toBeGreaterThan(0);
        expect(result.freezes!.at(-1)).toEqual({ kind: 'move', ms: result.downtimeMs });
        figures.push(
          `${from} -> ${to}: downtime ${result.downtimeMs} ms, frozen in all ${result.frozenTotalMs} ms, wire ${(result.wireBytes / 1e6).toFixed(2)} MB of ${(result.fullBytes / 1e6).toFixed(2)} MB, client's longest wait ${pauseMs} ms, ${result.restore.heldPackets} packets held`,
        );
      }
      console.log(`redis round trip (200,000 keys):\n  ${figures.join('\n  ')}`);
    } finally {
      client.close();
    }
  }, 240_000);

  it('busybox httpd answers a client on another PC before, during and after each move', async () => {
    const rootfs = await ensureDebianRootfs(HTTPD_ROOTFS);
    const net = await createAndStart(HTTPD, ['/bin/httpd', '-f', '-p', '80', '-h', '/www'], rootfs, 64);
    const url = `http://${net.address}/index.html`;
    expect(await httpGetFrom(pc3(), url, 10_000)).toContain('zanshin httpd test page'); // once it has started
    for (const to of ['pc2', 'pc1']) {
      const probe = new HttpLanProbe(pc3(), url);
      try {
        await migrate(HTTPD, to);
      } catch (err) {
        probe.kill();
        throw err;
      }
      const seen = await probe.stop();
      expect(seen.errors).toEqual([]); // a pause, never a reset or an unreachable host
      expect(seen.ok).toBeGreaterThan(0);
      expect(await httpGetFrom(pc3(), url)).toContain('zanshin httpd test page');
      expect(await namespacesOf(HTTPD)).toEqual([to]);
      console.log(`httpd -> ${to}: ${seen.ok} answers, longest gap ${seen.maxGapMs} ms`);
    }
  }, 180_000);

  it('a Python process with threads keeps its in-memory state and keeps counting on pc1 -> pc2 -> pc1', async () => {
    const rootfs = await ensureDebianRootfs(PYTHON_STATE_ROOTFS);
    const id = `${TEST_PREFIX}-py`;
    const net = await createAndStart(id, ['/usr/bin/python3.11', '/app/state_server.py'], rootfs, 256);
    const url = (p: string) => `http://${net.address}:8000${p}`;
    type Answer = { digest: string; keys: number; ticks: number; pid: number };
    const ask = async (p = '/'): Promise<Answer> => JSON.parse(await httpGetFrom(pc3(), url(p), 20_000)) as Answer;
    await ask(); // started
    const before = await ask('/set/student=work-in-progress');
    expect(before.keys).toBe(100_001);
    for (const to of ['pc2', 'pc1']) {
      await migrate(id, to);
      const after = await ask();
      // Same process (pid), same dictionary (the program's own digest), and its thread kept counting.
      expect([after.pid, after.digest, after.keys]).toEqual([before.pid, before.digest, before.keys]);
      expect(after.ticks).toBeGreaterThan(before.ticks);
      before.ticks = after.ticks;
    }
  }, 180_000);

  it('gives every container its own address, never one twice, and frees it with the container', async () => {
    const a = await cluster.api('POST', '/v1/containers', {
      id: `${TEST_PREFIX}-a`,
      args: ['/bin/sh'],
      memoryMiB: 8,
      rootfs: { dir: '/tmp' },
    });
    const b = await cluster.api('POST', '/v1/containers', {
      id: `${TEST_PREFIX}-b`,
      args: ['/bin/sh'],
      memoryMiB: 8,
      rootfs: { dir: '/tmp' },
    });
    const addresses = [a, b].map((r) => (r.body.network as ContainerNetwork).address);
    const { body } = await cluster.api('GET', '/v1/containers');
    const all = (body.containers as { network: ContainerNetwork | null }[]).map((c) => c.network?.address);
    expect(new Set(all).size).toBe(all.length);
    expect(all).toEqual(expect.arrayContaining(addresses));
    expect((await cluster.api('DELETE', `/v1/containers/${TEST_PREFIX}-a`)).status).toBe(204);
    const c = await cluster.api('POST', '/v1/containers', {
      id: `${TEST_PREFIX}-c`,
      args: ['/bin/sh'],
      memoryMiB: 8,
      rootfs: { dir: '/tmp' },
    });
    expect((c.body.network as ContainerNetwork).address).toBe(addresses[0]); // the freed address is given again
  });
});

describe('everyday container commands and what runs', () => {
  const api = (method: string, route: string, body?: unknown) => cluster.api(method, route, body);

  it('exec runs a command in redis and returns its output and exit code; logs survived the moves', async () => {
    const r = await api('POST', `/v1/containers/${REDIS}/exec`, { args: ['/usr/bin/redis-cli', 'DBSIZE'] });
    expect(r.body).toMatchObject({ exitCode: 0, stdout: '200000\n', nodeId: 'pc1' });
    const failing = await api('POST', `/v1/containers/${REDIS}/exec`, {
      args: ['/bin/sh', '-c', 'echo oops >&2; exit 3'],
    });
    expect(failing.body).toMatchObject({ exitCode: 3, stderr: 'oops\n' });
    // redis wrote its banner on pc1 before the first move; the log moved with the rootfs and is read on pc1 now.
    const logs = await api('GET', `/v1/containers/${REDIS}/logs?stream=stdout&tailBytes=100000`);
    expect(logs.body.text).toContain('Ready to accept connections');
    expect((await api('POST', `/v1/containers/${REDIS}/exec`, { args: [''] })).status).toBe(400);
  });

  it('stop takes a final checkpoint that start continues from: same data, same address', async () => {
    const before = (
      await api('POST', `/v1/containers/${REDIS}/exec`, { args: ['/usr/bin/redis-cli', 'DEBUG', 'DIGEST'] })
    ).body.stdout;
    const stopped = await api('POST', `/v1/containers/${REDIS}/stop`, {});
    expect(stopped.body).toMatchObject({ state: 'stopped', nodeId: 'pc1', stoppedGeneration: stopped.body.generation });
    expect(await cluster.runningOn(REDIS)).toEqual([]);
    expect(await namespacesOf(REDIS)).toEqual([]);
    expect((await api('POST', `/v1/containers/${REDIS}/exec`, { args: ['/bin/true'] })).status).toBe(409);
    // A byte of the kept checkpoint flips on pc1's disk while it is stopped: start refuses it, naming what is damaged,
    // and nothing runs; with the byte as it was, start continues from it.
    const pages = path.join(
      cluster.nodeDirs.pc1!,
      'store',
      'containers',
      REDIS,
      'gens',
      String(stopped.body.generation),
      'image',
      'pages-1.img',
    );
    const original = readFileSync(pages);
    const flipped = Buffer.from(original);
    flipped[4096 * 7 + 100]! ^= 0x01;
    writeFileSync(pages, flipped);
    const refused = await api('POST', `/v1/containers/${REDIS}/start`, {});
    expect(refused.status).toBe(422);
    expect(String(refused.body.message)).toMatch(
      new RegExp(
        `generation ${String(stopped.body.generation)} of ${REDIS} is damaged on pc1 \\(pages-1\\.img chunk \\d+ .*does not match its hash\\): not restored`,
      ),
    );
    expect(await cluster.runningOn(REDIS)).toEqual([]);
    writeFileSync(pages, original);
    const started = await api('POST', `/v1/containers/${REDIS}/start`, {});
    expect(started.body).toMatchObject({ state: 'running', nodeId: 'pc1', stoppedGeneration: null });
    expect(await cluster.runningOn(REDIS)).toEqual(['pc1']);
    const after = (
      await api('POST', `/v1/containers/${REDIS}/exec`, { args: ['/usr/bin/redis-cli', 'DEBUG', 'DIGEST'] })
    ).body.stdout;
    expect(after).toBe(before);
    const net = started.body.network as ContainerNetwork;
    const client = new RedisLanClient(pc3(), net.address);
    try {
      await client.connected();
      expect(await client.command('DBSIZE')).toBe(200000);
    } finally {
      client.close();
    }
  });

  /** Waits until migration-api says the container exited (PCs report every 2 s in tests). */
  async function exitOf(id: string): Promise<Record<string, unknown>> {
    for (let i = 0; i < 50; i++) {
      const { body } = await api('GET', `/v1/containers/${id}`);
      if (body.state === 'exited') return body;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${id} was never recorded as exited`);
  }

  it('records a program that exits by itself with its exit status, and keeps its output', async () => {
    const rootfs = await ensureDebianRootfs(HTTPD_ROOTFS);
    const id = `${TEST_PREFIX}-ends`;
    await createAndStart(id, ['/bin/sh', '-c', 'echo bye; sleep 1; exit 3'], rootfs, 16);
    expect(await exitOf(id)).toMatchObject({ state: 'exited', exitStatus: 'exit 3', nodeId: 'pc1' });
    expect((await api('GET', `/v1/containers/${id}/logs`)).body.text).toBe('bye\n');
  });

  // Issue 28: restart policies as Podman has them. A restart is a fresh start on the container's current rootfs (the
  // file each run appends to keeps the earlier runs' lines), under a new epoch, backing off a crash loop.
  it('restarts a failing program afresh on its rootfs with back-off (on-failure), one that ends well only with always, and never with no', async () => {
    const rootfs = await ensureDebianRootfs(HTTPD_ROOTFS);
    const script = (code: number) => ['/bin/sh', '-c', `echo run >> /runs; sleep 1; exit ${code}`];
    const ids = { failing: `${TEST_PREFIX}-rfail`, always: `${TEST_PREFIX}-ralways`, no: `${TEST_PREFIX}-rno` };
    for (const [id, policy, code] of [
      [ids.failing, 'on-failure', 3],
      [ids.always, 'always', 0],
      [ids.no, 'no', 3],
    ] as const) {
      expect(
        (
          await api('POST', '/v1/containers', {
            id,
            args: script(code),
            memoryMiB: 16,
            rootfs: { dir: rootfs },
            restart: policy,
          })
        ).status,
      ).toBe(201);
      expect((await api('POST', `/v1/containers/${id}/start`, { nodeId: 'pc1' })).body).toMatchObject({
        state: 'running',
      });
    }
    const runs = (id: string) =>
      readFileSync(path.join(cluster.nodeDirs.pc1!, 'store', 'containers', id, 'bundle', 'rootfs', 'runs'), 'utf8')
        .trim()
        .split('\n').length;
    const body = async (id: string) => (await api('GET', `/v1/containers/${id}`)).body;
    // Exit after 1 s; restarted 10 s later, then 20 s after the next exit (reports every 2 s).
    const started = Date.now();
    for (;;) {
      const b = await body(ids.failing);
      if ((b.restartCount as number) >= 2) break;
      if (Date.now() - started > 90_000) throw new Error(`not restarted twice in 90 s: ${JSON.stringify(b)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const secondRestartAfter = Date.now() - started;
    expect(secondRestartAfter).toBeGreaterThan(30_000); // 10 s, then 20 s of back-off, plus the runs
    expect(runs(ids.failing)).toBeGreaterThanOrEqual(3); // the same rootfs every time
    expect(await body(ids.failing)).toMatchObject({ restartPolicy: 'on-failure' });
    expect((await body(ids.failing)).epoch as number).toBeGreaterThanOrEqual(3); // a new copy each time
    expect((await body(ids.always)).restartCount as number).toBeGreaterThanOrEqual(1);
    expect(runs(ids.always)).toBeGreaterThanOrEqual(2);
    expect(await body(ids.no)).toMatchObject({ state: 'exited', exitStatus: 'exit 3', restartCount: 0 });
    expect(runs(ids.no)).toBe(1);
    const shown = await execa(
      process.execPath,
      [path.join(REPO_ROOT, 'dist', 'cli', 'zanshin.js'), 'container', 'show', ids.failing],
      {
        env: {
          ZANSHIN_API_URL: `http://127.0.0.1:${cluster.config.apiPort}`,
          ZANSHIN_ADMIN_TOKEN_FILE: path.join(planClusterOf().paths.secrets, 'admin-token'),
        },
      },
    );
    expect(shown.stdout).toMatch(/restart: on-failure, \d+ restart\(s\) in a row/);
  });

  it('notices a container whose program was killed on its PC', async () => {
    const rootfs = await ensureDebianRootfs(HTTPD_ROOTFS);
    const id = `${TEST_PREFIX}-killed`;
    await createAndStart(id, ['/bin/sleep', '3600'], rootfs, 16);
    const state = await execa('runc', ['--root', path.join(cluster.nodeDirs.pc1!, 'runc'), 'state', id]);
    const initPid = (JSON.parse(state.stdout) as { pid: number }).pid;
    const program = Number((await execa('pgrep', ['-P', String(initPid)])).stdout.trim());
    process.kill(program, 'SIGKILL');
    expect(await exitOf(id)).toMatchObject({ state: 'exited', exitStatus: 'signal 9' });
  });
});

describe("containers cannot reach the PCs' own services", () => {
  /** Whether a TCP connection from `netns` to host:port opens within 2 s. */
  const reachableFrom = async (netns: string, host: string, port: number): Promise<boolean> => {
    const script = `require('net').connect({host:'${host}',port:${port},timeout:2000}).on('connect',()=>process.exit(0)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))`;
    return (
      (await execa('nsenter', [`--net=/run/netns/${netns}`, process.execPath, '-e', script], { reject: false }))
        .exitCode === 0
    );
  };

  it("refuses a container dialing another PC's data plane (7070) or Temporal relay (7233), which the LAN reaches", async () => {
    const pc2 = planClusterOf().nodes.find((n) => n.id === 'pc2')!;
    // The data plane answers the LAN (here: the user host), so a refusal below is the firewall, not a dead port.
    expect(await reachableFrom(`${TEST_PREFIX}-user`, pc2.address, 7070)).toBe(true);
    for (const [host, port] of [
      [pc2.address, 7070],
      [pc2.address, 7233],
      ['127.0.0.1', 7233],
      ['127.0.0.1', 7070],
    ] as const) {
      const r = await cluster.api('POST', `/v1/containers/${HTTPD}/exec`, {
        args: ['/bin/nc', '-w', '2', host, String(port)],
        timeoutSeconds: 20,
      });
      expect([host, port, r.body.exitCode]).toEqual([host, port, 1]);
    }
  });
});
