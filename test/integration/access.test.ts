// Who may make the cluster do what, tried for real: a workflow of an intruder's own asks PCs to do what the
// system never asks (another container's generation by path, a send to an address of their choice, a rootfs from
// anywhere), and PCs use each other's or revoked credentials. Each is refused, and nothing changes. And what a
// student's container leaves on PCs' disks: over its quota, sparse files, setuid copies.
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ErrorType, rootCause } from '../../common/errors';
import { nodeCredentialFile } from '../../infra/cluster/secrets';
import { planCluster } from '../../infra/cluster/plan';
import { ensureCounterRootfs } from '../../infra/images/counter';
import { LiveCluster, sleep } from '../helpers/live-cluster';
import { Client, Connection } from '@temporalio/client';
import { CONTROL_TASK_QUEUE } from '../../common/names';
import type { migrateContainer, moveContainer } from '../../workflows';
import { GATE_SERVER_NAME } from '../../infra/cluster/pki';
import { inNamespace } from '../../infra/cluster/relays';
import { probeNodes } from '../../infra/cluster/probe';
import { clusterTemporal, withTemporalClient } from '../../infra/cluster/temporal-client';
import execa from 'execa';
import { TEST_PREFIX } from '../helpers/names';
import { ensurePrivateCopy } from '../helpers/private-rootfs';
import { hasSysResource } from '../../domain/container-user';

jest.setTimeout(180_000);

const cluster = new LiveCluster();
const VICTIM = `${TEST_PREFIX}-victim`;
const QUEUE = `${TEST_PREFIX}-intruder`;
let worker: Worker;
let running: Promise<void>;
/** The intruder's own client: it reaches Temporal but has no cluster key, so its payloads travel in clear. */
let intruder: Client;
let intruderConnection: Connection;

beforeAll(async () => {
  const [bundle, rootfs] = await Promise.all([
    bundleWorkflowCode({
      workflowsPath: require.resolve('../helpers/attacker-workflows'),
      logger: {
        log: () => undefined,
        trace: () => undefined,
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      },
    }),
    ensureCounterRootfs(),
    cluster.start('10.86.0', 2),
  ]);
  worker = await Worker.create({
    connection: await (
      await import('@temporalio/worker')
    ).NativeConnection.connect({
      address: `127.0.0.1:${cluster.config.temporalPort}`,
    }),
    taskQueue: QUEUE,
    workflowBundle: bundle,
  });
  running = worker.run();
  intruderConnection = await Connection.connect({ address: `127.0.0.1:${cluster.config.temporalPort}` });
  intruder = new Client({ connection: intruderConnection, namespace: 'default' });
  const created = await cluster.api('POST', '/v1/containers', {
    id: VICTIM,
    args: ['/bin/counter'],
    env: ['MIB=4'],
    memoryMiB: 16,
    rootfs: { dir: rootfs },
  });
  expect(created.status).toBe(201);
  const started = await cluster.api('POST', `/v1/containers/${VICTIM}/start`, { nodeId: 'pc1' });
  expect(started.status).toBe(200);
  await cluster.runningOn(VICTIM);
}, 600_000);

afterAll(async () => {
  worker?.shutdown();
  await running?.catch(() => undefined);
  await intruderConnection?.close();
  await cluster.stop();
}, 180_000);

/** Polls `check` every 250 ms until it holds; fails naming `what` after 30 s. */
async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  for (const end = Date.now() + 30_000; Date.now() < end; await sleep(250)) if (await check()) return;
  throw new Error(`timed out waiting for ${what}`);
}

