// Containers from OCI images (issue 31): a root redis image made here from Debian's packages (umoci), pulled by the
// PCs with skopeo, its config applied, moved pc1 -> pc2 -> pc1 with its files sent at most once; a second container
// from it pulls nothing, and a first move to a PC that holds the image sends none of its files.
import execa, { ExecaChildProcess } from 'execa';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ContainerNetwork } from '../../domain/container-network';
import { ensureDebianRootfs, REDIS_ROOTFS } from '../../infra/images/debian-rootfs';
import { RedisLanClient } from '../../infra/demo/lan-client';
import { planCluster } from '../../infra/cluster/plan';
import { RemnantStore } from '../../node/store';
import type { MigrationResult } from '../../workflows/migrate-container';
import { LiveCluster } from '../helpers/live-cluster';
import { TEST_PREFIX } from '../helpers/names';
import { launchBrowser, loggedIn, screenshot } from '../helpers/browser';

const cluster = new LiveCluster();
// A student's laptop on the LAN: the clients run there, and so does the campus registry (Debian's docker-registry).
const laptop = () => planCluster(cluster.config).user;
const REGISTRY_PORT = 5000;
let registry: ExecaChildProcess | null = null;
let registryDir = '';
// Under the PCs' default rootfs roots (<cache>/images), as an administrator would keep images for file transports.
const LAYOUT = `/var/cache/zanshin/images/${TEST_PREFIX}-oci`;
const IMAGE = `oci:${LAYOUT}:redis`;
let rootfsBytes = 0;

/** Debian's redis as a root OCI image: entrypoint, command, working directory, environment, an exposed port. */
async function makeRedisImage(): Promise<void> {
  const rootfs = await ensureDebianRootfs(REDIS_ROOTFS);
  rootfsBytes = Number((await execa('du', ['-sb', rootfs])).stdout.split('\t')[0]);
  await rm(LAYOUT, { recursive: true, force: true });
  const bundle = `${LAYOUT}.bundle`;
  await rm(bundle, { recursive: true, force: true });
  await execa('umoci', ['init', '--layout', LAYOUT]);
  await execa('umoci', ['new', '--image', `${LAYOUT}:base`]);
  await execa('umoci', ['unpack', '--image', `${LAYOUT}:base`, bundle]);
  await execa('cp', ['-a', `${rootfs}/.`, path.join(bundle, 'rootfs')]);
  await execa('mkdir', ['-p', path.join(bundle, 'rootfs', 'srv', 'redis')]);
  // An entrypoint that hands redis to another user, as many published images do.
  await execa('mkdir', ['-p', path.join(bundle, 'rootfs', 'usr', 'local', 'bin')]);
  await writeFile(
    path.join(bundle, 'rootfs', 'usr', 'local', 'bin', 'entry.sh'),
    '#!/bin/sh\n# run as redis, not root\nexec setpriv --reuid=100 --regid=100 --clear-groups /usr/bin/redis-server "$@"\n',
    { mode: 0o755 },
  );
  await execa('umoci', ['repack', '--image', `${LAYOUT}:base`, bundle]);
  await rm(bundle, { recursive: true, force: true });
  await execa('umoci', [
    'config',
    ...['--image', `${LAYOUT}:base`, '--tag', 'redis'],
    ...['--config.entrypoint', '/usr/bin/redis-server'],
    ...['--config.cmd', '--protected-mode', '--config.cmd', 'no', '--config.cmd', '--enable-debug-command'],
    ...['--config.cmd', 'yes', '--config.cmd', '--appendonly', '--config.cmd', 'no'],
    ...['--config.workingdir', '/srv/redis', '--config.env', 'REDIS_FROM=image'],
    ...['--config.exposedports', '6379/tcp'],
  ]);
  // The same image run as uid 100, and one whose root entrypoint drops to it.
  await execa('umoci', ['config', '--image', `${LAYOUT}:redis`, '--tag', 'redis-user', '--config.user', '100:100']);
  await execa('umoci', [
    'config',
    ...['--image', `${LAYOUT}:redis`, '--tag', 'redis-drop', '--config.entrypoint', '/usr/local/bin/entry.sh'],
  ]);
}

