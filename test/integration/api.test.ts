// migration-api against a real PostgreSQL server.
import type { FastifyInstance } from 'fastify';
import { Pool } from 'pg';
import { buildApi } from '../../api/app';
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

beforeAll(async () => {
  pg = await startTestPostgres();
  pool = new Pool({ connectionString: pg.url });
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
