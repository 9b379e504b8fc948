// migration-api against a real PostgreSQL server.
import type { FastifyInstance } from 'fastify';
import { Pool } from 'pg';
import { buildApi } from '../../api/app';
import { migrate } from '../../api/db';
import { extendLectureWindows } from '../../api/lecture-window';
import { DEFAULT_LECTURE_WINDOW_DAYS } from '../../common/names';
import { createPool } from '../../state/db';
import { REPO_ROOT } from '../../common/paths';
import execa from 'execa';
import { nextEpochIfSilent } from '../../state/containers';
import { createControlActivities } from '../../activities/control';
import { DEFAULT_POLICY } from '../../domain/placement';
import type { NodeReport } from '../../domain/node-report';
import { startTestPostgres, TestPostgres } from '../helpers/postgres';
import { startTestTemporal } from '../helpers/temporal';
import { callApi } from '../helpers/http';
import { sampleReport } from '../helpers/api-server';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The administrator's token, and each PC's own credential (issued by the API in beforeAll). */
const tokens = { adminToken: 'admin-test-token', nodeToken: '', pc2Token: '', pc3Token: '' };
let pg: TestPostgres;
let temporal: TestWorkflowEnvironment;
let pool: Pool;
let api: FastifyInstance;
let baseUrl: string;