/** Runs an activity on a PC the way an intruder's workflow would; resolves with its failure (or throws if it ran). */
async function refusal(nodeId: string, activity: string, args: unknown): Promise<ApplicationFailure> {
  const err = await intruder.workflow
    .execute('callNodeActivity', {
      taskQueue: QUEUE,
      workflowId: `${TEST_PREFIX}-intrude-${activity}-${Date.now()}`,
      args: [{ nodeId, activity, args }],
    })
    .then(
      (r) => new Error(`${activity} ran: ${JSON.stringify(r)}`),
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return (err as WorkflowFailedError).cause!.cause as ApplicationFailure;
}

const victimDir = () => path.join(cluster.nodeDirs['pc1']!, 'store', 'containers', VICTIM);

describe('node activities refuse what the system never asks', () => {
  it("refuses a generation given as a path into another container's store", async () => {
    const failure = await refusal('pc1', 'restoreLocal', { containerId: 'mine', generation: `../../${VICTIM}/gens/1` });
    expect(failure.type).toBe(ErrorType.InvalidInput);
    expect(failure.message).toMatch(/restoreLocal: \/generation must be integer/);
    expect(await cluster.runningOn(VICTIM)).toEqual(['pc1']);
  });

  it("refuses to send a container's memory to an address that is not a registered PC's data plane", async () => {
    const failure = await refusal('pc1', 'sendCheckpoint', {
      containerId: VICTIM,
      generation: 1,
      target: {
        address: '10.86.0.250:7070',
        transferId: '0f8e2b4c-1d2e-4f60-8a9b-0c1d2e3f4a5b',
        token: 'A'.repeat(43),
      },
    });
    expect(failure.type).toBe(ErrorType.InvalidInput);
    expect(failure.message).toMatch(/10\.86\.0\.250:7070 is not the data plane of a registered PC/);
  });

  it("refuses a rootfs from outside the allowed roots (the PC's /etc), creating nothing", async () => {
    const failure = await refusal('pc2', 'createContainer', {
      containerId: `${TEST_PREFIX}-etc`,
      args: ['/bin/sh'],
      env: [],
      memoryMiB: 8,
      rootfs: { dir: '/etc' },
    });
    expect(failure.type).toBe(ErrorType.InvalidInput);
    expect(failure.message).toMatch(/rootfs source \/etc is outside the allowed roots of pc2/);
    expect(await cluster.runningOn(`${TEST_PREFIX}-etc`)).toEqual([]);
  });

  it('refuses an input with fields it does not know, naming them', async () => {
    const failure = await refusal('pc1', 'deleteContainer', { containerId: VICTIM, force: true });
    expect(failure.type).toBe(ErrorType.InvalidInput);
    expect(failure.message).toMatch(/additional properties \(force\)/);
    expect(await cluster.runningOn(VICTIM)).toEqual(['pc1']);
    expect(readFileSync(path.join(victimDir(), 'container.json'), 'utf8')).toContain(VICTIM);
  });
});

describe('Temporal behind the mutual-TLS gate', () => {
  const pkiDir = () => path.join(planCluster(cluster.config).paths.secrets, 'pki');
  /** `temporal workflow list` run inside pc1's namespace, where its relay leads to the gate. */
  const listFromPc1 = (tlsArgs: string[]) => {
    const [cmd, ...args] = inNamespace(planCluster(cluster.config).nodes[0]!.namespace, [
      cluster.config.temporalBin,
      'workflow',
      'list',
      '--address',
      `127.0.0.1:${cluster.config.temporalPort}`,
      '--limit',
      '1',
      ...tlsArgs,
    ]);
    return execa(cmd!, args, { reject: false, timeout: 60_000 });
  };

  it("refuses a client on a PC without a certificate; pc1's own certificate passes", async () => {
    const without = await listFromPc1([]);
    expect(without.exitCode).not.toBe(0);
    const withTls = (name: string) => [
      '--tls-ca-path',
      path.join(pkiDir(), 'ca.crt'),
      '--tls-cert-path',
      path.join(pkiDir(), `${name}.crt`),
      '--tls-key-path',
      path.join(pkiDir(), `${name}.key`),
      '--tls-server-name',
      GATE_SERVER_NAME,
    ];
    const own = await listFromPc1(withTls('nodes/pc1'));
    expect([own.exitCode, own.stderr]).toEqual([0, '']);
  });
});

/** The bytes of every payload in the JSON `temporal workflow show -o json` prints (its data fields are base64). */
function payloadText(json: string): string {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.data === 'string' && o.metadata) out.push(Buffer.from(o.data, 'base64').toString('latin1'));
      Object.values(o).forEach(walk);
    }
  };
  walk(JSON.parse(json));
  return out.join('\n');
}

