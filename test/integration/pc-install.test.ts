// A PC installed the documented way (issue 32 parts 3 and 4): a guest PC booting a Debian 12 image with systemd as
// PID 1 (its own kernel and files, nothing of Zanshin in it) is installed by infra/pc/install.sh from the PC bundle
// and enrolled with a join token, exactly as the README's "Deploying on a campus" gives it. It reaches Temporal (the
// full server, per-PC authorization) and migration-api over TCP and TLS. Then it takes part in a migration with a
// host PC: a student logs in at its keyboard (QEMU types on tty1), its worker notices through logind and its web
// server leaves for pc1; after the logout and the idle time it is offered again, and a second server starts there;
// powered off through ACPI, systemd stops zanshin-evacuate, whose stop moves that server to pc1.
import execa from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ContainerNetwork } from '../../domain/container-network';
import { clusterStatus } from '../../infra/cluster/cluster';
import { planCluster } from '../../infra/cluster/plan';
import { httpGetFrom } from '../../infra/demo/lan-client';
import { ensureDebianRootfs, HTTPD_ROOTFS } from '../../infra/images/debian-rootfs';
import { LiveCluster, sleep, until } from '../helpers/live-cluster';
import { TEST_PREFIX } from '../helpers/names';

jest.setTimeout(900_000);

const cluster = new LiveCluster();
const HTTPD = `${TEST_PREFIX}-ihttpd`;
const HTTPD2 = `${TEST_PREFIX}-ihttpd2`;

beforeAll(async () => {
  await Promise.all([
    // Reports every 10 s and a lease of 60 s: a PC under emulation answers late without fencing itself.
    cluster.start('10.86.0', 1, {
      temporal: 'server',
      vmNodes: 1,
      vmInstall: true,
      vmMemoryMiB: 1536,
      vmDiskGiB: 2,
      loadReportSeconds: 10,
      leaseSeconds: 60,
      recoveryAfterSeconds: 90,
      seatIdleSeconds: 5,
    }),
    ensureDebianRootfs(HTTPD_ROOTFS),
  ]);
}, 900_000);

afterAll(() => cluster.stop(), 180_000);

const vm1 = () => planCluster(cluster.config).nodes.find((n) => n.id === 'vm1')!;
/** A student's laptop on the LAN (a PC cannot reach its own containers: they are macvlan children of its card). */
const laptop = () => planCluster(cluster.config).user.namespace;
const consoleLines = (pattern: RegExp) => cluster.logLines(pattern, 0).filter((l) => pattern.test(l));