/** Real HTTP against a listening server (fastify's inject needs an ESM-only module jest cannot load). */
async function get(base: string, url: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${url}`, { headers });
  return { statusCode: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function send(method: string, url: string, body: unknown, token: string) {
  const res = await callApi(baseUrl, method, url, token, body);
  return { statusCode: res.status, body: res.body };
}
const put = (url: string, body: unknown, token: string) => send('PUT', url, body, token);
const post = (url: string, body: unknown, token = tokens.adminToken) => send('POST', url, body, token);

const admin = { authorization: `Bearer ${tokens.adminToken}` };

beforeAll(async () => {
  [pg, temporal] = await Promise.all([startTestPostgres(), startTestTemporal()]);
  pool = createPool(pg.url, 10, () => undefined); // teardown stops PostgreSQL under idle connections
  await migrate(pool);
  api = buildApi({ db: pool, temporal: temporal.client, adminToken: tokens.adminToken });
  baseUrl = await api.listen({ host: '127.0.0.1', port: 0 });
  const issue = async (nodeId: string) => {
    const res = await post(`/v1/nodes/${nodeId}/credential`, {});
    expect(res.statusCode).toBe(201);
    return String(res.body.token);
  };
  tokens.nodeToken = await issue('pc1');
  tokens.pc2Token = await issue('pc2');
  tokens.pc3Token = await issue('pc3');
});

afterAll(async () => {
  await api?.close();
  await pool?.end();
  await pg?.stop();
  await temporal?.teardown();
});

describe('GET /health', () => {
  it.each([
    ['admin', () => tokens.adminToken],
    ['PC', () => tokens.nodeToken],
  ])("answers a %s with the database's own version and clock", async (_role, token) => {
    const res = await get(baseUrl, '/health', { authorization: `Bearer ${token()}` });
    expect(res.statusCode).toBe(200);
    const body = res.body as { status: string; database: { serverVersion: string; now: string } };
    expect(body.status).toBe('ok');
    const { rows } = await pool.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    expect(body.database.serverVersion).toBe(rows[0]!.v);
    expect(Math.abs(Date.parse(body.database.now) - Date.now())).toBeLessThan(60_000);
  });

  it.each([
    [{}, /missing Authorization header/],
    [{ authorization: 'Bearer wrong' }, /invalid bearer token/],
    [{ authorization: 'Token admin-test-token' }, /malformed/],
  ])('refuses %j with 401 and a reason', async (headers, reason) => {
    const res = await get(baseUrl, '/health', headers);
    expect(res.statusCode).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(res.body.message).toMatch(reason);
  });

  it('says 503 with the database error when PostgreSQL is unreachable', async () => {
    const deadPool = createPool(pg.url.replace(`:${pg.instance.port}/`, ':1/'), 1, () => undefined);
    const deadApi = buildApi({ db: deadPool, temporal: temporal.client, ...tokens });
    try {
      const deadUrl = await deadApi.listen({ host: '127.0.0.1', port: 0 });
      const res = await get(deadUrl, '/health', { authorization: `Bearer ${tokens.adminToken}` });
      expect(res.statusCode).toBe(503);
      expect(res.body.message).toMatch(/database query failed: .*ECONNREFUSED/);
    } finally {
      await deadApi.close();
      await deadPool.end();
    }
  });
});

describe('database migrations', () => {
  it('apply once: a second run applies nothing and keeps the data', async () => {
    expect(await migrate(pool)).toEqual({ applied: [] });
    const { rows } = await pool.query<{ version: string }>(
      'SELECT version::text FROM schema_migrations ORDER BY version',
    );
    expect(rows.map((r) => r.version)).toContain('1');
  });
});

describe('a connection the server ends', () => {
  it('fails the transaction that held it, not the process, and the pool carries on (PostgreSQL restarted under a transaction)', async () => {
    // In a process of its own: jest swallows the unhandled 'error' event that ended migration-api (found by the soak).
    const script = `
      const { createPool, inTransaction } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'state', 'db.js'))});
      (async () => {
        const pool = createPool(process.argv[1], 2, () => undefined);
        const attempt = await inTransaction(pool, async (client) => {
          const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
          await pool.query('SELECT pg_terminate_backend($1)', [rows[0].pid]); // as a restart does, between queries
          await new Promise((r) => setTimeout(r, 300));
          await client.query('SELECT 1');
        }).then(() => 'committed', (err) => 'failed: ' + err.message);
        const { rows } = await pool.query('SELECT 1 AS one');
        console.log(attempt + '; next query: ' + rows[0].one);
        await pool.end();
      })();`;
    const r = await execa(process.execPath, ['-e', script, pg.url], { reject: false });
    expect([r.exitCode, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^failed: .*(terminat|not queryable).*; next query: 1$/);
  });
});

const report = sampleReport;

async function tableCounts() {
  const { rows } = await pool.query<{ n: string; l: string; r: string }>(
    'SELECT (SELECT count(*) FROM nodes) AS n, (SELECT count(*) FROM load_samples) AS l, (SELECT count(*) FROM remnants) AS r',
  );
  return rows[0];
}

describe('node load reports', () => {
  it('stores a node, its load and its remnants, and lists them with the latest load', async () => {
    expect((await put('/v1/nodes/pc1/report', report(), tokens.nodeToken)).statusCode).toBe(200);
    expect((await put('/v1/nodes/pc1/report', report({ cpu: 0.75, remnants: [] }), tokens.nodeToken)).statusCode).toBe(
      200,
    );
    const list = await get(baseUrl, '/v1/nodes', admin);
    expect(list.body.nodes).toEqual([
      expect.objectContaining({
        id: 'pc1',
        cpu: 0.75,
        memory: 0.5,
        cpuFlags: ['avx2', 'sse4_2'],
        dirtyTracking: false,
      }),
    ]);
    expect((await put('/v1/nodes/pc1/report', report(), tokens.nodeToken)).statusCode).toBe(200);
    const one = await get(baseUrl, '/v1/nodes/pc1', admin);
    expect(one.body.remnants).toEqual([
      expect.objectContaining({ containerId: 'c1', generations: [1, 2], hasBundle: true }),
    ]);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM load_samples WHERE node_id = $1', ['pc1']);
    expect(rows[0]).toEqual({ n: 3 });
  });

  it("keeps each protected container's newest checkpoint from its PC's report; the schedule then skips it", async () => {
    const controls = createControlActivities({ db: pool, policy: DEFAULT_POLICY });
    for (const id of ['prot1', 'prot2']) {
      expect((await post('/v1/containers', { ...container, id })).statusCode).toBe(201);
      await pool.query("UPDATE containers SET state = 'running', node_id = 'pc1' WHERE id = $1", [id]);
    }
    const ids = async () => (await controls.unprotectedContainers({ withinSeconds: 600 })).map((c) => c.id);
    expect(await ids()).toEqual(expect.arrayContaining(['prot1', 'prot2']));
    const at = new Date(Date.now() - 5_000).toISOString();
    const kept = { holder: 'pc2', generation: 1_000_003, at, frozenMs: 350, wireBytes: 2 ** 21, tookMs: 1400 };
    const protection = [{ containerId: 'prot1', ...kept, intervalMs: 18_000 }];
    expect((await put('/v1/nodes/pc1/report', report({ protection }), tokens.nodeToken)).statusCode).toBe(200);
    expect((await get(baseUrl, '/v1/containers/prot1', admin)).body.protection).toEqual({
      containerId: 'prot1',
      ...kept,
      intervalMs: 18_000,
    });
    expect(await ids()).not.toContain('prot1');
    expect(await ids()).toContain('prot2');
    // A report without it (the container left, or protection is off now): no longer protected.
    expect((await put('/v1/nodes/pc1/report', report(), tokens.nodeToken)).statusCode).toBe(200);
    expect((await get(baseUrl, '/v1/containers/prot1', admin)).body.protection).toBeNull();
    expect(await ids()).toContain('prot1');
    await pool.query("DELETE FROM containers WHERE id IN ('prot1', 'prot2')");
  });

  it.each([
    [
      'a missing field',
      (() => {
        const r: Partial<NodeReport> = report();
        delete r.cpu;
        return r;
      })(),
      /must have required property 'cpu'/,
    ],
    ['a utilisation above 1', report({ memory: 1.5 }), /body\/memory must be <= 1/],
    ['an unknown field', { ...report(), extra: 1 }, /must NOT have additional properties/],
    [
      'a bad container id',
      report({ remnants: [{ ...report().remnants[0]!, containerId: '../x' }] }),
      /body\/remnants\/0\/containerId must match pattern/,
    ],
  ])('refuses %s with 400 naming the field, changing nothing', async (_what, body, message) => {
    const before = await tableCounts();
    const res = await put('/v1/nodes/pc2/report', body, tokens.pc2Token);
    expect(res.statusCode).toBe(400);
    expect(res.body.message).toMatch(message);
    expect(await tableCounts()).toEqual(before);
  });

  it('refuses a bad node id, an admin token and no token, changing nothing', async () => {
    const before = await tableCounts();
    const badId = await put('/v1/nodes/PC_1/report', report(), tokens.nodeToken);
    // Whose report it is comes first: pc1's credential is no one else's, whatever the name.
    expect([badId.statusCode, badId.body.message]).toEqual([
      403,
      expect.stringMatching(/the credential of pc1 cannot report for PC_1/),
    ]);
    const asAdmin = await put('/v1/nodes/pc2/report', report(), tokens.adminToken);
    expect([asAdmin.statusCode, asAdmin.body.message]).toEqual([403, expect.stringMatching(/only node workers/)]);
    expect((await put('/v1/nodes/pc2/report', report(), 'nope')).statusCode).toBe(401);
    expect(await tableCounts()).toEqual(before);
  });

  it('answers 404 for a node that never reported', async () => {
    expect(await get(baseUrl, '/v1/nodes/pc9', admin)).toMatchObject({
      statusCode: 404,
      body: { message: 'no node pc9 has reported yet' },
    });
  });
});

/** Every table's row count: bad input must leave all of them as they were. */
async function snapshot() {
  const { rows } = await pool.query<Record<string, string>>(`SELECT
    (SELECT count(*) FROM nodes) n, (SELECT count(*) FROM load_samples) l, (SELECT count(*) FROM remnants) r,
    (SELECT count(*) FROM containers) c, (SELECT count(*) FROM room_nodes) rn, (SELECT count(*) FROM lecture_imports) li,
    (SELECT count(*) FROM lectures) le, (SELECT count(*) FROM migrations) m,
    (SELECT string_agg(id || ':' || state || ':' || coalesce(node_id, '-'), ',' ORDER BY id) FROM containers) cs`);
  return rows[0];
}

async function expectRefused(
  res: Promise<{ statusCode: number; body: Record<string, unknown> }>,
  code: number,
  message: RegExp,
) {
  const before = await snapshot();
  const r = await res;
  expect([r.statusCode, r.body.message]).toEqual([code, expect.stringMatching(message)]);
  expect(await snapshot()).toEqual(before);
}

const container = {
  id: 'web1',
  args: ['/bin/counter'],
  env: ['MIB=64'],
  memoryMiB: 96,
  rootfs: { dir: '/srv/rootfs' },
};

describe("each PC's own credential", () => {
  it('refuses a PC reporting for another, changing nothing', async () => {
    const before = await tableCounts();
    await expectRefused(
      put('/v1/nodes/pc2/report', report({ address: '10.77.0.12:7070', taskQueue: 'node-pc2' }), tokens.nodeToken),
      403,
      /the credential of pc1 cannot report for pc2/,
    );
    expect(await tableCounts()).toEqual(before);
  });

  it('cuts off a revoked PC alone: refused with the reason, no longer listed; the others go on', async () => {
    const pc3 = report({ address: '10.77.0.13:7070', taskQueue: 'node-pc3', remnants: [] });
    expect((await put('/v1/nodes/pc3/report', pc3, tokens.pc3Token)).statusCode).toBe(200);
    const listed = async () =>
      ((await get(baseUrl, '/v1/nodes', admin)).body.nodes as { id: string }[]).map((n) => n.id);
    expect(await listed()).toContain('pc3');

    expect((await send('DELETE', '/v1/nodes/pc3/credential', undefined, tokens.adminToken)).statusCode).toBe(204);
    const before = await tableCounts();
    await expectRefused(put('/v1/nodes/pc3/report', pc3, tokens.pc3Token), 401, /credential of PC pc3 was revoked/);
    expect(await tableCounts()).toEqual(before);
    expect(await listed()).not.toContain('pc3');
    expect((await put('/v1/nodes/pc1/report', report(), tokens.nodeToken)).statusCode).toBe(200);
    await expectRefused(
      send('DELETE', '/v1/nodes/pc3/credential', undefined, tokens.adminToken),
      404,
      /no live credential/,
    );

    // A new credential brings it back; the old one stays dead.
    const again = await post('/v1/nodes/pc3/credential', {});
    expect(again.statusCode).toBe(201);
    expect((await put('/v1/nodes/pc3/report', pc3, String(again.body.token))).statusCode).toBe(200);
    await expectRefused(put('/v1/nodes/pc3/report', pc3, tokens.pc3Token), 401, /revoked|invalid bearer token/);
    // The tests after this one see pc1 and pc2 only.
    expect((await send('DELETE', '/v1/nodes/pc3/credential', undefined, tokens.adminToken)).statusCode).toBe(204);
  });

  it('lets only the administrator issue or revoke credentials', async () => {
    await expectRefused(post('/v1/nodes/pc2/credential', {}, tokens.nodeToken), 403, /administrator token/);
    await expectRefused(send('DELETE', '/v1/nodes/pc2/credential', undefined, tokens.pc2Token), 403, /administrator/);
    await expectRefused(post('/v1/nodes/PC_2/credential', {}), 400, /nodeId must match pattern/);
    await expectRefused(
      post('/v1/nodes/pc2/credential', { certificateSha256: 'not-a-hash' }),
      400,
      /certificateSha256 must match pattern/,
    );
  });
});

describe('containers', () => {
  it('registers a container and shows it, with no node until started', async () => {
    const res = await post('/v1/containers', container);
    expect(res.statusCode).toBe(201);
    expect(res.body).toMatchObject({ id: 'web1', state: 'created', nodeId: null, memoryMiB: 96 });
    expect((await get(baseUrl, '/v1/containers/web1', admin)).body).toMatchObject({ id: 'web1', remnants: [] });
    expect(((await get(baseUrl, '/v1/containers', admin)).body.containers as unknown[]).length).toBe(1);
  });

  it.each([
    ['a duplicate id', container, 409, /already exists/],
    ['an id with a slash', { ...container, id: 'a/b' }, 400, /body\/id must match pattern/],
    ['no command', { ...container, id: 'x1', args: [] }, 400, /args\[0\] must name the program to run/],
    [
      'an image in no transport skopeo knows',
      { ...container, id: 'x1', args: [], rootfs: { image: 'oci:relative/layout' } },
      400,
      /body\/rootfs\/image must match pattern/,
    ],
    [
      'an image path with ..',
      { ...container, id: 'x1', args: [], rootfs: { image: 'oci:/images/../etc:x' } },
      400,
      /must not hold "\.\."/,
    ],
    [
      'a relative rootfs',
      { ...container, id: 'x1', rootfs: { dir: 'rel/path' } },
      400,
      /body\/rootfs\/dir must match pattern/,
    ],
    [
      'two rootfs sources',
      { ...container, id: 'x1', rootfs: { dir: '/a', tarball: '/b' } },
      400,
      /body\/rootfs must NOT have more than 1 properties/,
    ],
    ['zero memory', { ...container, id: 'x1', memoryMiB: 0 }, 400, /body\/memoryMiB must be >= 1/],
  ])('refuses %s, changing nothing', async (_what, body, code, message) => {
    await expectRefused(post('/v1/containers', body), code, message);
  });

  it('refuses a node token for changes, and unknown ids with 404', async () => {
    await expectRefused(
      post('/v1/containers', { ...container, id: 'x2' }, tokens.nodeToken),
      403,
      /administrator token/,
    );
    await expectRefused(get(baseUrl, '/v1/containers/nope', admin), 404, /no container nope/);
    await expectRefused(post('/v1/containers/nope/start', {}), 404, /no container nope/);
    await expectRefused(send('DELETE', '/v1/containers/nope', undefined, tokens.adminToken), 404, /no container nope/);
  });

  it('previews placement with every candidate and its terms', async () => {
    await put('/v1/nodes/pc1/report', report({ remnants: [] }), tokens.nodeToken);
    await put(
      '/v1/nodes/pc2/report',
      report({ address: '10.77.0.12:7070', taskQueue: 'node-pc2', remnants: [] }),
      tokens.pc2Token,
    );
    const res = await get(baseUrl, '/v1/containers/web1/placement', admin);
    expect(res.statusCode).toBe(200);
    expect(res.body.chosen).toBe('pc1');
    expect((res.body.candidates as { nodeId: string; terms: object }[]).map((c) => c.nodeId)).toEqual(['pc1', 'pc2']);
  });

  it('deletes a container that is not running', async () => {
    await post('/v1/containers', { ...container, id: 'gone1' });
    expect((await send('DELETE', '/v1/containers/gone1', undefined, tokens.adminToken)).statusCode).toBe(204);
    expect((await get(baseUrl, '/v1/containers/gone1', admin)).statusCode).toBe(404);
  });
});

describe('rooms and lectures', () => {
  const ics = readFileSync(path.join(__dirname, '..', 'fixtures', 'timetable-fall-2026.ics'), 'utf8');

  it('maps rooms to PCs and imports a timetable, replacing an import of the same name', async () => {
    expect((await put('/v1/rooms/R595', { nodes: ['pc2', 'pc1'] }, tokens.adminToken)).body).toEqual({
      room: 'R595',
      nodes: ['pc1', 'pc2'],
      pcs: [
        { nodeId: 'pc1', row: null, seat: null },
        { nodeId: 'pc2', row: null, seat: null },
      ],
    });
    const first = await post('/v1/lectures/imports', { name: '2026-fall', format: 'ics', content: ics });
    expect(first.statusCode).toBe(201);
    expect(first.body).toMatchObject({
      name: '2026-fall',
      format: 'ics',
      dryRun: false,
      lectures: 29,
      skipped: 0,
      skippedComponents: [],
      rooms: ['R364', 'R595'],
      unmappedRooms: ['R364'],
      byRoom: [
        { room: 'R364', lectures: 15, first: '2026-10-08T04:00:00.000Z', last: '2027-01-14T04:00:00.000Z' },
        { room: 'R595', lectures: 14, first: '2026-10-05T01:40:00.000Z', last: '2027-01-25T01:40:00.000Z' },
      ],
      continuingPastWindow: 0,
    });
    expect((await post('/v1/lectures/imports', { name: '2026-fall', format: 'ics', content: ics })).statusCode).toBe(
      201,
    );
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM lectures');
    expect(rows[0]!.n).toBe(29);
    const week = await get(baseUrl, '/v1/lectures?room=R595&from=2026-11-30T00:00:00Z&to=2026-12-07T00:00:00Z', admin);
    expect((week.body.lectures as { startsAt: string }[]).map((l) => l.startsAt)).toEqual(['2026-12-01T05:40:00.000Z']);
  });

  it('answers a dry run without storing, reports skipped parts, and changes nothing when a file is refused', async () => {
    const count = async () =>
      (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM lectures WHERE import_name = '2026-fall'"))
        .rows[0]!.n;
    const before = await count();
    const university = readFileSync(
      path.join(__dirname, '..', 'fixtures', 'timetables', 'university-export.ics'),
      'utf8',
    );
    const dry = await post('/v1/lectures/imports', {
      name: '2026-fall',
      format: 'ics',
      content: university,
      dryRun: true,
    });
    expect(dry.statusCode).toBe(200);
    expect(dry.body).toMatchObject({ dryRun: true, lectures: 12, skipped: 2, unmappedRooms: ['R596'] });
    expect((dry.body.skippedComponents as { line: number }[]).map((c) => c.line)).toEqual([42, 49]);
    expect(await count()).toBe(before);
    const notIcs = await post('/v1/lectures/imports', { name: '2026-fall', format: 'ics', content: 'Subject,Start\n' });
    expect(notIcs.statusCode).toBe(400);
    expect(notIcs.body.message).toMatch(
      /^ics timetable "2026-fall": line 1: an iCalendar file starts with BEGIN:VCALENDAR/,
    );
    const badZone = await post('/v1/lectures/imports', {
      name: '2026-fall',
      format: 'csv',
      content: 'x',
      timezone: 'Mars/Base',
    });
    expect(badZone.statusCode).toBe(400);
    expect(await count()).toBe(before);
  });

  it('expands rules without an end further as time passes', async () => {
    const apple = readFileSync(path.join(__dirname, '..', 'fixtures', 'timetables', 'apple.ics'), 'utf8');
    const imported = await post('/v1/lectures/imports', {
      name: 'seminars',
      format: 'ics',
      content: apple,
      timezone: 'Asia/Tokyo',
    });
    expect(imported.body).toMatchObject({ continuingPastWindow: 1 });
    const until = new Date(imported.body.expandedUntil as string);
    const lastSeminar = async () =>
      (await pool.query<{ last: Date }>("SELECT max(starts_at) AS last FROM lectures WHERE import_name = 'seminars'"))
        .rows[0]!.last;
    expect((await lastSeminar()).getTime()).toBeLessThanOrEqual(until.getTime());
    // Not yet due: the window still reaches far enough.
    expect(await extendLectureWindows(pool, { now: new Date(), windowDays: DEFAULT_LECTURE_WINDOW_DAYS })).toEqual([]);
    const later = new Date(Date.now() + 60 * 86_400_000);
    const done = await extendLectureWindows(pool, { now: later, windowDays: DEFAULT_LECTURE_WINDOW_DAYS });
    expect(done).toEqual([{ name: 'seminars', lectures: expect.any(Number) as number }]);
    expect((await lastSeminar()).getTime()).toBeGreaterThan(until.getTime());
    expect((await lastSeminar()).getTime()).toBeLessThanOrEqual(
      later.getTime() + DEFAULT_LECTURE_WINDOW_DAYS * 86_400_000,
    );
  });

  it('imports CSV in the campus time zone and says when a PC is next needed', async () => {
    const soon = new Date(Date.now() + 3 * 24 * 3_600_000);
    const day = soon.toISOString().slice(0, 10);
    const csv = `room,weekday,start,end,term_start,term_end,title\nLAB9,${((soon.getUTCDay() + 6) % 7) + 1},12:00,13:00,${day},${day},Night lab\n`;
    await put('/v1/rooms/LAB9', { nodes: ['pc9'] }, tokens.adminToken);
    expect(
      (await post('/v1/lectures/imports', { name: 'extra', format: 'csv', content: csv, timezone: 'UTC' })).body,
    ).toMatchObject({ lectures: 1 });
    const need = await get(baseUrl, '/v1/nodes/pc9/need', admin);
    expect(need.body).toMatchObject({
      nodeId: 'pc9',
      rooms: ['LAB9'],
      inLectureUntil: null,
      nextLectureAt: `${day}T12:00:00.000Z`,
    });
    expect(need.body.L).toBeGreaterThan(0);
    expect(need.body.L).toBeLessThanOrEqual(1);
  });

  it.each([
    [
      'a broken iCalendar file',
      { name: 'bad', format: 'ics', content: 'BEGIN:VCALENDAR\nnonsense' },
      /ics timetable "bad": line 2: "nonsense" is not an iCalendar line/,
    ],
    [
      'a CSV file whose only line has a bad weekday',
      {
        name: 'bad',
        format: 'csv',
        content: 'room,weekday,start,end,term_start,term_end\nR1,Someday,10:00,11:00,2026-10-01,2026-10-30',
      },
      /csv timetable "bad": nothing in it can be used.*line 2: weekday "Someday"/,
    ],
    [
      'an unknown format',
      { name: 'bad', format: 'xlsx', content: 'x' },
      /body\/format must be equal to one of the allowed values/,
    ],
    ['an import name with spaces', { name: 'fall 2026', format: 'ics', content: ics }, /body\/name must match pattern/],
  ])('refuses %s with 400, changing nothing', async (_what, body, message) => {
    await expectRefused(post('/v1/lectures/imports', body), 400, message);
  });

  it("places a room's PCs on its floor plan by row and seat, and refuses two on one seat", async () => {
    const plan = [{ id: 'pc3', row: 2, seat: 1 }, 'pc9', { id: 'pc1', row: 1, seat: 2 }];
    expect((await put('/v1/rooms/R12', { nodes: plan }, tokens.adminToken)).body).toEqual({
      room: 'R12',
      nodes: ['pc1', 'pc3', 'pc9'],
      pcs: [
        { nodeId: 'pc1', row: 1, seat: 2 },
        { nodeId: 'pc3', row: 2, seat: 1 },
        { nodeId: 'pc9', row: null, seat: null },
      ],
    });
    const twoOnOne = [
      { id: 'pc3', row: 1, seat: 1 },
      { id: 'pc4', row: 1, seat: 1 },
    ];
    await expectRefused(
      put('/v1/rooms/R12', { nodes: twoOnOne }, tokens.adminToken),
      400,
      /room R12: pc3 and pc4 both stand at row 1, seat 1/,
    );
    await expectRefused(put('/v1/rooms/R12', { nodes: ['pc3', 'pc3'] }, tokens.adminToken), 400, /pc3 is listed twice/);
    await expectRefused(
      put('/v1/rooms/R12', { nodes: [{ id: 'pc3', row: 0, seat: 1 }] }, tokens.adminToken),
      400,
      /body\/nodes\/0\/row must be >= 1/,
    );
    // The refused plans changed nothing.
    const { rooms } = (await get(baseUrl, '/v1/rooms', admin)).body as { rooms: { room: string; nodes: string[] }[] };
    expect(rooms.find((r) => r.room === 'R12')!.nodes).toEqual(['pc1', 'pc3', 'pc9']);
  });

  it('refuses a room mapping with a bad node id, and a lecture query with to before from', async () => {
    await expectRefused(
      put('/v1/rooms/R1', { nodes: ['PC 1'] }, tokens.adminToken),
      400,
      /body\/nodes\/0 must match pattern/,
    );
    await expectRefused(
      get(baseUrl, '/v1/lectures?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z', admin),
      400,
      /must be after "from"/,
    );
    await expectRefused(put('/v1/rooms/R1', { nodes: ['pc1'] }, tokens.nodeToken), 403, /administrator token/);
  });
});

describe('migrations', () => {
  it('starts one moveContainer workflow per container, with the placement decision, and refuses a second', async () => {
    await pool.query("UPDATE containers SET state = 'running', node_id = 'pc2' WHERE id = 'web1'");
    const res = await post('/v1/migrations', { containerId: 'web1' });
    expect(res.statusCode).toBe(202);
    expect(res.body).toMatchObject({ containerId: 'web1', from: 'pc2', to: 'pc1', workflowId: 'migrate-web1' });
    expect((res.body.decision as { chosen: string }).chosen).toBe('pc1');
    const described = await temporal.client.workflow.getHandle('migrate-web1').describe();
    expect([described.type, described.status.name]).toEqual(['migrateContainer', 'RUNNING']);
    await expectRefused(post('/v1/migrations', { containerId: 'web1', to: 'pc1' }), 409, /already migrating/);
    const list = await get(baseUrl, '/v1/migrations?containerId=web1', admin);
    expect((list.body.migrations as { id: string; status: string }[]).map((m) => m.status)).toEqual(['running']);
    const detail = await get(baseUrl, `/v1/migrations/${res.body.id as string}`, admin);
    expect(detail.body).toMatchObject({ id: res.body.id, status: 'running', from: 'pc2', to: 'pc1' });
    await temporal.client.workflow.getHandle('migrate-web1').terminate('test over');
    const ended = await get(baseUrl, `/v1/migrations/${res.body.id as string}`, admin);
    expect([ended.body.status, ended.body.error]).toEqual(['failed', expect.stringMatching(/^TERMINATED/)]);
    expect((await get(baseUrl, '/v1/containers/web1', admin)).body).toMatchObject({ state: 'running', nodeId: 'pc2' });
  });

  it.each([
    ['an unknown container', { containerId: 'nope' }, 404, /no container nope/],
    ['a container that is not running', { containerId: 'x9' }, 409, /not running anywhere/],
    ['a move to where it already runs', { containerId: 'web1', to: 'pc2' }, 400, /already runs on pc2/],
    ['a bad target id', { containerId: 'web1', to: 'PC2' }, 400, /body\/to must match pattern/],
  ])('refuses %s, changing nothing', async (_what, body, code, message) => {
    if (body.containerId === 'x9') await post('/v1/containers', { ...container, id: 'x9' });
    await expectRefused(post('/v1/migrations', body), code, message);
  });

  it("says 422 with every candidate's reason when no PC can take the container", async () => {
    await pool.query("UPDATE nodes SET last_report_at = now() - interval '1 hour'");
    const res = await post('/v1/migrations', { containerId: 'web1' });
    expect(res.statusCode).toBe(422);
    expect(res.body.message).toMatch(/no node can take web1: pc1 \(offline/);
    expect((await get(baseUrl, '/v1/containers/web1', admin)).body).toMatchObject({ state: 'running' });
  });

  it('answers 404 for an unknown migration', async () => {
    expect((await get(baseUrl, '/v1/migrations/nope', admin)).statusCode).toBe(404);
  });
});

describe('OpenAPI', () => {
  it('describes every route, behind the same authentication', async () => {
    const doc = await get(baseUrl, '/openapi.json', admin);
    expect(doc.statusCode).toBe(200);
    expect(Object.keys(doc.body.paths as object)).toEqual(
      expect.arrayContaining([
        '/v1/nodes/{nodeId}/report',
        '/v1/containers',
        '/v1/containers/{containerId}/placement',
        '/v1/lectures/imports',
        '/v1/migrations/{migrationId}',
      ]),
    );
    expect((await get(baseUrl, '/openapi.json')).statusCode).toBe(401);
  });
});

describe('authentication on every route', () => {
  const routes: [string, string, unknown][] = [
    ['GET', '/health', undefined],
    ['GET', '/openapi.json', undefined],
    ['GET', '/v1/nodes', undefined],
    ['GET', '/v1/nodes/pc1', undefined],
    ['PUT', '/v1/nodes/pc1/report', {}],
    ['GET', '/v1/nodes/pc1/need', undefined],
    ['GET', '/v1/containers', undefined],
    ['POST', '/v1/containers', {}],
    ['GET', '/v1/containers/web1', undefined],
    ['GET', '/v1/containers/web1/placement', undefined],
    ['POST', '/v1/containers/web1/start', {}],
    ['DELETE', '/v1/containers/web1', undefined],
    ['GET', '/v1/rooms', undefined],
    ['PUT', '/v1/rooms/R1', { nodes: [] }],
    ['POST', '/v1/lectures/imports', {}],
    ['GET', '/v1/lectures', undefined],
    ['POST', '/v1/migrations', {}],
    ['GET', '/v1/migrations', undefined],
    ['GET', '/v1/migrations/x', undefined],
  ];

  it.each(routes)('%s %s refuses a request without a valid token, changing nothing', async (method, url, body) => {
    for (const token of ['', 'wrong-token']) {
      const before = await snapshot();
      const res = await send(method, url, body, token);
      expect([res.statusCode, res.body.error]).toEqual([401, 'Unauthorized']);
      expect(await snapshot()).toEqual(before);
    }
  });

  const adminOnly: [string, string, unknown][] = [
    ['POST', '/v1/containers', { ...container, id: 'y1' }],
    ['POST', '/v1/containers/web1/start', {}],
    ['DELETE', '/v1/containers/x9', undefined],
    ['PUT', '/v1/rooms/R1', { nodes: ['pc1'] }],
    ['POST', '/v1/lectures/imports', { name: 'n', format: 'csv', content: 'room,weekday\n' }],
    ['POST', '/v1/migrations', { containerId: 'web1' }],
  ];

  it.each(adminOnly)('%s %s needs the administrator token', async (method, url, body) => {
    await expectRefused(send(method, url, body, tokens.nodeToken), 403, /administrator token/);
  });

  it.each([['/v1/containers/nope/placement'], ['/v1/nodes/nope'], ['/v1/migrations/nope']])(
    'GET %s answers 404 for an unknown id',
    async (url) => {
      await expectRefused(get(baseUrl, url, admin), 404, /no (container|node|migration) nope/);
    },
  );
});

describe('lists as people count them (issue 26)', () => {
  it('sorts PCs, remnants, containers and rooms naturally (pc2 before pc10), and keeps what doctor shows', async () => {
    const pc10Token = String((await post('/v1/nodes/pc10/credential', {})).body.token);
    const facts = {
      strategy: 'content' as const,
      checkpointsOtherUsers: false,
      linkRateBps: 1e9,
      diskTotalBytes: 100e9,
      diskFreeBytes: 5e9,
    };
    const remnant = (containerId: string) => ({ ...report().remnants[0]!, containerId });
    expect(
      (
        await put(
          '/v1/nodes/pc10/report',
          report({
            address: '10.77.0.20:7070',
            taskQueue: 'node-pc10',
            ...facts,
            remnants: [remnant('n10'), remnant('n9')],
          }),
          pc10Token,
        )
      ).statusCode,
    ).toBe(200);
    expect(
      (
        await put(
          '/v1/nodes/pc2/report',
          report({ address: '10.77.0.12:7070', taskQueue: 'node-pc2' }),
          tokens.pc2Token,
        )
      ).statusCode,
    ).toBe(200);
    const { nodes } = (await get(baseUrl, '/v1/nodes', admin)).body as { nodes: Record<string, unknown>[] };
    const ids = nodes.map((n) => n.id);
    expect(ids.indexOf('pc2')).toBeLessThan(ids.indexOf('pc10'));
    expect(nodes.find((n) => n.id === 'pc10')).toMatchObject({ ...facts, imageBytes: 2000 });
    expect(nodes.find((n) => n.id === 'pc2')).toMatchObject({ strategy: null, checkpointsOtherUsers: null });
    const one = (await get(baseUrl, '/v1/nodes/pc10', admin)).body as { remnants: { containerId: string }[] };
    expect(one.remnants.map((r) => r.containerId)).toEqual(['n9', 'n10']);

    for (const id of ['c10', 'c9']) expect((await post('/v1/containers', { ...container, id })).statusCode).toBe(201);
    const { containers } = (await get(baseUrl, '/v1/containers', admin)).body as { containers: { id: string }[] };
    const cids = containers.map((c) => c.id);
    expect(cids.indexOf('c9')).toBeLessThan(cids.indexOf('c10'));

    expect((await put('/v1/rooms/B10', { nodes: ['pc10', 'pc2'] }, tokens.adminToken)).statusCode).toBe(200);
    expect((await put('/v1/rooms/B9', { nodes: ['pc1'] }, tokens.adminToken)).statusCode).toBe(200);
    const { rooms } = (await get(baseUrl, '/v1/rooms', admin)).body as { rooms: { room: string; nodes: string[] }[] };
    const names = rooms.map((r) => r.room);
    expect(names.indexOf('B9')).toBeLessThan(names.indexOf('B10'));
    expect(rooms.find((r) => r.room === 'B10')!.nodes).toEqual(['pc2', 'pc10']);
  });
});

describe('fencing: the answer to a report (issue 28)', () => {
  it('names the copies a PC runs under an older epoch than their container, and no others', async () => {
    expect((await post('/v1/containers', { ...container, id: 'fenced1' })).statusCode).toBe(201);
    await pool.query("UPDATE containers SET epoch = 3, state = 'running', node_id = 'pc1' WHERE id = 'fenced1'");
    const copies = (epoch: number) =>
      report({
        listedAt: new Date().toISOString(),
        containers: [
          { containerId: 'fenced1', status: 'paused', exit: null, epoch },
          { containerId: 'not-kept', status: 'running', exit: null, epoch: 1 }, // not migration-api's: nobody's to judge
        ],
      });
    const stale = await put('/v1/nodes/pc1/report', copies(2), tokens.nodeToken);
    expect([stale.statusCode, stale.body]).toEqual([200, { stale: ['fenced1'] }]);
    const current = await put('/v1/nodes/pc1/report', copies(3), tokens.nodeToken);
    expect([current.statusCode, current.body]).toEqual([200, { stale: [] }]);
  });

  it("gives a recovery its epoch only while the PC is silent; a report's answer then names the copy stale", async () => {
    expect((await post('/v1/containers', { ...container, id: 'fenced2' })).statusCode).toBe(201);
    await pool.query("UPDATE containers SET epoch = 3, state = 'running', node_id = 'pc1' WHERE id = 'fenced2'");
    const copy = report({
      listedAt: new Date().toISOString(),
      containers: [{ containerId: 'fenced2', status: 'paused', exit: null, epoch: 3 }],
    });
    expect((await put('/v1/nodes/pc1/report', copy, tokens.nodeToken)).statusCode).toBe(200);
    // pc1 has just reported: no epoch for a recovery of its container.
    expect(await nextEpochIfSilent(pool, 'fenced2', 'pc1', 11)).toEqual({ reporting: true });
    await pool.query("UPDATE nodes SET last_report_at = now() - interval '60 seconds' WHERE id = 'pc1'");
    expect(await nextEpochIfSilent(pool, 'fenced2', 'pc1', 11)).toEqual({ epoch: 4 });
    // Back now: the answer to its report names its copy stale (it would otherwise resume it beside the restored one).
    const back = await put('/v1/nodes/pc1/report', copy, tokens.nodeToken);
    expect([back.statusCode, back.body]).toEqual([200, { stale: ['fenced2'] }]);
  });

  it('records a recovery that restored nothing as lost (the next one tries again), with its error in the history', async () => {
    expect((await post('/v1/containers', { ...container, id: 'unrecovered' })).statusCode).toBe(201);
    await pool.query("UPDATE containers SET state = 'running', node_id = 'pc1' WHERE id = 'unrecovered'");
    await createControlActivities({ db: pool, policy: DEFAULT_POLICY }).recordRecovery({
      id: 'unrecovered-recovery-1',
      workflowId: 'migrate-unrecovered',
      runId: 'run-1',
      containerId: 'unrecovered',
      from: 'pc1',
      to: null,
      generation: 4,
      checkpointAgeMs: null,
      error: 'restoring unrecovered on pc2 failed: chunk damaged',
    });
    const row = (
      await pool.query<{ state: string; node_id: string }>(
        "SELECT state, node_id FROM containers WHERE id = 'unrecovered'",
      )
    ).rows[0];
    expect(row).toEqual({ state: 'lost', node_id: 'pc1' });
    const history = await pool.query<{ status: string; error: string }>(
      "SELECT status, error FROM migrations WHERE id = 'unrecovered-recovery-1'",
    );
    expect(history.rows.map((r) => r.status)).toEqual(['failed']);
    expect(history.rows[0]!.error).toMatch(/chunk damaged/);
  });

  it('records a lost container running again when its own PC reports it under its current epoch, not an older one', async () => {
    expect((await post('/v1/containers', { ...container, id: 'resumed1' })).statusCode).toBe(201);
    await pool.query("UPDATE containers SET epoch = 5, state = 'lost', node_id = 'pc1' WHERE id = 'resumed1'");
    const state = async () =>
      (await pool.query<{ state: string }>("SELECT state FROM containers WHERE id = 'resumed1'")).rows[0]!.state;
    const copyAt = (epoch: number) =>
      report({
        listedAt: new Date().toISOString(),
        containers: [{ containerId: 'resumed1', status: 'running', exit: null, epoch }],
      });
    // An older copy (another was restored since): stale, and the record stays lost.
    const old = await put('/v1/nodes/pc1/report', copyAt(4), tokens.nodeToken);
    expect([old.body, await state()]).toEqual([{ stale: ['resumed1'] }, 'lost']);
    // Another PC reporting a copy under the current epoch is not where the record places it: nothing changes.
    expect((await put('/v1/nodes/pc2/report', copyAt(5), tokens.pc2Token)).statusCode).toBe(200);
    expect(await state()).toBe('lost');
    // Its own PC, the current epoch: the fenced copy was resumed and nobody took over.
    const back = await put('/v1/nodes/pc1/report', copyAt(5), tokens.nodeToken);
    expect([back.body, await state()]).toEqual([{ stale: [] }, 'running']);
  });
});
