// Owners (issue 31 part 2) against a real PostgreSQL and Temporal: each owner reaches only their own containers, and
// another owner's answers as absent (404) on every route. The routes come from /openapi.json: a route this file does
// not classify fails the test, so a new route cannot forget its owner check.
import type { Pool } from 'pg';
import { insertMigration } from '../../state/migrations';
import { callApi } from '../helpers/http';
import { sampleReport, startTestApi, TestApi } from '../helpers/api-server';

const ADMIN = 'admin-owners-test-token';
const tokens = { admin: ADMIN, pc1: '', alice: '', bob: '' };
let server: TestApi;
let pool: Pool;
let baseUrl: string;

const call = (method: string, url: string, token: string, body?: unknown) => callApi(baseUrl, method, url, token, body);

const IMAGE = 'docker://registry.campus.test/redis:7';
const ALICE_C = 'alice-redis';
const ALICE_MIGRATION = 'alice-redis-1796640000000';

const report = sampleReport({
  cpuFlags: ['sse4_2'],
  remnants: [
    {
      containerId: ALICE_C,
      hasBundle: true,
      generations: [1],
      imageBytes: 1000,
      leftAt: '2026-12-07T06:00:00.000Z',
      expiresAt: '2026-12-08T06:00:00.000Z',
    },
  ],
});

beforeAll(async () => {
  server = await startTestApi(ADMIN);
  ({ pool, baseUrl } = server);
  tokens.pc1 = (await call('POST', '/v1/nodes/pc1/credential', ADMIN, {})).body.token as string;
  expect((await call('PUT', '/v1/nodes/pc1/report', tokens.pc1, report)).status).toBe(200);
  const issue = async (owner: string, quota: object) => {
    const res = await call('POST', `/v1/owners/${owner}/token`, ADMIN, quota);
    expect(res.status).toBe(201);
    return res.body.token as string;
  };
  tokens.alice = await issue('alice', { containers: 2, memoryMiB: 1024, diskMiB: 4096 });
  tokens.bob = await issue('bob', {});
  const created = await call('POST', '/v1/containers', tokens.alice, {
    id: ALICE_C,
    memoryMiB: 256,
    rootfs: { image: IMAGE },
  });
  expect([created.status, created.body.owner]).toEqual([201, 'alice']);
  await insertMigration(pool, {
    id: ALICE_MIGRATION,
    workflowId: `migrate-${ALICE_C}`,
    runId: 'r1',
    containerId: ALICE_C,
    from: 'pc1',
    to: 'pc2',
    reason: 'test',
    decision: null,
  });
  await pool.query("UPDATE migrations SET status = 'completed', ended_at = now() WHERE id = $1", [ALICE_MIGRATION]);
  await pool.query('INSERT INTO lecture_conflicts (container_id, node_id, lecture_at) VALUES ($1, $2, now())', [
    ALICE_C,
    'pc1',
  ]);
}, 120_000);

afterAll(() => server?.stop());

/**
 * What bob (another owner) meets on each route, reached with alice's container, migration and owner id in its
 * parameters: 'absent' (404, her things do not exist for him), 'hides' (200, none of hers in the answer), or
 * 'refused' (403: an administrator's or a PC's route, whoever's the data), or 'own proof' (the route takes no bearer
 * token but a proof of its own, e.g. a join token: bob's token gets him nothing there, 401 or 503 without a CA). A
 * body is given where the route needs one.
 */