describe('payloads encrypted with the cluster key', () => {
  it('keeps transfer tokens out of the history in clear; the codec server shows them to the Temporal CLI', async () => {
    const workflowId = `${TEST_PREFIX}-move-victim-${Date.now()}`;
    const moved = await cluster.client.workflow.execute<typeof migrateContainer>('migrateContainer', {
      taskQueue: CONTROL_TASK_QUEUE,
      workflowId,
      args: [{ containerId: VICTIM, to: 'pc2', reason: 'test' }],
    });
    expect(moved).toMatchObject({ to: 'pc2' });
    // Read raw, without the key: every payload of the history is encrypted, and no token shows.
    const connection = await Connection.connect({ address: `127.0.0.1:${cluster.config.temporalPort}` });
    try {
      const raw = new Client({ connection, namespace: 'default' });
      const history = await raw.workflow.getHandle(workflowId).fetchHistory();
      const encodings = new Set(
        (history.events ?? []).flatMap((e) =>
          [e.workflowExecutionStartedEventAttributes?.input, e.workflowExecutionCompletedEventAttributes?.result]
            .flatMap((p) => p?.payloads ?? [])
            .map((p) => Buffer.from(p.metadata!.encoding!).toString()),
        ),
      );
      expect([...encodings]).toEqual(['binary/encrypted']);
    } finally {
      await connection.close();
    }
    // The administrator's CLI through the codec server sees the move's activities with their transfer tokens.
    const show = await execa(
      cluster.config.temporalBin,
      [
        'workflow',
        'show',
        '--address',
        `127.0.0.1:${cluster.config.temporalPort}`,
        '-w',
        workflowId,
        '-o',
        'json',
        '--codec-endpoint',
        `http://127.0.0.1:${cluster.config.codecPort}`,
      ],
      { reject: false },
    );
    expect(show.exitCode).toBe(0);
    expect(payloadText(show.stdout)).toMatch(/"token"/);
    const clear = await execa(
      cluster.config.temporalBin,
      ['workflow', 'show', '--address', `127.0.0.1:${cluster.config.temporalPort}`, '-w', workflowId, '-o', 'json'],
      { reject: false },
    );
    expect(clear.exitCode).toBe(0);
    expect(payloadText(clear.stdout)).not.toMatch(/"token"/);
    expect(clear.stdout).toContain(Buffer.from('binary/encrypted').toString('base64'));
  });
});

