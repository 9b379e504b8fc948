// The web view: a session (cookie) from a token, then the campus from the API, migrations live over SSE.
'use strict';

const $ = (id) => document.getElementById(id);
let csrf = null;

async function api(method, url, body) {
  const res = await fetch(url, {
    method,
    credentials: 'same-origin',
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(csrf && method !== 'GET' ? { 'x-csrf-token': csrf } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw Object.assign(new Error(data?.message ?? `HTTP ${res.status}`), { status: res.status });
  return data;
}

/** A table from a header row and rows of plain values (text only: nothing from the API becomes markup). */
function fill(table, head, rows) {
  table.replaceChildren();
  const tr = (cells, tag) => {
    const row = document.createElement('tr');
    for (const c of cells) {
      const cell = document.createElement(tag);
      cell.textContent = c === null || c === undefined ? '-' : String(c);
      row.append(cell);
    }
    return row;
  };
  table.append(tr(head, 'th'), ...rows.map((r) => tr(r, 'td')));
}

const mb = (bytes) => (bytes === null || bytes === undefined ? '-' : `${(bytes / 1e6).toFixed(1)} MB`);
const pct = (x) => (x === null || x === undefined ? '-' : `${Math.round(x * 100)}%`);

async function showCampus() {
  const [{ nodes }, { containers }] = await Promise.all([api('GET', '/v1/nodes'), api('GET', '/v1/containers')]);
  fill(
    $('pcs'),
    ['PC', 'CPU', 'load', 'memory', 'strategy', 'last report'],
    nodes.map((n) => [n.id, n.cpuModel, pct(n.cpu), pct(n.memory), n.strategy, n.lastReportAt]),
  );
  const rows = containers.map((c) => [
    c.id,
    c.owner ?? '(admin)',
    c.state,
    c.nodeId,
    c.network?.address ?? 'loopback',
    `${c.memoryMiB} MiB`,
  ]);
  fill($('containers'), ['container', 'owner', 'state', 'PC', 'address', 'memory'], rows);
}

function showMigrations({ running, recent }) {
  const live = $('live');
  live.replaceChildren();
  if (!running?.length) live.append(Object.assign(document.createElement('p'), { textContent: 'none' }));
  for (const m of running ?? []) {
    const box = Object.assign(document.createElement('div'), { className: 'live' });
    box.dataset.migration = m.id;
    const steps = m.progress?.steps ?? [];
    const last = steps[steps.length - 1];
    box.append(
      Object.assign(document.createElement('strong'), { textContent: `${m.containerId}: ${m.from} → ${m.to}` }),
      Object.assign(document.createElement('span'), {
        className: 'step',
        textContent: ` step ${steps.length}: ${last ? last.step : 'starting'}`,
      }),
    );
    live.append(box);
  }
  fill(
    $('history'),
    ['migration', 'container', 'route', 'status', 'downtime', 'wire'],
    (recent ?? []).map((m) => [
      m.id,
      m.containerId,
      `${m.from} → ${m.to}`,
      m.status,
      m.report?.downtimeMs !== undefined ? `${m.report.downtimeMs} ms` : '-',
      mb(m.report?.wireBytes),
    ]),
  );
}

let events = null;
function follow() {
  events?.close();
  events = new EventSource('/v1/events');
  events.addEventListener('migrations', (e) => {
    showMigrations(JSON.parse(e.data));
    void showCampus().catch(() => undefined);
  });
}

async function start() {
  try {
    const me = await api('GET', '/ui/session');
    csrf = me.csrf;
    $('who').textContent = me.role === 'owner' ? `owner ${me.ownerId}` : 'administrator';
    $('login').hidden = true;
    $('campus').hidden = false;
    $('logout').hidden = false;
    await showCampus();
    follow();
  } catch (err) {
    if (err.status !== 401) throw err;
    $('login').hidden = false;
  }
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    await api('POST', '/ui/login', { token: $('token').value });
    $('token').value = '';
    $('login-error').textContent = '';
    await start();
  } catch (err) {
    $('login-error').textContent = err.message;
  }
});

$('logout').addEventListener('click', async () => {
  await api('POST', '/ui/logout');
  events?.close();
  location.reload();
});

void start();