const ROUTES: Record<string, { bob: 'absent' | 'hides' | 'refused' | 'own proof'; body?: unknown; stream?: true }> = {
  'GET /health': { bob: 'hides' },
  'GET /v1/containers': { bob: 'hides' },
  'POST /v1/containers': { bob: 'refused', body: { id: 'bob-x', memoryMiB: 64, rootfs: { dir: '/' } } },
  'GET /v1/containers/{containerId}': { bob: 'absent' },
  'DELETE /v1/containers/{containerId}': { bob: 'absent' },
  'GET /v1/containers/{containerId}/placement': { bob: 'absent' },
  'POST /v1/containers/{containerId}/stop': { bob: 'absent' },
  'POST /v1/containers/{containerId}/exec': { bob: 'absent', body: { args: ['/bin/true'] } },
  'GET /v1/containers/{containerId}/logs': { bob: 'absent' },
  'POST /v1/containers/{containerId}/start': { bob: 'absent', body: {} },
  'POST /v1/migrations': { bob: 'absent', body: { containerId: ALICE_C } },
  'GET /v1/migrations': { bob: 'hides' },
  'GET /v1/migrations/{migrationId}': { bob: 'absent' },
  'GET /v1/events': { bob: 'hides', stream: true },
  'GET /v1/nodes': { bob: 'hides' },
  'GET /v1/nodes/{nodeId}': { bob: 'hides' },
  'PUT /v1/nodes/{nodeId}/report': { bob: 'refused', body: report },
  'POST /v1/nodes/{nodeId}/credential': { bob: 'refused', body: {} },
  'DELETE /v1/nodes/{nodeId}/credential': { bob: 'refused' },
  'POST /v1/nodes/{nodeId}/join-token': { bob: 'refused', body: {} },
  'POST /v1/enroll': { bob: 'own proof', body: { token: 'zj_none', certificateRequest: 'x' } },
  'GET /v1/nodes/{nodeId}/need': { bob: 'hides' },
  'GET /v1/rooms': { bob: 'hides' },
  'PUT /v1/rooms/{room}': { bob: 'refused', body: { nodes: ['pc1'] } },
  'POST /v1/lectures/imports': { bob: 'refused', body: { name: 'x', format: 'csv', content: 'x' } },
  'GET /v1/lectures': { bob: 'hides' },
  'GET /v1/lectures/conflicts': { bob: 'hides' },
  'GET /v1/owners': { bob: 'refused' },
  'GET /v1/owners/{ownerId}': { bob: 'refused' },
  'POST /v1/owners/{ownerId}/token': { bob: 'refused', body: {} },
  'DELETE /v1/owners/{ownerId}/token': { bob: 'refused' },
};

const ARGS: Record<string, string> = {
  containerId: ALICE_C,
  migrationId: ALICE_MIGRATION,
  nodeId: 'pc1',
  ownerId: 'alice',
  room: 'R101',
};

/** A stream's status and its first event (it never ends by itself). */
async function firstEventOf(url: string, token: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${baseUrl}${url}`, { headers: { authorization: `Bearer ${token}` } });
  const reader = res.body!.getReader();
  let text = '';
  while (res.ok && !text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value as Uint8Array);
  await reader.cancel();
  return { status: res.status, text };
}

async function documentedRoutes(): Promise<string[]> {
  const spec = (await call('GET', '/openapi.json', ADMIN)).body as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(spec.paths).flatMap(([p, methods]) =>
    Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`),
  );
}

it('classifies every route of /openapi.json (a new route must say what another owner meets there)', async () => {
  expect((await documentedRoutes()).sort()).toEqual(Object.keys(ROUTES).sort());
});

it("answers another owner's container, migration and remnants as absent on every route", async () => {
  const seen: string[] = [];
  for (const route of await documentedRoutes()) {
    const expected = ROUTES[route];
    if (!expected) continue; // the test above names it
    const [method, template] = route.split(' ') as [string, string];
    const url = template.replace(/\{(\w+)\}/g, (_, name: string) => ARGS[name]!);
    const res = expected.stream
      ? await firstEventOf(url, tokens.bob)
      : await call(method, url, tokens.bob, expected.body);
    const outcome =
      res.status === 404
        ? 'absent'
        : res.status === 403
          ? 'refused'
          : res.status === 200
            ? 'hides'
            : expected.bob === 'own proof' && [401, 503].includes(res.status)
              ? 'own proof'
              : `${res.status}`;
    seen.push(
      `${route} -> ${outcome}${outcome === 'hides' && res.text.includes(ALICE_C) ? ` (shows ${ALICE_C})` : ''}`,
    );
  }
  const wanted = Object.entries(ROUTES).map(([route, e]) => `${route} -> ${e.bob}`);
  expect(seen.sort()).toEqual(wanted.sort());
});