describe("what a container leaves on PCs' disks", () => {
  const HOG = `${TEST_PREFIX}-hog`;
  const rootfsOn = (pc: string) => path.join(cluster.nodeDirs[pc]!, 'store', 'containers', HOG, 'bundle', 'rootfs');
  const migrateHog = (to: string) =>
    cluster.client.workflow.execute<typeof migrateContainer>('migrateContainer', {
      taskQueue: CONTROL_TASK_QUEUE,
      workflowId: `${TEST_PREFIX}-move-hog-${Date.now()}`,
      args: [{ containerId: HOG, to, reason: 'test' }],
    });
  /** Every message of an error and its causes, for what the user would read. */
  const messagesOf = (err: unknown): string => {
    const out: string[] = [];
    for (let e = err as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e)
      out.push(e.message ?? '');
    return out.join(' <- ');
  };

  beforeAll(async () => {
    const created = await cluster.api('POST', '/v1/containers', {
      id: HOG,
      args: ['/bin/counter'],
      env: ['MIB=1'],
      memoryMiB: 16,
      diskMiB: 8,
      cpus: 0.5,
      pids: 32,
      rootfs: { dir: await ensureCounterRootfs() },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ diskMiB: 8, cpus: 0.5, pids: 32 });
    expect((await cluster.api('POST', `/v1/containers/${HOG}/start`, { nodeId: 'pc1' })).status).toBe(200);
  });

  it('refuses to sync a rootfs over its disk quota: the container runs on where it was, none of it reaches the target', async () => {
    // What the student's program would write: 12 MiB more into a container with an 8 MiB quota.
    writeFileSync(path.join(rootfsOn('pc1'), 'fill'), randomBytes(12 << 20));
    const err = await migrateHog('pc2').then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(messagesOf(err)).toMatch(
      new RegExp(`container ${HOG}'s rootfs holds 1\\d\\.\\d MiB, over its disk quota of 8 MiB`),
    );
    expect(await cluster.runningOn(HOG)).toEqual(['pc1']);
    expect(existsSync(path.join(rootfsOn('pc2'), 'fill'))).toBe(false);
  });

  it('moves a 2 GiB sparse file within that quota, and it stays sparse on the target', async () => {
    rmSync(path.join(rootfsOn('pc1'), 'fill'));
    // `truncate -s 2G` and one byte written in the middle.
    execa.sync('truncate', ['-s', '2G', path.join(rootfsOn('pc1'), 'hole')]);
    execa.sync(
      'dd',
      [
        'if=/dev/urandom',
        `of=${path.join(rootfsOn('pc1'), 'hole')}`,
        'bs=4096',
        'count=1',
        'seek=262144',
        'conv=notrunc',
      ],
      { stderr: 'ignore' },
    );
    expect(await migrateHog('pc2')).toMatchObject({ to: 'pc2' });
    expect(await cluster.runningOn(HOG)).toEqual(['pc2']);
    const st = statSync(path.join(rootfsOn('pc2'), 'hole'));
    expect(st.size).toBe(2 ** 31);
    expect(st.blocks * 512).toBeLessThanOrEqual(1 << 20);
  });

  it("keeps the store out of reach of the PC's users: a setuid-root copy a container made does not run", async () => {
    // The container (root inside) makes a setuid-root copy of `id` in its rootfs, now on pc2.
    const copy = path.join(rootfsOn('pc2'), 'suid-id');
    copyFileSync('/usr/bin/id', copy);
    chmodSync(copy, 0o4755);
    const asNobody = (file: string) =>
      // runuser drops root before the exec (setpriv keeps its capabilities until the exec, path lookup included).
      execa('runuser', ['-u', 'nobody', '--', file, '-u'], { reject: false });
    const run = await asNobody(copy);
    expect(run.stdout).not.toBe('0');
    expect(run.stderr).toMatch(/Permission denied/);
    expect(statSync(cluster.nodeDirs['pc2']!).mode & 0o777).toBe(0o700);
    // The same copy where a user can reach it does run as root: what the store's mode prevents is real.
    const open = mkdtempSync(path.join(os.tmpdir(), 'zanshin-suid-'));
    try {
      chmodSync(open, 0o755);
      copyFileSync('/usr/bin/id', path.join(open, 'suid-id'));
      chmodSync(path.join(open, 'suid-id'), 0o4755);
      expect((await asNobody(path.join(open, 'suid-id'))).stdout).toBe('0');
    } finally {
      rmSync(open, { recursive: true, force: true });
    }
  });
  it('holds the container to the limits of its registration: a fork bomb stops at 32 processes, the PC is untouched', async () => {
    // HOG runs on pc2 now. Its cgroup, as the PC's kernel sees it.
    const state = await execa('runc', ['--root', path.join(cluster.nodeDirs['pc2']!, 'runc'), 'state', HOG]);
    const { pid } = JSON.parse(state.stdout) as { pid: number };
    const limit = (controller: string, v1: string, v2: string): string => {
      const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
      const v1Line = lines.find((l) => l.split(':')[1]!.split(',').includes(controller));
      const file = v1Line
        ? path.join('/sys/fs/cgroup', controller, v1Line.split(':')[2]!, v1)
        : path.join('/sys/fs/cgroup', lines.find((l) => l.startsWith('0::'))!.slice(3), v2);
      return readFileSync(file, 'utf8').trim();
    };
    expect(limit('memory', 'memory.limit_in_bytes', 'memory.max')).toBe(String(16 * 2 ** 20));
    expect(limit('pids', 'pids.max', 'pids.max')).toBe('32');
    expect(limit('cpu', 'cpu.cfs_quota_us', 'cpu.max').split(' ')[0]).toBe('50000');
    // The student's fork bomb (bounded here, so the test ends): 64 sleepers asked for, the rest refused.
    const bomb = await cluster.api('POST', `/v1/containers/${HOG}/exec`, {
      args: [
        '/bin/sh',
        '-c',
        'i=0; while [ $i -lt 64 ]; do /bin/sleep 30 </dev/null >/dev/null 2>&1 & i=$((i+1)); done; echo asked',
      ],
    });
    expect(bomb.status).toBe(200);
    expect(String(bomb.body.stderr)).toMatch(/fork|Resource temporarily unavailable/i);
    expect(Number(limit('pids', 'pids.current', 'pids.current'))).toBeLessThanOrEqual(32);
    expect(await cluster.runningOn(HOG)).toEqual(['pc2']);
  });
});