beforeAll(async () => {
  // The PCs pull from the laptop's registry without TLS (a campus registry with a self-signed certificate).
  process.env.ZANSHIN_INSECURE_REGISTRIES = `10.94.0.9:${REGISTRY_PORT}`;
  try {
    await Promise.all([cluster.start('10.94.0', 3), makeRedisImage()]);
  } finally {
    delete process.env.ZANSHIN_INSECURE_REGISTRIES;
  }
}, 240_000);
afterAll(async () => {
  registry?.kill('SIGTERM');
  await registry?.catch(() => undefined);
  await cluster.stop();
  await rm(LAYOUT, { recursive: true, force: true });
  if (registryDir) await rm(registryDir, { recursive: true, force: true });
}, 120_000);

async function createFromImage(id: string, nodeId: string): Promise<ContainerNetwork> {
  const created = await cluster.api('POST', '/v1/containers', { id, memoryMiB: 256, rootfs: { image: IMAGE } });
  expect(created.status).toBe(201);
  const started = await cluster.api('POST', `/v1/containers/${id}/start`, { nodeId });
  expect(started.body).toMatchObject({ nodeId, state: 'running' });
  return created.body.network as ContainerNetwork;
}

const migrate = (containerId: string, to: string): Promise<MigrationResult> => cluster.migrate(containerId, to);

/** Bytes the rootfs syncs of a move put on the wire. */
const bundleWire = (r: MigrationResult): number =>
  r.transfers.filter((t) => t.kind === 'bundle').reduce((n, t) => n + t.wireBytes, 0);

/** What a PC holds of images: unpacked images, and each layout blob with its modification time. */
async function imagesOn(node: string): Promise<{ unpacked: string[]; blobs: Record<string, number> }> {
  const root = path.join(cluster.nodeDirs[node]!, 'images');
  const unpacked = await readdir(path.join(root, 'unpacked')).catch(() => [] as string[]);
  const blobs: Record<string, number> = {};
  const dir = path.join(root, 'layout', 'blobs', 'sha256');
  for (const b of await readdir(dir).catch(() => [] as string[])) blobs[b] = (await stat(path.join(dir, b))).mtimeMs;
  return { unpacked, blobs };
}

