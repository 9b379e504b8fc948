// migration-api against a real PostgreSQL server.
import type { FastifyInstance } from 'fastify';
import { Pool } from 'pg';
import { buildApi } from '../../api/app';
import { migrate } from '../../api/db';
import type { NodeReport } from '../../domain/node-report';
import { startTestPostgres, TestPostgres } from '../helpers/postgres';

const tokens = { adminToken: 'admin-test-token', nodeToken: 'node-test-token' };
let pg: TestPostgres;
let pool: Pool;
let api: FastifyInstance;
let baseUrl: string;

/** Real HTTP against a listening server (fastify's inject needs an ESM-only module jest cannot load). */
async function get(base: string, url: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${url}`, { headers });
  return { statusCode: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function put(url: string, body: unknown, token: string) {
  const res = await fetch(`${baseUrl}${url}`, { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { statusCode: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

const admin = { authorization: `Bearer ${tokens.adminToken}` };

beforeAll(async () => {
  pg = await startTestPostgres();
  pool = new Pool({ connectionString: pg.url });
  await migrate(pool);
  api = buildApi({ db: pool, ...tokens });
  baseUrl = await api.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api?.close();
  await pool?.end();
  await pg?.stop();
});

describe('GET /health', () => {
  it.each([['admin', tokens.adminToken], ['node', tokens.nodeToken]])('answers a %s with the database\'s own version and clock', async (_role, token) => {
    const res = await get(baseUrl, '/health', { authorization: `Bearer ${token}` });
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
    const deadPool = new Pool({ connectionString: pg.url.replace(`:${pg.instance.port}/`, ':1/'), connectionTimeoutMillis: 2_000 });
    const deadApi = buildApi({ db: deadPool, ...tokens });
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
    const { rows } = await pool.query<{ version: string }>('SELECT version::text FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toContain('1');
  });
});

const report = (over: Partial<NodeReport> = {}): NodeReport => ({
  address: '10.77.0.11:7070', taskQueue: 'node-pc1', cpu: 0.25, memory: 0.5, memoryTotalBytes: 8 * 2 ** 30, memoryAvailableBytes: 4 * 2 ** 30,
  cpuModel: 'Test CPU', cpuCores: 4, cpuFlags: ['avx2', 'sse4_2'], dirtyTracking: false, criuVersion: '4.1.1',
  remnants: [{ containerId: 'c1', hasBundle: true, generations: [1, 2], imageBytes: 1000, leftAt: '2026-11-26T06:00:00.000Z', expiresAt: '2026-11-27T06:00:00.000Z' }],
  ...over,
});

async function tableCounts() {
  const { rows } = await pool.query<{ n: string; l: string; r: string }>(
    'SELECT (SELECT count(*) FROM nodes) AS n, (SELECT count(*) FROM load_samples) AS l, (SELECT count(*) FROM remnants) AS r');
  return rows[0];
}

describe('node load reports', () => {
  it('stores a node, its load and its remnants, and lists them with the latest load', async () => {
    expect((await put('/v1/nodes/pc1/report', report(), tokens.nodeToken)).statusCode).toBe(204);
    expect((await put('/v1/nodes/pc1/report', report({ cpu: 0.75, remnants: [] }), tokens.nodeToken)).statusCode).toBe(204);
    const list = await get(baseUrl, '/v1/nodes', admin);
    expect(list.body.nodes).toEqual([expect.objectContaining({ id: 'pc1', cpu: 0.75, memory: 0.5, cpuFlags: ['avx2', 'sse4_2'], dirtyTracking: false })]);
    expect((await put('/v1/nodes/pc1/report', report(), tokens.nodeToken)).statusCode).toBe(204);
    const one = await get(baseUrl, '/v1/nodes/pc1', admin);
    expect(one.body.remnants).toEqual([expect.objectContaining({ containerId: 'c1', generations: [1, 2], hasBundle: true })]);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM load_samples WHERE node_id = $1', ['pc1']);
    expect(rows[0]).toEqual({ n: 3 });
  });

  it.each([
    ['a missing field', (() => { const r: Partial<NodeReport> = report(); delete r.cpu; return r; })(), /must have required property 'cpu'/],
    ['a utilisation above 1', report({ memory: 1.5 }), /body\/memory must be <= 1/],
    ['an unknown field', { ...report(), extra: 1 }, /must NOT have additional properties/],
    ['a bad container id', report({ remnants: [{ ...report().remnants[0]!, containerId: '../x' }] }), /body\/remnants\/0\/containerId must match pattern/],
  ])('refuses %s with 400 naming the field, changing nothing', async (_what, body, message) => {
    const before = await tableCounts();
    const res = await put('/v1/nodes/pc2/report', body, tokens.nodeToken);
    expect(res.statusCode).toBe(400);
    expect(res.body.message).toMatch(message);
    expect(await tableCounts()).toEqual(before);
  });

  it('refuses a bad node id, an admin token and no token, changing nothing', async () => {
    const before = await tableCounts();
    const badId = await put('/v1/nodes/PC_1/report', report(), tokens.nodeToken);
    expect([badId.statusCode, badId.body.message]).toEqual([400, expect.stringMatching(/params\/nodeId must match pattern/)]);
    const asAdmin = await put('/v1/nodes/pc2/report', report(), tokens.adminToken);
    expect([asAdmin.statusCode, asAdmin.body.message]).toEqual([403, expect.stringMatching(/only node workers/)]);
    expect((await put('/v1/nodes/pc2/report', report(), 'nope')).statusCode).toBe(401);
    expect(await tableCounts()).toEqual(before);
  });

  it('answers 404 for a node that never reported', async () => {
    expect(await get(baseUrl, '/v1/nodes/pc9', admin)).toMatchObject({ statusCode: 404, body: { message: 'no node pc9 has reported yet' } });
  });
});