describe("a container's root and its users", () => {
  const APP = `${TEST_PREFIX}-nonroot`;
  const rootfsOn = (pc: string) => path.join(cluster.nodeDirs[pc]!, 'store', 'containers', APP, 'bundle', 'rootfs');
  const exec = async (id: string, script: string) => {
    const r = await cluster.api('POST', `/v1/containers/${id}/exec`, { args: ['/bin/busybox', 'sh', '-c', script] });
    expect(r.status).toBe(200);
    return r.body as { exitCode: number; stdout: string; stderr: string };
  };
  const lines = async () => Number((await exec(APP, 'busybox wc -l < /home/app/log')).stdout.trim());

  beforeAll(async () => {
    // The counter image with a home only user 1000 may enter; its program appends to a log there, as that user.
    const created = await cluster.api('POST', '/v1/containers', {
      id: APP,
      args: ['/bin/sh', '-c', 'umask 077; while :; do echo tick >> /home/app/log; /bin/sleep 0.2; done'],
      memoryMiB: 16,
      user: { uid: 1000, gid: 1000 },
      rootfs: { dir: ensurePrivateCopy(await ensureCounterRootfs(), 'home/app', { uid: 1000, gid: 1000 }) },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ user: { uid: 1000, gid: 1000 } });
  });

  // CRIU reads a program's limits with prlimit(2): for another user's process the kernel wants CAP_SYS_RESOURCE,
  // which root lacks on some sandboxed machines (this machine kind among them). Such a PC refuses the container
  // rather than run it and never move it; guest-pcs.test.ts moves a program running as user 1000 between guests.
  const rootHasSysResource = hasSysResource(readFileSync('/proc/self/status', 'utf8'));

  it('runs a program as user 1000 where CRIU can move it, and refuses it with the reason where it could not', async () => {
    const started = await cluster.api('POST', `/v1/containers/${APP}/start`, { nodeId: 'pc1' });
    if (!rootHasSysResource) {
      expect(started.status).toBeGreaterThanOrEqual(400);
      expect(String(started.body.message)).toMatch(
        new RegExp(
          `pc1 cannot checkpoint container ${APP}, whose program runs as uid 1000: its root lacks CAP_SYS_RESOURCE`,
        ),
      );
      expect(await cluster.runningOn(APP)).toEqual([]);
      return;
    }
    expect(started.status).toBe(200);
    await waitUntil(async () => (await lines()) > 3, 'the program to write its log');
    expect(await cluster.runningOn(APP)).toEqual(['pc1']);
    const moved = await cluster.client.workflow.execute<typeof migrateContainer>('migrateContainer', {
      taskQueue: CONTROL_TASK_QUEUE,
      workflowId: `${TEST_PREFIX}-move-nonroot-${Date.now()}`,
      args: [{ containerId: APP, to: 'pc2', reason: 'test' }],
    });
    expect(moved).toMatchObject({ to: 'pc2' });
    expect(await cluster.runningOn(APP)).toEqual(['pc2']);
    // On pc2 it appends on (it opens the file anew each time, so it needs the file to be its own still).
    const after = await lines();
    await waitUntil(async () => (await lines()) > after + 3, 'the moved program to write on');
    for (const [file, mode] of [
      ['home/app', 0o700],
      ['home/app/log', 0o600],
    ] as const) {
      const st = statSync(path.join(rootfsOn('pc2'), file));
      expect({ file, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 }).toEqual({ file, uid: 1000, gid: 1000, mode });
    }
    // The PC's kernel sees the program as user 1000, and a command run in the container is that user too.
    const state = await execa('runc', ['--root', path.join(cluster.nodeDirs['pc2']!, 'runc'), 'state', APP]);
    const { pid } = JSON.parse(state.stdout) as { pid: number };
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect((await exec(APP, 'busybox id -u')).stdout.trim()).toBe('1000');
    expect((await exec(APP, 'echo x >> /bin/busybox')).stderr).toMatch(/Permission denied/);
  });

  it("gives a container's root none of the PC's root powers (runc's few capabilities, no new privileges)", async () => {
    // VICTIM runs as root inside. Each of these works for root on the PC; each is refused in the container.
    const tries: Record<string, string> = {
      'make a device node': 'busybox mknod /tmp/mem c 1 1',
      'mount a filesystem': 'busybox mkdir -p /tmp/m && busybox mount -t tmpfs none /tmp/m',
      'give a file away': 'busybox chown 1000 /bin/busybox',
      "set the PC's clock": 'busybox date -s 2001-01-01',
      'write to the kernel': 'echo 1 > /proc/sys/vm/drop_caches',
      'trigger sysrq': 'echo h > /proc/sysrq-trigger',
    };
    for (const [what, script] of Object.entries(tries)) {
      const r = await exec(VICTIM, script);
      // busybox reports some refusals (date -s) without failing: the kernel's answer is in its message.
      const refused = r.exitCode !== 0 || /not permitted|denied/i.test(r.stderr);
      expect({ what, refused }).toEqual({ what, refused: true });
    }
    const status = (await exec(VICTIM, 'busybox cat /proc/self/status')).stdout;
    // CapEff of root inside: CAP_KILL | CAP_NET_BIND_SERVICE | CAP_AUDIT_WRITE at most, NoNewPrivs set.
    const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(status)![1]}`);
    const allowed = (1n << 5n) | (1n << 10n) | (1n << 29n);
    expect(capEff & ~allowed).toBe(0n);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
  });
});

describe('one move per container, however started', () => {
  const MOVER = `${TEST_PREFIX}-mover`;
  beforeAll(async () => {
    const created = await cluster.api('POST', '/v1/containers', {
      id: MOVER,
      args: ['/bin/counter'],
      env: ['MIB=1'],
      memoryMiB: 16,
      rootfs: { dir: await ensureCounterRootfs() },
    });
    expect(created.status).toBe(201);
    expect((await cluster.api('POST', `/v1/containers/${MOVER}/start`, { nodeId: 'pc1' })).status).toBe(200);
  });

  it('refuses moveContainer started from Temporal for a container migration-api keeps, moving nothing', async () => {
    const err = await cluster.client.workflow
      .execute<typeof moveContainer>('moveContainer', {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId: `${TEST_PREFIX}-raw-move-${Date.now()}`,
        args: [{ containerId: MOVER, from: 'pc1', to: 'pc2' }],
      })
      .then(
        () => null,
        (e: unknown) => e as WorkflowFailedError,
      );
    expect(err?.cause?.message).toMatch(
      new RegExp(`container ${MOVER} is registered with migration-api: move it with migrateContainer`),
    );
    expect(await cluster.runningOn(MOVER)).toEqual(['pc1']);
    expect((await cluster.api('GET', `/v1/containers/${MOVER}`)).body).toMatchObject({
      nodeId: 'pc1',
      state: 'running',
    });
  });

  it('lets one of two migrateContainer workflows started at once from Temporal move it; the other is refused', async () => {
    const start = (n: number) =>
      cluster.client.workflow.start<typeof migrateContainer>('migrateContainer', {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId: `${TEST_PREFIX}-twin-${n}-${Date.now()}`,
        args: [{ containerId: MOVER, to: 'pc2', reason: 'test' }],
      });
    const handles = await Promise.all([start(1), start(2)]);
    const outcomes = await Promise.all(
      handles.map((h) =>
        h.result().then(
          (r) => ({ moved: r.to }),
          (e: unknown) => ({ refused: rootCause(e).message }),
        ),
      ),
    );
    expect(outcomes.filter((o) => 'moved' in o)).toEqual([{ moved: 'pc2' }]);
    const refused = outcomes.find((o) => 'refused' in o) as { refused: string };
    // Started together, the other finds the container claimed; were it ever scheduled after the first had ended, it
    // would find it on pc2 already. Either way it moves nothing.
    expect(refused.refused).toMatch(/another migration holds it|already runs on pc2/);
    expect(await cluster.runningOn(MOVER)).toEqual(['pc2']);
    expect((await cluster.api('GET', `/v1/containers/${MOVER}`)).body).toMatchObject({
      nodeId: 'pc2',
      state: 'running',
    });
  });
});

describe("each PC's own migration-api credential", () => {
  const tokenOf = (nodeId: string) =>
    readFileSync(nodeCredentialFile(planCluster(cluster.config).paths.secrets, nodeId), 'utf8').trim();
  const report = (nodeId: string, token: string) =>
    fetch(`http://127.0.0.1:${cluster.config.apiPort}/v1/nodes/${nodeId}/report`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({}),
    });

  it("refuses a PC's credential used for another PC, and no credential at all", async () => {
    const res = await report('pc2', tokenOf('pc1'));
    expect(res.status).toBe(403);
    expect(((await res.json()) as { message: string }).message).toMatch(/credential of pc1 cannot report for pc2/);
    const stranger = await fetch(`http://127.0.0.1:${cluster.config.apiPort}/v1/nodes`, {
      headers: { authorization: 'Bearer not-a-credential' },
    });
    expect(stranger.status).toBe(401);
  });

  it('cuts a revoked PC off alone: its reports are refused, it is no longer listed, no one sends to it', async () => {
    const pc2Token = tokenOf('pc2');
    expect((await cluster.api('DELETE', '/v1/nodes/pc2/credential')).status).toBe(204);
    const refused = await report('pc2', pc2Token);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { message: string }).message).toMatch(/credential of PC pc2 was revoked/);
    const nodes = (await cluster.api('GET', '/v1/nodes')).body.nodes as { id: string; address: string }[];
    expect(nodes.map((n) => n.id)).toEqual(['pc1']);
    // pc1 no longer sends to pc2's data plane (its list of registered PCs is at most 10 s old).
    const pc2 = planCluster(cluster.config).nodes[1]!;
    await sleep(10_500);
    const failure = await refusal('pc1', 'sendCheckpoint', {
      containerId: VICTIM,
      generation: 1,
      target: {
        address: `${pc2.address}:7070`,
        transferId: '0f8e2b4c-1d2e-4f60-8a9b-0c1d2e3f4a5b',
        token: 'A'.repeat(43),
      },
    });
    expect(failure.message).toMatch(/is not the data plane of a registered PC \(registered: [^)]*\)/);
    expect(failure.message).not.toMatch(new RegExp(`registered: .*${pc2.address.replace(/\./g, '\\.')}`));
    // pc2's worker is cut off from Temporal too (the gate checks open connections every 2 s); pc1 answers.
    const probe = async (nodeId: string) =>
      (await withTemporalClient(clusterTemporal(cluster.config), (c) => probeNodes(c, [nodeId])))[0]!;
    expect((await probe('pc2')).error).toMatch(/did not answer on task queue node-pc2/);
    expect((await probe('pc1')).error).toBeUndefined();
    // pc1 goes on reporting.
    const pc1 = (await cluster.api('GET', '/v1/nodes/pc1')).body as { lastReportAt: string };
    await sleep(3_000);
    const later = (await cluster.api('GET', '/v1/nodes/pc1')).body as { lastReportAt: string };
    expect(new Date(later.lastReportAt).getTime()).toBeGreaterThan(new Date(pc1.lastReportAt).getTime());
  });
});
