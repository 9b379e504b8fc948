// The web view: a session (cookie) from a token, then the campus from the API: rooms drawn as floor plans with each
// PC's state, load and lecture, a room's week, containers with their remnants and logs, migrations live over SSE.
// Everything from the API enters the page as text (textContent), never as markup.
'use strict';

const $ = (id) => document.getElementById(id);
let session = null;

async function api(method, url, body) {
  const res = await fetch(url, {
    method,
    credentials: 'same-origin',
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(session?.csrf && method !== 'GET' ? { 'x-csrf-token': session.csrf } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw Object.assign(new Error(data?.message ?? `HTTP ${res.status}`), { status: res.status });
  return data;
}

/** An element with properties (className, textContent, dataset, ...) and children. */
function el(tag, props = {}, ...children) {
  const { dataset, ...rest } = props;
  const node = Object.assign(document.createElement(tag), rest);
  Object.assign(node.dataset, dataset ?? {});
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** A table from a header row and rows of cells (plain values become text; elements are placed as they are). */
function fill(table, head, rows) {
  const cell = (c, tag) => el(tag, {}, c instanceof Node ? c : c === null || c === undefined ? '-' : String(c));
  table.replaceChildren(
    el('tr', {}, ...head.map((h) => cell(h, 'th'))),
    ...rows.map((r) => el('tr', {}, ...r.map((c) => cell(c, 'td')))),
  );
}

const mb = (bytes) => (bytes === null || bytes === undefined ? '-' : `${(bytes / 1e6).toFixed(1)} MB`);
const pct = (x) => (x === null || x === undefined ? '-' : `${Math.round(x * 100)}%`);
const DAY_MS = 86_400_000;
const hhmm = (d) => d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
const dayName = (d) => d.toLocaleDateString('en-GB', { weekday: 'short' });
const dayLabel = (d) => d.toLocaleDateString('en-GB', { weekday: 'short', day: 'numeric', month: 'short' });
/** "12:30" today, "Tue 09:00" within a week, else the date. */
function when(d, now = new Date()) {
  if (d.toDateString() === now.toDateString()) return hhmm(d);
  if (Math.abs(d - now) < 6 * DAY_MS) return `${dayName(d)} ${hhmm(d)}`;
  return `${d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' })} ${hhmm(d)}`;
}
/** Monday 00:00 (local time) of the week holding `d`. */
function weekStart(d) {
  const monday = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  monday.setDate(monday.getDate() - ((monday.getDay() + 6) % 7));
  return monday;
}

// What the page knows; each refresh replaces its part and redraws.
const campus = { nodes: [], containers: [], rooms: [], lectures: [] };

/** The lecture under way in `room` at `now`, and the next one to start. */
function lecturesOf(room, now) {
  const mine = campus.lectures.filter((l) => l.room === room);
  return {
    current: mine.find((l) => l.startsAt <= now && now < l.endsAt) ?? null,
    next: mine.find((l) => l.startsAt > now) ?? null,
  };
}

/** A PC's lecture of all its rooms: the one under way, else the soonest next. */
function lectureOfPc(nodeId, now) {
  let current = null;
  let next = null;
  for (const r of campus.rooms.filter((r) => r.nodes.includes(nodeId))) {
    const l = lecturesOf(r.room, now);
    current ??= l.current;
    if (l.next && (!next || l.next.startsAt < next.startsAt)) next = l.next;
  }
  return { current, next };
}

/** One PC as a tile of its room's plan: state, load, CPU model, lecture, the containers it runs. */
function pcTile(nodeId, now) {
  const n = campus.nodes.find((x) => x.id === nodeId);
  const { current, next } = lectureOfPc(nodeId, now);
  const silentFor = n ? (now - new Date(n.lastReportAt)) / 1000 : Infinity;
  // Its user at its own keyboard (the PC's seat watch): logged in, or logged out less than the idle time ago.
  const inUse = n && n.inUseSince && (!n.inUseUntil || new Date(n.inUseUntil) > now);
  const state = !n
    ? 'unknown'
    : silentFor > session.offlineAfterSeconds
      ? 'offline'
      : current
        ? 'lecture'
        : inUse
          ? 'in-use'
          : 'free';
  const label = {
    unknown: 'never reported',
    offline: `offline (silent ${Math.round(silentFor)} s)`,
    lecture: 'in a lecture',
    'in-use':
      n && n.inUseUntil
        ? `in use (offered again at ${hhmm(new Date(n.inUseUntil))})`
        : `in use by ${n?.inUseBy ?? 'its user'}`,
    free: 'free',
  }[state];
  const running = campus.containers.filter((c) => c.nodeId === nodeId && c.state !== 'stopped');
  const meter = (name, value) =>
    el(
      'label',
      { className: 'load' },
      `${name} ${pct(value)}`,
      el('meter', { min: 0, max: 1, low: 0.6, high: 0.85, optimum: 0, value: value ?? 0 }),
    );
  const lecture = current
    ? `until ${hhmm(current.endsAt)}: ${current.title}`
    : next
      ? `next ${when(next.startsAt, now)}: ${next.title}`
      : 'no lecture this week';
  return el(
    'div',
    { className: `pc pc-${state}`, dataset: { pc: nodeId, state } },
    el(
      'div',
      { className: 'pc-head' },
      el('strong', { textContent: nodeId }),
      el('span', { className: 'badge', textContent: label }),
    ),
    n ? el('div', { className: 'loads' }, meter('CPU', n.cpu), meter('memory', n.memory)) : null,
    n
      ? el('div', { className: 'cpu-model', textContent: n.cpuModel, title: `${n.cpuModel}, ${n.cpuCores} cores` })
      : null,
    el('div', { className: 'lecture', textContent: lecture }),
    el('div', {
      className: 'held',
      textContent: running.length ? running.map((c) => `${c.id} (${c.state})`).join(', ') : 'no containers',
    }),
  );
}

/** A room as its floor plan: placed PCs at their row and seat (row 1 at the front), unplaced ones after. */
function roomPlan(room, pcs, now) {
  const placed = pcs.filter((p) => p.row !== null);
  const grid = el('div', { className: 'plan' });
  for (const p of placed) {
    const tile = pcTile(p.nodeId, now);
    tile.style.gridRow = String(p.row + 1); // row 1 of the grid is the front
    tile.style.gridColumn = String(p.seat);
    tile.title = `row ${p.row}, seat ${p.seat}`;
    grid.append(tile);
  }
  const seats = Math.max(1, ...placed.map((p) => p.seat));
  const front = el('div', { className: 'front', textContent: 'front' });
  front.style.gridColumn = `1 / ${seats + 1}`;
  grid.prepend(front);
  const loose = pcs.filter((p) => p.row === null);
  const { current, next } = room ? lecturesOf(room, now) : { current: null, next: null };
  const heading = room
    ? `${room}${current ? ` · ${current.title} until ${hhmm(current.endsAt)}` : next ? ` · next ${when(next.startsAt, now)}: ${next.title}` : ''}`
    : 'PCs in no room';
  return el(
    'section',
    { className: 'room', dataset: { room: room ?? '' } },
    el('h3', { textContent: heading }),
    placed.length ? grid : null,
    loose.length ? el('div', { className: 'loose' }, ...loose.map((p) => pcTile(p.nodeId, now))) : null,
  );
}

function showRooms() {
  const now = new Date();
  const inRooms = new Set(campus.rooms.flatMap((r) => r.nodes));
  const roomless = campus.nodes.filter((n) => !inRooms.has(n.id)).map((n) => ({ nodeId: n.id, row: null, seat: null }));
  $('rooms').replaceChildren(
    ...campus.rooms.map((r) => roomPlan(r.room, r.pcs, now)),
    ...(roomless.length ? [roomPlan(null, roomless, now)] : []),
  );
  if (!campus.rooms.length && !roomless.length) $('rooms').append(el('p', { textContent: 'no PC has reported yet' }));
}

/** The chosen room's lectures this week (Monday to Sunday, local time), today and the lecture under way marked. */
function showWeek() {
  const select = $('week-room');
  const names = campus.rooms.map((r) => r.room);
  const chosen = names.includes(select.value) ? select.value : names[0];
  select.replaceChildren(...campus.rooms.map((r) => el('option', { value: r.room, textContent: r.room })));
  $('week-section').hidden = !campus.rooms.length;
  if (!chosen) return;
  select.value = chosen;
  const now = new Date();
  const monday = weekStart(now);
  const days = [...Array(7).keys()].map((i) => new Date(monday.getFullYear(), monday.getMonth(), monday.getDate() + i));
  $('week').replaceChildren(
    ...days.map((day) => {
      const end = new Date(day.getFullYear(), day.getMonth(), day.getDate() + 1);
      const lectures = campus.lectures.filter((l) => l.room === chosen && l.startsAt < end && l.endsAt > day);
      const today = day.toDateString() === now.toDateString();
      return el(
        'div',
        { className: `day${today ? ' today' : ''}` },
        el('h4', { textContent: dayLabel(day) }),
        ...(lectures.length
          ? lectures.map((l) =>
              el('div', {
                className: `lecture-slot${l.startsAt <= now && now < l.endsAt ? ' now' : ''}`,
                textContent: `${hhmm(l.startsAt)}–${hhmm(l.endsAt)} ${l.title}`,
              }),
            )
          : [el('p', { className: 'quiet', textContent: 'free' })]),
      );
    }),
  );
}

function showContainers() {
  const rows = campus.containers.map((c) => {
    const here = c.remnants.find((r) => r.nodeId === c.nodeId);
    const away = c.remnants.filter((r) => r.nodeId !== c.nodeId);
    const logs = el('button', { type: 'button', textContent: 'logs', disabled: !c.nodeId });
    logs.dataset.logs = c.id;
    logs.addEventListener('click', () => void openLogs(c.id));
    return [
      c.id,
      c.owner ?? '(admin)',
      el('span', { className: `state-${c.state}`, textContent: c.state }),
      c.nodeId,
      c.network?.address ?? 'loopback',
      `${c.memoryMiB} MiB, disk ${c.diskMiB} MiB`,
      here?.imageBytes ? mb(here.imageBytes) : '-',
      away.length ? away.map((r) => `${r.nodeId} (${mb(r.imageBytes)})`).join(', ') : 'none',
      logs,
    ];
  });
  fill(
    $('containers'),
    ['container', 'owner', 'state', 'PC', 'address', 'size', 'checkpoint', 'remnants on', ''],
    rows,
  );
}

let logsOf = null;
async function openLogs(id) {
  logsOf = id;
  $('logs').hidden = false;
  const stream = $('logs-stream').value;
  $('logs-title').textContent = `Logs of ${id}`;
  $('logs-text').textContent = 'reading…';
  try {
    const r = await api('GET', `/v1/containers/${encodeURIComponent(id)}/logs?stream=${stream}&tailBytes=16384`);
    $('logs-title').textContent =
      `Logs of ${id} on ${r.nodeId} (${stream}, last ${Math.min(r.bytes, 16384)} of ${r.bytes} bytes)`;
    $('logs-text').textContent = r.text || '(empty)';
  } catch (err) {
    $('logs-text').textContent = `could not read the logs: ${err.message}`;
  }
}
$('logs-refresh').addEventListener('click', () => logsOf && void openLogs(logsOf));
$('logs-stream').addEventListener('change', () => logsOf && void openLogs(logsOf));
$('logs-close').addEventListener('click', () => {
  logsOf = null;
  $('logs').hidden = true;
});

// A move's steps (workflows/migration-steps.ts), in the order they come: how far along a live migration is.
const PHASES = [
  ['prepare target'],
  ['sync bundle', 'apply bundle'],
  ['pre-copy'],
  ['checkpoint', 'take over address'],
  ['transfer checkpoint'],
  ['restore'],
  ['leave remnant', 'merge chain', 'keep checkpoint'],
];
const phaseOf = (step) => PHASES.findIndex((names) => names.some((n) => step.startsWith(n))) + 1;

function showMigrations({ running, recent }) {
  const now = Date.now();
  const boxes = (running ?? []).map((m) => {
    const steps = m.progress?.steps ?? [];
    const last = steps[steps.length - 1];
    const done = Math.max(0, ...steps.map((s) => phaseOf(s.step)));
    const bar = el('progress', { max: PHASES.length, value: done });
    return el(
      'div',
      { className: 'live', dataset: { migration: m.id } },
      el('strong', { textContent: `${m.containerId}: ${m.from} → ${m.to ?? '?'}` }),
      el('span', { className: 'step', textContent: ` step ${steps.length}: ${last ? last.step : 'starting'}` }),
      el('div', {}, bar, ` ${Math.round((now - new Date(m.startedAt)) / 1000)} s`),
    );
  });
  $('live').replaceChildren(...(boxes.length ? boxes : [el('p', { textContent: 'none' })]));
  fill(
    $('history'),
    ['migration', 'container', 'route', 'status', 'ended', 'downtime', 'wire'],
    (recent ?? []).map((m) => [
      m.id,
      m.containerId,
      `${m.from} → ${m.to}`,
      el('span', { className: `status-${m.status}`, textContent: m.status }),
      m.endedAt ? when(new Date(m.endedAt)) : null,
      m.report?.downtimeMs !== undefined ? `${m.report.downtimeMs} ms` : '-',
      mb(m.report?.wireBytes),
    ]),
  );
}

function showError(err) {
  $('error').hidden = !err;
  $('error').textContent = err ? `could not refresh: ${err.message}` : '';
}

async function refreshCampus() {
  try {
    const [{ nodes }, { containers }, { rooms }] = await Promise.all([
      api('GET', '/v1/nodes'),
      api('GET', '/v1/containers'),
      api('GET', '/v1/rooms'),
    ]);
    Object.assign(campus, { nodes, containers, rooms });
    showRooms();
    showWeek();
    showContainers();
    showError(null);
    $('updated').textContent = `updated ${hhmm(new Date())}`;
  } catch (err) {
    showError(err);
  }
}

/** This week's lectures and the next week's (a PC's next lecture may be after Sunday). */
async function refreshLectures() {
  const from = weekStart(new Date());
  const to = new Date(from.getTime() + 14 * DAY_MS);
  const { lectures } = await api('GET', `/v1/lectures?from=${from.toISOString()}&to=${to.toISOString()}`);
  campus.lectures = lectures.map((l) => ({ ...l, startsAt: new Date(l.startsAt), endsAt: new Date(l.endsAt) }));
}

let events = null;
function follow() {
  events?.close();
  events = new EventSource('/v1/events');
  events.addEventListener('migrations', (e) => {
    showMigrations(JSON.parse(e.data));
    void refreshCampus();
  });
}

async function start() {
  try {
    session = await api('GET', '/ui/session');
  } catch (err) {
    if (err.status !== 401) throw err;
    $('login').hidden = false;
    return;
  }
  $('who').textContent = session.role === 'owner' ? `owner ${session.ownerId}` : 'administrator';
  $('login').hidden = true;
  $('campus').hidden = false;
  $('logout').hidden = false;
  await refreshLectures().catch(showError);
  await refreshCampus();
  follow();
  // Load and lectures change without a migration: redraw on a timer too.
  setInterval(() => void refreshCampus(), 10_000);
  setInterval(
    () =>
      void refreshLectures().then(() => {
        showRooms();
        showWeek();
      }, showError),
    300_000,
  );
}

$('week-room').addEventListener('change', showWeek);

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
