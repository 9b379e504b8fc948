// The web view's server side (issue 31 part 3) over a real PostgreSQL and Temporal: its page and files without a
// token, a login into an HttpOnly, SameSite=Strict session cookie, CSRF on every change made through a session, the
// session ending at logout and with its owner's token, and the live stream of migrations, an owner's holding only
// theirs.
import type { Pool } from 'pg';
import { insertMigration } from '../../state/migrations';
import { callApi } from '../helpers/http';
import { sampleReport, startTestApi, TestApi } from '../helpers/api-server';
import { launchBrowser, loggedIn, screenshot } from '../helpers/browser';

const ADMIN = 'admin-web-test-token';
let server: TestApi;
let pool: Pool;
let baseUrl: string;
const tokens = { alice: '', bob: '', pc1: '' };
const IMAGE = 'docker://registry.campus.test/redis:7';

/** A request as a browser makes it: the session cookie, and the CSRF header when given. */
async function browser(method: string, url: string, cookie: string, csrf?: string, body?: unknown) {
  const res = await fetch(`${baseUrl}${url}`, {
    method,
    headers: {
      cookie,
      ...(csrf ? { 'x-csrf-token': csrf } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

async function login(token: string) {
  const res = await fetch(`${baseUrl}/ui/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, body, setCookie: res.headers.get('set-cookie') ?? '' };
}

/** The first event of the live stream, read as a browser's EventSource would. */
async function firstEvent(cookie: string): Promise<{ event: string; data: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}/v1/events`, { headers: { cookie } });
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value as Uint8Array);
  await reader.cancel();
  const block = text.split('\n\n')[0]!;
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(block)?.[1];
  return { event: field('event')!, data: JSON.parse(field('data')!) as Record<string, unknown> };
}

beforeAll(async () => {
  server = await startTestApi(ADMIN);
  ({ pool, baseUrl } = server);
  const issue = async (url: string) => String((await callApi(baseUrl, 'POST', url, ADMIN, {})).body.token);
  [tokens.alice, tokens.bob, tokens.pc1] = [
    await issue('/v1/owners/alice/token'),
    await issue('/v1/owners/bob/token'),
    await issue('/v1/nodes/pc1/credential'),
  ];
  for (const [owner, id] of [
    ['alice', 'alice-db'],
    ['bob', 'bob-db'],
  ] as const) {
    const token = owner === 'alice' ? tokens.alice : tokens.bob;
    expect(
      (await callApi(baseUrl, 'POST', '/v1/containers', token, { id, memoryMiB: 64, rootfs: { image: IMAGE } })).status,
    ).toBe(201);
    await insertMigration(pool, {
      id: `${id}-1`,
      workflowId: `migrate-${id}`,
      runId: 'r',
      containerId: id,
      from: 'pc1',
      to: 'pc2',
      reason: 'test',
      decision: null,
    });
    await pool.query("UPDATE migrations SET status = 'completed', ended_at = now() WHERE id = $1", [`${id}-1`]);
  }
}, 120_000);

afterAll(() => server?.stop());

it('serves the page and its files without a token, under a CSP that loads only its own files', async () => {
  const page = await fetch(`${baseUrl}/`);
  expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
  expect(page.headers.get('content-security-policy')).toMatch(
    /default-src 'self'; script-src 'self'.*frame-ancestors 'none'/,
  );
  expect(await page.text()).toContain('<script src="/ui/app.js" defer></script>');
  expect((await fetch(`${baseUrl}/ui/app.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
  expect((await fetch(`${baseUrl}/ui/secrets`)).status).toBe(404);
  // The API itself still needs a token.
  expect((await fetch(`${baseUrl}/v1/containers`)).status).toBe(401);
});

it('logs an owner in with their token into an HttpOnly, SameSite=Strict cookie; a PC and a wrong token cannot', async () => {
  expect((await login('zo_wrong')).status).toBe(401);
  const pc = await login(tokens.pc1);
  expect([pc.status, pc.body.message]).toEqual([403, expect.stringMatching(/a PC's credential is for its reports/)]);
  const alice = await login(tokens.alice);
  expect([alice.status, alice.body.role, alice.body.ownerId]).toEqual([200, 'owner', 'alice']);
  expect(alice.setCookie).toMatch(/^zanshin_session=[A-Za-z0-9_-]{43}; .*HttpOnly; SameSite=Strict/);
  expect(alice.setCookie).toMatch(/Path=\//);
  const cookie = alice.setCookie.split(';')[0]!;
  const mine = await browser('GET', '/v1/containers', cookie);
  expect((mine.body.containers as { id: string }[]).map((c) => c.id)).toEqual(['alice-db']);
  expect((await browser('GET', '/ui/session', cookie)).body).toEqual({
    role: 'owner',
    ownerId: 'alice',
    csrf: alice.body.csrf,
    offlineAfterSeconds: 30,
  });
});

it('refuses every change through a session without its CSRF token, and lets one with it through', async () => {
  const alice = await login(tokens.alice);
  const cookie = alice.setCookie.split(';')[0]!;
  const csrf = String(alice.body.csrf);
  for (const given of [undefined, 'forged', String((await login(tokens.alice)).body.csrf)]) {
    const r = await browser('DELETE', '/v1/containers/alice-db', cookie, given);
    expect([r.status, r.body.message]).toEqual([403, expect.stringMatching(/CSRF token in x-csrf-token/)]);
  }
  expect((await browser('GET', '/v1/containers/alice-db', cookie)).status).toBe(200); // still there
  // With its token the change goes through to the route (which answers for the container).
  const moved = await browser('POST', '/v1/migrations', cookie, csrf, { containerId: 'alice-db' });
  expect([moved.status, moved.body.message]).toEqual([409, expect.stringMatching(/is created, not running/)]);
  expect((await browser('POST', '/v1/migrations', cookie, csrf, { containerId: 'bob-db' })).status).toBe(404);
});

it('ends a session at logout and when its owner is revoked', async () => {
  const first = (await login(tokens.bob)).setCookie.split(';')[0]!;
  const second = await login(tokens.bob);
  const cookie = second.setCookie.split(';')[0]!;
  const out = await fetch(`${baseUrl}/ui/logout`, {
    method: 'POST',
    headers: { cookie: first, 'x-csrf-token': 'x' },
  });
  // Logging out is a change too: without the session's CSRF token it is refused, and the session lives on.
  expect(out.status).toBe(403);
  expect((await browser('GET', '/v1/containers', first)).status).toBe(200);
  const logout = await browser('POST', '/ui/logout', cookie, String(second.body.csrf));
  expect(logout.status).toBe(204);
  const after = await browser('GET', '/v1/containers', cookie);
  expect([after.status, after.body.message]).toEqual([401, expect.stringMatching(/your session has ended/)]);
  expect((await callApi(baseUrl, 'DELETE', '/v1/owners/bob/token', ADMIN)).status).toBe(204);
  expect((await browser('GET', '/v1/containers', first)).status).toBe(401);
});

it('streams migrations as server-sent events, an owner seeing only theirs', async () => {
  const alice = (await login(tokens.alice)).setCookie.split(';')[0]!;
  const seen = await firstEvent(alice);
  expect(seen.event).toBe('migrations');
  expect((seen.data.recent as { id: string }[]).map((m) => m.id)).toEqual(['alice-db-1']);
  expect(seen.data.running).toEqual([]);
  const admin = await login(ADMIN);
  const all = await firstEvent(admin.setCookie.split(';')[0]!);
  expect((all.data.recent as { id: string }[]).map((m) => m.id).sort()).toEqual(['alice-db-1', 'bob-db-1']);
});

it("answers a script's bearer token on the page's own routes, without a CSRF token (it has no session)", async () => {
  const me = await callApi(baseUrl, 'GET', '/ui/session', tokens.alice);
  expect(me.body).toEqual({ role: 'owner', ownerId: 'alice', csrf: null, offlineAfterSeconds: 30 });
});

/** iCalendar time (UTC) `minutes` from now, on a 5-minute boundary. */
const icsAt = (minutes: number) => {
  const t = new Date(Math.floor(Date.now() / 300_000) * 300_000 + minutes * 60_000);
  return t
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
};

it("draws rooms as floor plans with each PC's state (a user at it too), load, CPU and lecture, a room's week, and containers with their remnants", async () => {
  // Four PCs: three report (pc3 silent for a minute: offline), pc4 never did; R101's plan places three of them.
  const credential = async (pc: string) =>
    pc === 'pc1'
      ? tokens.pc1
      : String((await callApi(baseUrl, 'POST', `/v1/nodes/${pc}/credential`, ADMIN, {})).body.token);
  for (const [pc, cpu] of [
    ['pc1', 0.92],
    ['pc2', 0.1],
    ['pc3', 0.3],
  ] as const) {
    const report = sampleReport({
      taskQueue: `node-${pc}`,
      cpu,
      cpuModel: `Intel(R) Core(TM) i5-8500 (${pc})`,
      remnants:
        pc === 'pc2' ? [{ ...sampleReport().remnants[0]!, containerId: 'alice-db', imageBytes: 71_500_000 }] : [],
    });
    expect((await callApi(baseUrl, 'PUT', `/v1/nodes/${pc}/report`, await credential(pc), report)).status).toBe(200);
  }
  await pool.query("UPDATE nodes SET last_report_at = now() - interval '60 seconds' WHERE id = 'pc3'");
  // pc5, alone in R102 (no lecture there): its student logged in at it (its seat watch told its lifecycle).
  const pc5 = sampleReport({ taskQueue: 'node-pc5', cpuModel: 'Intel(R) Core(TM) i5-8500 (pc5)', remnants: [] });
  expect((await callApi(baseUrl, 'PUT', '/v1/nodes/pc5/report', await credential('pc5'), pc5)).status).toBe(200);
  await pool.query("UPDATE nodes SET in_use_since = now(), in_use_by = 'student' WHERE id = 'pc5'");
  expect((await callApi(baseUrl, 'PUT', '/v1/rooms/R102', ADMIN, { nodes: ['pc5'] })).status).toBe(200);
  await pool.query("UPDATE containers SET state = 'running', node_id = 'pc1' WHERE id = 'alice-db'");
  const plan = [{ id: 'pc1', row: 1, seat: 1 }, { id: 'pc2', row: 1, seat: 2 }, { id: 'pc3', row: 2, seat: 2 }, 'pc4'];
  expect((await callApi(baseUrl, 'PUT', '/v1/rooms/R101', ADMIN, { nodes: plan })).status).toBe(200);
  // A lecture under way in R101 now, and one tomorrow.
  const event = (uid: string, title: string, from: number, to: number) =>
    `BEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20261201T000000Z\r\nSUMMARY:${title}\r\nLOCATION:R101\r\n` +
    `DTSTART:${icsAt(from)}\r\nDTEND:${icsAt(to)}\r\nEND:VEVENT\r\n`;
  const ics =
    'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n' +
    event('now@test', 'Operating Systems', -30, 60) +
    event('tomorrow@test', 'Compilers', 24 * 60, 24 * 60 + 90) +
    'END:VCALENDAR\r\n';
  expect(
    (await callApi(baseUrl, 'POST', '/v1/lectures/imports', ADMIN, { name: 'web', format: 'ics', content: ics }))
      .status,
  ).toBe(201);

  const browser = await launchBrowser();
  try {
    const page = await loggedIn(browser, baseUrl, ADMIN);
    const pc = (id: string) => page.locator(`.room[data-room="R101"] .pc[data-pc="${id}"]`);
    await pc('pc1').waitFor();
    expect(await page.textContent('.room[data-room="R101"] h3')).toMatch(/^R101 · Operating Systems until \d\d:\d\d$/);
    const states = await Promise.all(['pc1', 'pc2', 'pc3', 'pc4'].map((id) => pc(id).getAttribute('data-state')));
    expect(states).toEqual(['lecture', 'lecture', 'offline', 'unknown']);
    const inUse = page.locator('.room[data-room="R102"] .pc[data-pc="pc5"]');
    expect(await inUse.getAttribute('data-state')).toBe('in-use');
    expect(await inUse.textContent()).toMatch(/in use by student/);
    expect(await pc('pc1').textContent()).toMatch(
      /in a lecture.*CPU 92%.*memory 50%.*Intel\(R\) Core\(TM\) i5-8500 \(pc1\).*until \d\d:\d\d: Operating Systems.*alice-db \(running\)/,
    );
    // Placed where the plan says: row 2 stands behind row 1 (the grid's row 1 is the front), seat 2 to the right.
    // Measured in one evaluation: the page redraws the plan on every refresh, so handles taken one by one can detach.
    const [one, two, three] = await page.evaluate<{ x: number; y: number }[]>(
      `['pc1', 'pc2', 'pc3'].map((id) => {
        const { x, y } = document.querySelector('.room[data-room="R101"] .pc[data-pc="' + id + '"]').getBoundingClientRect();
        return { x, y };
      })`,
    );
    expect(two!.x).toBeGreaterThan(one!.x);
    expect([three!.x, three!.y > one!.y]).toEqual([two!.x, true]);
    // The week: today's lecture marked as under way, tomorrow's in the next day's column (when it is this week).
    expect(await page.locator('#week .day.today .lecture-slot.now').textContent()).toMatch(/Operating Systems$/);
    expect(await page.locator('#week .lecture-slot').allTextContents()).toContainEqual(
      expect.stringMatching(/^\d\d:\d\d–\d\d:\d\d Operating Systems$/),
    );
    // Containers: alice's, with the remnant pc2 reported; bob's too (an administrator sees all).
    const alice = page.locator('#containers tr:has(td:text-is("alice-db"))');
    expect(await alice.locator('td').allTextContents()).toEqual([
      'alice-db',
      'alice',
      'running',
      'pc1',
      'loopback',
      '64 MiB, disk 2048 MiB',
      '-',
      'pc2 (71.5 MB)',
      'logs',
    ]);
    expect(await page.locator('#containers td:text-is("bob-db")').count()).toBe(1);
    console.log(`web view, rooms: ${await screenshot(page, 'rooms')}`);
    // Alice sees the same campus, but only her container.
    const hers = await loggedIn(browser, baseUrl, tokens.alice);
    await hers.locator('.pc[data-pc="pc1"] .held:text-is("alice-db (running)")').waitFor();
    expect(await hers.locator('#containers td:first-child').allTextContents()).toEqual(['alice-db']);
    expect(await hers.content()).not.toContain('bob-db');
  } finally {
    await browser.close();
  }
}, 120_000);