describe('containers from OCI images', () => {
  const R1 = `${TEST_PREFIX}-img1`;
  it('runs the image as configured, and moves pc1 -> pc2 -> pc1 sending its files at most once', async () => {
    const net = await createFromImage(R1, 'pc1');
    const spec = await new RemnantStore(path.join(cluster.nodeDirs.pc1!, 'store')).readSpec(R1);
    expect(spec).toMatchObject({
      args: ['/usr/bin/redis-server', '--protected-mode', 'no', '--enable-debug-command', 'yes', '--appendonly', 'no'],
      cwd: '/srv/redis',
      ports: ['6379/tcp'],
    });
    expect(spec!.image?.ref).toBe(IMAGE);
    expect(spec!.image?.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(spec!.env).toContain('REDIS_FROM=image');
    expect(spec!.user).toBeUndefined(); // a root image
    const client = new RedisLanClient(laptop().namespace, net.address);
    try {
      await client.connected();
      // redis keeps its files in its working directory: the image's.
      expect(await client.command('CONFIG', 'GET', 'dir')).toEqual(['dir', '/srv/redis']);
      expect(await client.command('DEBUG', 'POPULATE', '20000', 'key', '64')).toBe('OK');
      const digest = await client.command('DEBUG', 'DIGEST');
      const there = await migrate(R1, 'pc2');
      expect(await client.command('DEBUG', 'DIGEST')).toBe(digest);
      const back = await migrate(R1, 'pc1');
      expect(await cluster.runningOn(R1)).toEqual(['pc1']);
      expect(await client.command('DEBUG', 'DIGEST')).toBe(digest);
      // pc2 held nothing of it: the first move carried the image's files once; the way back found them in pc1's
      // remnant. Both moves together: at most the image once (compressed, so less).
      console.log(
        `image moves: rootfs ${rootfsBytes} bytes; bundle on the wire ${bundleWire(there)} then ${bundleWire(back)}`,
      );
      expect(bundleWire(there)).toBeGreaterThan(rootfsBytes / 20);
      expect(bundleWire(there) + bundleWire(back)).toBeLessThan(rootfsBytes);
      expect(bundleWire(back)).toBeLessThan(rootfsBytes / 50);
    } finally {
      client.close();
    }
  }, 240_000);

  it('a second container from it pulls nothing; a first move to a PC holding the image sends none of its files', async () => {
    const R2 = `${TEST_PREFIX}-img2`;
    const R3 = `${TEST_PREFIX}-img3`;
    // pc2 pulls the image for a container of its own (the container R1 left there is a remnant, not the image).
    await createFromImage(R2, 'pc2');
    expect((await imagesOn('pc2')).unpacked).toHaveLength(1);
    // pc1 pulled it for R1: a second container from it fetches no blob and unpacks nothing.
    const before = await imagesOn('pc1');
    expect(before.unpacked).toHaveLength(1);
    await createFromImage(R3, 'pc1');
    expect(await imagesOn('pc1')).toEqual(before);
    // R3 was never on pc2, which holds the image: its rootfs is found there, file by file.
    const moved = await migrate(R3, 'pc2');
    expect(moved.targetHadRemnant).toBe(false);
    console.log(`first move to a PC holding the image: bundle on the wire ${bundleWire(moved)} of ${rootfsBytes}`);
    expect(bundleWire(moved)).toBeLessThan(rootfsBytes / 50);
  }, 240_000);

  it('pulls an image from a registry over docker:// on a PC that holds nothing of it, for an owner who moves it', async () => {
    registryDir = await mkdtemp(path.join(os.tmpdir(), 'zanshin-registry-'));
    const config = path.join(registryDir, 'config.yml');
    const { namespace, address } = laptop();
    const where = `${address}:${REGISTRY_PORT}`;
    await writeFile(
      config,
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${registryDir}/data\nhttp:\n  addr: ${where}\n`,
    );
    registry = execa('ip', ['netns', 'exec', namespace, 'docker-registry', 'serve', config], { reject: false });
    const push = () =>
      execa('ip', [
        'netns',
        'exec',
        namespace,
        'skopeo',
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        IMAGE,
        `docker://${where}/campus/redis:1`,
      ]);
    // Up within a few seconds of its start.
    for (let i = 0; ; i++) {
      const r = await push().catch((e: Error) => e);
      if (!(r instanceof Error)) break;
      if (i === 50) throw r;
      await new Promise((res) => setTimeout(res, 200));
    }
    expect((await imagesOn('pc3')).unpacked).toEqual([]);
    // A student (an owner) runs it: created, started, exec'd into, read and moved with their own token.
    const issue = async (owner: string) =>
      String((await cluster.api('POST', `/v1/owners/${owner}/token`, { containers: 2, memoryMiB: 512 })).body.token);
    const [student, other] = [await issue('student'), await issue('other')];
    const asStudent = (method: string, route: string, body?: unknown) => cluster.api(method, route, body, student);
    const R4 = `${TEST_PREFIX}-img4`;
    const created = await asStudent('POST', '/v1/containers', {
      id: R4,
      memoryMiB: 256,
      rootfs: { image: `docker://${where}/campus/redis:1` },
    });
    expect([created.status, created.body.owner]).toEqual([201, 'student']);
    const started = await asStudent('POST', `/v1/containers/${R4}/start`, { nodeId: 'pc3' });
    expect(started.body).toMatchObject({ nodeId: 'pc3', state: 'running' });
    expect((await imagesOn('pc3')).unpacked).toHaveLength(1);
    const client = new RedisLanClient(namespace, (created.body.network as ContainerNetwork).address);
    try {
      await client.connected();
      expect(await client.command('CONFIG', 'GET', 'dir')).toEqual(['dir', '/srv/redis']);
    } finally {
      client.close();
    }
    const ran = await asStudent('POST', `/v1/containers/${R4}/exec`, { args: ['/usr/bin/redis-server', '--version'] });
    expect([ran.status, String(ran.body.stdout)]).toEqual([200, expect.stringMatching(/^Redis server v=/)]);
    expect((await asStudent('GET', `/v1/containers/${R4}/logs`)).status).toBe(200);
    // To another owner it does not exist.
    expect((await cluster.api('GET', `/v1/containers/${R4}`, undefined, other)).status).toBe(404);
    expect((await cluster.api('POST', '/v1/migrations', { containerId: R4, to: 'pc1' }, other)).status).toBe(404);
    // The web view, in a real browser: the student sees their container and follows its move live; the other owner
    // sees none of it.
    // One room, its three PCs in a row (the page draws it as a floor plan).
    const plan = ['pc1', 'pc2', 'pc3'].map((id, i) => ({ id, row: 1, seat: i + 1 }));
    expect((await cluster.api('PUT', '/v1/rooms/R101', { nodes: plan })).status).toBe(200);
    const browser = await launchBrowser();
    try {
      const site = `http://127.0.0.1:${cluster.config.apiPort}`;
      const page = await loggedIn(browser, site, student);
      expect(await page.textContent('#who')).toBe('owner student');
      await page.waitForSelector(`#containers td:text-is("${R4}")`);
      const asked = await asStudent('POST', '/v1/migrations', { containerId: R4, to: 'pc1' });
      expect(asked.status).toBe(202);
      // Seen progressing: the move's box names a step it has reached (they come from the workflow's progress query).
      const live = `#live .live[data-migration="${String(asked.body.id)}"] .step`;
      await page
        .locator(live)
        .filter({ hasText: / step [1-9]\d*: \S/ })
        .waitFor({ timeout: 60_000 });
      const step = await page.textContent(live);
      console.log(`web view, live:${step} (${await screenshot(page, 'live-migration')})`);
      await cluster.client.workflow.getHandle(String(asked.body.workflowId)).result();
      await page.waitForSelector(`#history tr:has(td:text-is("${String(asked.body.id)}")) .status-completed`);
      // The room's plan shows it on pc1 now; its row names the remnant pc3 keeps (once pc3 has reported it).
      await page.locator('.room[data-room="R101"] .pc[data-pc="pc1"] .held').filter({ hasText: R4 }).waitFor();
      const row = page.locator(`#containers tr:has(td:text-is("${R4}"))`);
      await row
        .locator('td')
        .filter({ hasText: /^pc3 \(\d+\.\d MB\)$/ })
        .waitFor({ timeout: 30_000 });
      // Its logs, read from pc1 through the page: redis's own start-up lines.
      await row.locator('button[data-logs]').click();
      await page.locator('#logs-text').filter({ hasText: 'Ready to accept connections' }).waitFor();
      expect(await page.textContent('#logs-title')).toMatch(
        new RegExp(`^Logs of ${R4} on pc1 \\(stdout, last \\d+ of \\d+ bytes\\)$`),
      );
      await screenshot(page, 'campus');
      const others = await loggedIn(browser, site, other);
      expect(await others.locator('#containers td').allTextContents()).toEqual([]);
      expect(await others.content()).not.toContain(R4);
    } finally {
      await browser.close();
    }
    const [latest] = (await asStudent('GET', `/v1/migrations?containerId=${R4}`)).body.migrations as { id: string }[];
    const moved = await asStudent('GET', `/v1/migrations/${latest!.id}`);
    expect([moved.body.status, moved.body.reason, await cluster.runningOn(R4)]).toEqual([
      'completed',
      'requested by its owner student',
      ['pc1'],
    ]);
    // A name no registry serves is refused at the start, naming the image and what skopeo said.
    const R5 = `${TEST_PREFIX}-img5`;
    expect(
      (
        await cluster.api('POST', '/v1/containers', {
          id: R5,
          memoryMiB: 64,
          rootfs: { image: `docker://${where}/campus/none:1` },
        })
      ).status,
    ).toBe(201);
    const refused = await cluster.api('POST', `/v1/containers/${R5}/start`, { nodeId: 'pc3' });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(refused.body)).toMatch(/reading image docker:\/\/.*campus\/none:1 on pc3 failed/);
  }, 240_000);

  it('refuses, at creation, an image whose program would run as another user on a PC that cannot checkpoint it', async () => {
    const node = await cluster.api('GET', '/v1/nodes/pc1');
    const fullRoot = (node.body as { checkpointsOtherUsers?: boolean | null }).checkpointsOtherUsers === true;
    for (const [tag, why] of [
      ['redis-user', /cannot checkpoint container .* whose program runs as uid 100/],
      [
        'redis-drop',
        /its image's entrypoint \/usr\/local\/bin\/entry\.sh hands the program to another user \(setpriv\)/,
      ],
    ] as const) {
      const id = `${TEST_PREFIX}-${tag}`;
      const created = await cluster.api('POST', '/v1/containers', {
        id,
        memoryMiB: 64,
        rootfs: { image: `oci:${LAYOUT}:${tag}` },
      });
      expect(created.status).toBe(201);
      const started = await cluster.api('POST', `/v1/containers/${id}/start`, { nodeId: 'pc1' });
      if (fullRoot) expect(started.body).toMatchObject({ nodeId: 'pc1', state: 'running' });
      else {
        expect(started.status).toBeGreaterThanOrEqual(400);
        expect(JSON.stringify(started.body)).toMatch(why);
        expect(await cluster.runningOn(id)).toEqual([]);
      }
    }
  }, 120_000);
});