it('installs a Debian 12 PC with install.sh: systemd runs its worker, fence and power-off units; its join token is spent', async () => {
  expect(consoleLines(/zanshin-rig: install\.sh exit 0/)).toHaveLength(1);
  expect(consoleLines(/^.*sh\[\d+\]: active active active\s*$/)).toHaveLength(1);
  // Its worker polls node-vm1 with the certificate it got at enrollment: the cluster waited for that to start.
  const status = await clusterStatus(cluster.config);
  expect(status.parts.filter((p) => !p.up)).toEqual([]);
  // Enrolled through migration-api: its credential is bound to its own certificate, and it reports.
  let reported: { id: string; dirtyTracking: boolean }[] = [];
  for (let i = 0; i < 60 && !reported.some((n) => n.id === 'vm1'); i++) {
    reported = (await cluster.api('GET', '/v1/nodes')).body.nodes as typeof reported;
    await sleep(1000);
  }
  expect(reported.find((n) => n.id === 'vm1')).toMatchObject({ dirtyTracking: true });
  // The token on the "USB stick" was single use: enrolling with it again is refused.
  const token = readFileSync(path.join(vm1().dataDir, 'setup', 'join-token'), 'utf8');
  const again = await fetch(`http://127.0.0.1:${cluster.config.apiPort}/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, certificateRequest: '-----BEGIN CERTIFICATE REQUEST-----\n' }),
  });
  expect(again.status).toBeGreaterThanOrEqual(400);
  expect(again.status).toBeLessThan(500);
});

/** Types on the PC's own keyboard (QEMU's sendkey through its monitor): letters, digits and Enter. */
async function typeOnVm1(text: string): Promise<void> {
  const keys = [...text].map((c) => {
    if (c === '\n') return 'sendkey ret';
    if (!/^[a-z0-9]$/.test(c)) throw new Error(`cannot type ${JSON.stringify(c)} with sendkey here`);
    return `sendkey ${c}`;
  });
  await execa('socat', ['-', `UNIX-CONNECT:${path.join(vm1().dataDir, 'monitor.sock')}`], {
    input: `${keys.join('\n')}\n`,
  });
}

const url = () => `http://${address}:8080/`;

/** busybox httpd from the "USB stick", created and started on vm1; its address. */
async function webServerOnVm1(id: string): Promise<string> {
  const created = await cluster.api('POST', '/v1/containers', {
    id,
    args: ['/bin/httpd', '-f', '-p', '8080', '-h', '/www'],
    memoryMiB: 64,
    rootfs: { dir: '/media/setup/httpd-rootfs' },
  });
  expect(created.status).toBe(201);
  const started = await cluster.api('POST', `/v1/containers/${id}/start`, { nodeId: 'vm1' });
  expect(started.body).toMatchObject({ nodeId: 'vm1', state: 'running' });
  return (created.body.network as ContainerNetwork).address;
}
let address = '';

const placementOf = async (id: string) =>
  (
    (await cluster.api('GET', `/v1/containers/${id}/placement`)).body as {
      candidates: { nodeId: string; excludedBecause: string[] }[];
    }
  ).candidates.find((c) => c.nodeId === 'vm1')?.excludedBecause ?? [];

it('notices its user: a real login on its screen clears it, placement leaves it alone until the idle time after the logout', async () => {
  // The web server's files reach the PC on its "USB stick" (the share is live: copied now, seen in the guest).
  const rootfs = path.join(vm1().dataDir, 'setup', 'httpd-rootfs');
  // cp -a: links kept as they are (busybox's applets are relative links), owners and modes too.
  if (!existsSync(rootfs)) await execa('cp', ['-a', await ensureDebianRootfs(HTTPD_ROOTFS), rootfs]);
  address = await webServerOnVm1(HTTPD);
  expect(await httpGetFrom(laptop(), url(), 60_000)).toContain('zanshin httpd test page');
  expect(await placementOf(HTTPD)).toEqual(['it is the source']);

  // A student logs in at the PC's keyboard: getty and login on tty1, a logind session on seat0.
  const password = readFileSync(path.join(vm1().dataDir, 'setup', 'student-password'), 'utf8');
  const typedAt = Date.now();
  await typeOnVm1(`student\n`);
  await sleep(3_000); // login asks for the password once it has read the name
  await typeOnVm1(`${password}\n`);
  const told = await until(
    "the PC's notice of its user",
    () => consoleLines(/in use: student \(session \S+, tty\) since .*; seen \d+ ms after the session began/),
    (lines) => lines.length > 0,
    60_000,
  );
  const [, seenMs, signalledMs] = /seen (\d+) ms .* (\d+) ms after$/.exec(told[0]!.trim())!.map(Number);
  console.log(
    `login on vm1's tty1 (TCG guest): seen ${seenMs} ms after logind's session began, signal answered by Temporal ` +
      `${signalledMs} ms after`,
  );
  expect(signalledMs).toBeLessThanOrEqual(2_000);
  await until(
    'httpd off vm1',
    () => cluster.runningOn(HTTPD),
    (on) => on.length === 1 && on[0] === 'pc1',
    300_000,
  );
  console.log(`vm1 cleared ${Date.now() - typedAt} ms after the name was typed (TCG guest)`);
  expect(await httpGetFrom(laptop(), url(), 60_000)).toContain('zanshin httpd test page');
  const history = (await cluster.api('GET', `/v1/migrations?containerId=${HTTPD}`)).body.migrations as {
    from: string;
    to: string;
    reason: string;
  }[];
  expect(history.map((m) => [m.from, m.to, m.reason])).toEqual([['vm1', 'pc1', 'student at the keyboard of vm1']]);
  // (httpd ran on pc1 now: vm1's CPU lacks what pc1's has, so it is refused for that too, whatever its seat.)
  expect(await placementOf(HTTPD)).toContain('in use: student is logged in at it');

  // The student logs out: offered again once the idle time (ZANSHIN_SEAT_IDLE_SECONDS, 5 s here) has passed.
  await typeOnVm1('exit\n');
  await until(
    'the logout noticed',
    () => consoleLines(/free: student logged out/),
    (l) => l.length > 0,
    60_000,
  );
  await until(
    'vm1 offered again',
    () => placementOf(HTTPD),
    (why) => !why.some((w) => w.startsWith('in use')),
    60_000,
  );
});

it('takes part in a migration with a host PC: powered off, systemd evacuates its web server to pc1', async () => {
  // A second web server, started on vm1 now that it is offered again.
  const url2 = `http://${await webServerOnVm1(HTTPD2)}:8080/`;
  expect(await httpGetFrom(laptop(), url2, 60_000)).toContain('zanshin httpd test page');
  // The power button: systemd shuts the PC down, stopping zanshin-evacuate before the network and the worker.
  await execa('socat', ['-', `UNIX-CONNECT:${path.join(vm1().dataDir, 'monitor.sock')}`], {
    input: 'system_powerdown\n',
  });
  let on: string[] = [];
  for (let i = 0; i < 300 && !on.includes('pc1'); i++) {
    on = await cluster.runningOn(HTTPD2);
    await sleep(1000);
  }
  expect(on).toEqual(['pc1']);
  expect(await httpGetFrom(laptop(), url2, 60_000)).toContain('zanshin httpd test page');
  const history = (await cluster.api('GET', `/v1/migrations?containerId=${HTTPD2}`)).body.migrations as {
    from: string;
    to: string;
    status: string;
    reason: string;
  }[];
  expect(history.map((m) => [m.from, m.to, m.status, m.reason])).toEqual([
    ['vm1', 'pc1', 'completed', 'power-off of vm1'],
  ]);
  // The guest's own journal line, printed on its console as it went down.
  for (let i = 0; i < 60 && !consoleLines(/containers of vm1 evacuated/).length; i++) await sleep(1000);
  expect(consoleLines(/containers of vm1 evacuated \(1 moved\)/)).toHaveLength(1);
});