it('shows an owner their own container, its remnant, migration and conflict; an administrator sees all', async () => {
  const mine = await call('GET', `/v1/containers/${ALICE_C}`, tokens.alice);
  expect([mine.status, mine.body.owner, (mine.body.remnants as { nodeId: string }[]).map((r) => r.nodeId)]).toEqual([
    200,
    'alice',
    ['pc1'],
  ]);
  for (const url of ['/v1/containers', '/v1/migrations', '/v1/nodes/pc1', '/v1/lectures/conflicts'])
    expect((await call('GET', url, tokens.alice)).text).toContain(ALICE_C);
  expect((await call('GET', `/v1/migrations/${ALICE_MIGRATION}`, tokens.alice)).status).toBe(200);
  const all = await call('GET', '/v1/containers', ADMIN);
  expect((all.body.containers as { id: string }[]).map((c) => c.id)).toContain(ALICE_C);
  const self = await call('GET', '/v1/owners/alice', tokens.alice);
  expect(self.body.usage).toEqual({ containers: 1, memoryMiB: 256, diskMiB: 2048 }); // the default disk quota
});

it('keeps owners within their quotas, to registry images, and off the routes of PCs and administrators', async () => {
  const create = (id: string, memoryMiB: number, rootfs: object = { image: IMAGE }) =>
    call('POST', '/v1/containers', tokens.alice, { id, memoryMiB, rootfs });
  const tooBig = await create('alice-big', 1024);
  expect([tooBig.status, tooBig.body.message]).toEqual([
    409,
    expect.stringMatching(/owner alice is over quota \(memory 256 \+ 1024 MiB > 1024 MiB\)/),
  ]);
  expect((await create('alice-2', 128)).status).toBe(201);
  expect((await create('alice-3', 128)).body.message).toMatch(/containers 2 \+ 1 > 2/);
  const dir = await create('alice-dir', 64, { dir: '/' });
  expect([dir.status, dir.body.message]).toEqual([403, expect.stringMatching(/registry images only/)]);
  // A PC's credential does not create containers; bob cannot delete alice's.
  const byPc = await call('POST', '/v1/containers', tokens.pc1, {
    id: 'pc-x',
    memoryMiB: 64,
    rootfs: { image: IMAGE },
  });
  expect(byPc.status).toBe(403);
  expect((await call('DELETE', '/v1/containers/alice-2', tokens.bob)).status).toBe(404);
  expect((await call('DELETE', '/v1/containers/alice-2', tokens.alice)).status).toBe(204);
});

it('cuts an owner off when their token is revoked, and a reissued token replaces the old one', async () => {
  const old = tokens.bob;
  const reissued = await call('POST', '/v1/owners/bob/token', ADMIN, { containers: 5 });
  expect([reissued.status, reissued.body.quota]).toEqual([201, { containers: 5, memoryMiB: 2048, diskMiB: 8192 }]);
  expect((await call('GET', '/v1/containers', old)).status).toBe(401);
  const fresh = reissued.body.token as string;
  expect((await call('GET', '/v1/containers', fresh)).status).toBe(200);
  expect((await call('DELETE', '/v1/owners/bob/token', ADMIN)).status).toBe(204);
  const revoked = await call('GET', '/v1/containers', fresh);
  expect([revoked.status, revoked.body.message]).toEqual([401, expect.stringMatching(/owner bob was revoked/)]);
  expect((await call('DELETE', '/v1/owners/bob/token', ADMIN)).status).toBe(404);
  const listed = await call('GET', '/v1/owners', ADMIN);
  expect((listed.body.owners as { id: string }[]).map((o) => o.id)).toEqual(['alice', 'bob']);
});
