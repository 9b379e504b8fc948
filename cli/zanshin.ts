#!/usr/bin/env node
// zanshin: the administrator's command line over migration-api.
import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatRoomPc, parseRoomPc, ROOM_PC_RULE, RoomPc } from '../domain/floor-plan';
import type { PlacementDecision } from '../domain/placement';
import type { MigrationRow } from '../state/migrations';
import {
  ContainerUser,
  DEFAULT_DISK_MIB,
  DEFAULT_LIMITS,
  moveReportOf,
  MoveReport,
  StepReport,
} from '../domain/reports';
import { ApiClient, apiClientConfig } from './api-client';
import { RESTART_POLICIES, RestartPolicy, restartDueAt } from '../domain/restart-policy';
import { formatMoves, mb, table } from './format';
import { registerOverviewCommands } from './overview';

const api = (): ApiClient => new ApiClient(apiClientConfig());
const percent = (x: number | null | undefined): string =>
  x === null || x === undefined ? '-' : `${(x * 100).toFixed(1)}%`;
const when = (d: string | null | undefined): string =>
  d ? new Date(d).toISOString().replace('T', ' ').slice(0, 16) + 'Z' : '-';
const out = (json: boolean | undefined, data: unknown, human: () => string): void =>
  console.log(json ? JSON.stringify(data, null, 2) : human());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RoomListing {
  room: string;
  nodes: string[];
  pcs: RoomPc[];
}
interface NodeRow {
  id: string;
  strategy: 'kernel' | 'content' | null;
  address: string;
  cpu: number | null;
  memory: number | null;
  memoryAvailableBytes: number | null;
  lastReportAt: string;
  dirtyTracking: boolean;
  cpuModel: string;
  criuVersion: string;
}
interface ContainerRow {
  id: string;
  /** Its owner (null: an administrator's). */
  owner?: string | null;
  restartPolicy: RestartPolicy;
  restartCount: number;
  lastRestartAt: string | null;
  updatedAt: string;
  state: string;
  nodeId: string | null;
  memoryMiB: number;
  args: string[];
  rootfs: { dir?: string; tarball?: string; image?: string };
  network: { address: string; mac: string } | null;
  exitStatus: string | null;
  remnants?: { nodeId: string; generations: number[]; hasBundle: boolean; expiresAt: string | null }[];
}

/** The restart policy, the restarts in a row, and when an exited container starts again (its back-off). */
function restartLine(c: ContainerRow): string {
  if (c.restartPolicy === 'no') return 'no (its program is not started again when it ends)';
  const parts = [`${c.restartPolicy}, ${c.restartCount} restart(s) in a row`];
  if (c.lastRestartAt) parts.push(`last ${when(c.lastRestartAt)}`);
  if (c.state === 'exited') {
    const due = restartDueAt(
      c.restartPolicy,
      c.exitStatus,
      new Date(c.updatedAt),
      c.restartCount,
      c.lastRestartAt ? new Date(c.lastRestartAt) : null,
    );
    parts.push(
      due ? `starts again after ${when(due.toISOString())} (backing off)` : 'not started again (it ended well)',
    );
  }
  return parts.join('; ');
}

function placementTable(d: PlacementDecision): string {
  return `${table(
    ['node', 'C', 'M', 'P', 'B', 'L', 'cost', 'excluded because'],
    d.candidates.map((c) => [
      c.nodeId + (c.nodeId === d.chosen ? ' (chosen)' : ''),
      c.terms.C,
      c.terms.M,
      c.terms.P,
      c.terms.B,
      c.terms.L,
      c.cost ?? '-',
      c.excludedBecause.join('; ') || '-',
    ]),
  )}\n${d.explanation}`;
}

/** Downtime and bytes of a move; a recovery has neither. */
const moveColumns = (r: MoveReport | null): string[] => (r ? [`${r.downtimeMs} ms`, mb(r.wireBytes)] : ['-', '-']);

function migrationSummary(m: MigrationRow): string {
  const lines = [`migration ${m.id}: ${m.containerId} ${m.from} -> ${m.to}, ${m.status} (reason: ${m.reason})`];
  if (m.attempts.length > 1) lines.push(`targets tried: ${m.attempts.map((a) => `${a.to} (${a.outcome})`).join(', ')}`);
  if (m.error) lines.push(`error: ${m.error}`);
  const move = moveReportOf(m.report);
  if (move) lines.push(formatMoves([move]));
  return lines.join('\n');
}

/** Starts a migration and prints each step as it completes, then the report. */
async function migrate(
  client: ApiClient,
  containerId: string,
  to: string | undefined,
  reason: string | undefined,
  wait: boolean,
  json?: boolean,
): Promise<MigrationRow | null> {
  const started = await client.post<{ id: string; from: string; to: string; decision: PlacementDecision | null }>(
    '/v1/migrations',
    { containerId, ...(to ? { to } : {}), ...(reason ? { reason } : {}) },
  );
  if (!json) {
    console.log(`migrating ${containerId}: ${started.from} -> ${started.to} (migration ${started.id})`);
    if (started.decision) console.log(placementTable(started.decision));
  }
  if (!wait) {
    if (json) console.log(JSON.stringify(started, null, 2));
    return null;
  }
  let shown = 0;
  for (;;) {
    const m = await client.get<MigrationRow & { progress: { steps: StepReport[] } | null }>(
      `/v1/migrations/${started.id}`,
    );
    const steps = m.progress?.steps ?? moveReportOf(m.report)?.steps ?? [];
    if (!json)
      for (; shown < steps.length; shown++)
        console.log(`  ✓ ${steps[shown]!.step} on ${steps[shown]!.node} (${steps[shown]!.ms} ms)`);
    if (m.status !== 'running') {
      out(json, m, () => migrationSummary(m));
      if (m.status === 'failed') process.exitCode = 1;
      return m;
    }
    await sleep(500);
  }
}

const program = new Command('zanshin')
  .description(
    'Administer a Zanshin cluster through migration-api (ZANSHIN_API_URL, ZANSHIN_ADMIN_TOKEN[_FILE]; an owner: ZANSHIN_TOKEN[_FILE])',
  )
  .showHelpAfterError();
const json = new Option('--json', 'print JSON for scripts');

program
  .command('nodes')
  .description('PCs with their latest load')
  .addOption(json)
  .action(async (o: { json?: boolean }) => {
    const { nodes } = await api().get<{ nodes: NodeRow[] }>('/v1/nodes');
    out(o.json, nodes, () =>
      table(
        ['node', 'address', 'CPU', 'memory', 'free memory', 'last report', 'dirty tracking', 'CRIU'],
        nodes.map((n) => [
          n.id,
          n.address,
          percent(n.cpu),
          percent(n.memory),
          n.memoryAvailableBytes === null ? '-' : mb(n.memoryAvailableBytes),
          when(n.lastReportAt),
          n.strategy ?? (n.dirtyTracking ? 'kernel' : 'content'),
          n.criuVersion,
        ]),
      ),
    );
  });

program
  .command('node <nodeId>')
  .description('one PC: load, remnants, and when it is next needed for a lecture')
  .addOption(json)
  .action(async (nodeId: string, o: { json?: boolean }) => {
    const client = api();
    const [node, need] = await Promise.all([
      client.get<
        NodeRow & {
          remnants: {
            containerId: string;
            generations: number[];
            hasBundle: boolean;
            imageBytes: number;
            expiresAt: string | null;
          }[];
        }
      >(`/v1/nodes/${nodeId}`),
      client.get<{ rooms: string[]; inLectureUntil: string | null; nextLectureAt: string | null; L: number }>(
        `/v1/nodes/${nodeId}/need`,
      ),
    ]);
    out(o.json, { ...node, need }, () =>
      [
        `${node.id} at ${node.address}: CPU ${percent(node.cpu)}, memory ${percent(node.memory)}, ${node.cpuModel}, last report ${when(node.lastReportAt)}`,
        `rooms: ${need.rooms.join(', ') || '-'}; ${need.inLectureUntil ? `in a lecture until ${when(need.inLectureUntil)}` : 'free now'}; next lecture ${when(need.nextLectureAt)} (L = ${need.L})`,
        table(
          ['remnant of', 'generations', 'bundle', 'image', 'expires'],
          node.remnants.map((r) => [
            r.containerId,
            r.generations.join(',') || '-',
            r.hasBundle ? 'yes' : 'no',
            mb(r.imageBytes),
            when(r.expiresAt),
          ]),
        ),
      ].join('\n'),
    );
  });

const credential = program
  .command('credential')
  .description("each PC's own credential for migration-api: issue one, or revoke one to cut a PC off");

credential
  .command('issue <nodeId>')
  .description('issues a new credential for a PC (its previous one stops working); printed once, or written to --out')
  .option('--out <file>', 'write it to this file (mode 0600) instead of printing it')
  .action(async (nodeId: string, o: { out?: string }) => {
    const { token } = await api().post<{ token: string }>(`/v1/nodes/${nodeId}/credential`);
    if (!o.out) return console.log(token);
    writeFileSync(o.out, `${token}\n`, { mode: 0o600 });
    console.log(`credential of ${nodeId} written to ${o.out}: give it to its node worker as ZANSHIN_NODE_TOKEN_FILE`);
  });

credential
  .command('join-token <nodeId>')
  .description('a single-use token with which a new PC enrolls itself (zanshin-enroll): printed once')
  .option('--ttl-minutes <n>', 'how long it may be used', '60')
  .action(async (nodeId: string, o: { ttlMinutes: string }) => {
    const ttlMinutes = Number(o.ttlMinutes);
    if (!Number.isInteger(ttlMinutes) || ttlMinutes < 1)
      throw new InvalidArgumentError('--ttl-minutes: whole minutes >= 1');
    const r = await api().post<{ token: string; expiresAt: string }>(`/v1/nodes/${nodeId}/join-token`, { ttlMinutes });
    console.log(r.token);
    console.error(
      `valid once, until ${r.expiresAt}. On ${nodeId}: ZANSHIN_JOIN_TOKEN=<token> zanshin-enroll --api <migration-api URL> --node ${nodeId} --ca ca.crt`,
    );
  });

credential
  .command('revoke <nodeId>')
  .description("revokes a PC's credential: it can no longer report, is no longer listed, placed on or sent to")
  .action(async (nodeId: string) => {
    await api().delete(`/v1/nodes/${nodeId}/credential`);
    console.log(`credential of ${nodeId} revoked`);
  });

const owner = program
  .command('owner')
  .description("owners: issue one a token with quotas, revoke it, or show one's containers and usage");

const quotaInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number >= 0`);
  return n;
};

owner
  .command('issue <ownerId>')
  .description(
    'issues an owner a token (a previous one stops working), with quotas (defaults 3 containers, 2048 MiB, 8192 MiB ' +
      'of disk; issued again, the quotas not given stay); printed once, or written to --out',
  )
  .option('--containers <n>', 'containers at once', quotaInt('--containers'))
  .option('--memory <MiB>', 'sum of their memory limits', quotaInt('--memory'))
  .option('--disk <MiB>', 'sum of their disk quotas', quotaInt('--disk'))
  .option('--out <file>', 'write it to this file (mode 0600) instead of printing it')
  .action(async (ownerId: string, o: { containers?: number; memory?: number; disk?: number; out?: string }) => {
    const { token, quota } = await api().post<{ token: string; quota: Record<string, number> }>(
      `/v1/owners/${ownerId}/token`,
      {
        ...(o.containers !== undefined ? { containers: o.containers } : {}),
        ...(o.memory !== undefined ? { memoryMiB: o.memory } : {}),
        ...(o.disk !== undefined ? { diskMiB: o.disk } : {}),
      },
    );
    const limits = `${quota.containers} containers, ${quota.memoryMiB} MiB memory, ${quota.diskMiB} MiB disk`;
    if (!o.out) return console.log(token);
    writeFileSync(o.out, `${token}\n`, { mode: 0o600 });
    console.log(`token of ${ownerId} (${limits}) written to ${o.out}: the owner uses it as ZANSHIN_TOKEN_FILE`);
  });

owner
  .command('revoke <ownerId>')
  .description("revokes an owner's token: they can no longer reach the API (their containers run on)")
  .action(async (ownerId: string) => {
    await api().delete(`/v1/owners/${ownerId}/token`);
    console.log(`token of ${ownerId} revoked`);
  });

interface OwnerView {
  id: string;
  quota: { containers: number; memoryMiB: number; diskMiB: number };
  usage: { containers: number; memoryMiB: number; diskMiB: number };
  revokedAt: string | null;
}

program
  .command('owners')
  .description('owners with their quotas and what they hold')
  .addOption(json)
  .action(async (o: { json?: boolean }) => {
    const { owners } = await api().get<{ owners: OwnerView[] }>('/v1/owners');
    out(o.json, owners, () =>
      table(
        ['owner', 'containers', 'memory MiB', 'disk MiB', 'token'],
        owners.map((w) => [
          w.id,
          `${w.usage.containers} / ${w.quota.containers}`,
          `${w.usage.memoryMiB} / ${w.quota.memoryMiB}`,
          `${w.usage.diskMiB} / ${w.quota.diskMiB}`,
          w.revokedAt ? `revoked ${when(w.revokedAt)}` : 'live',
        ]),
      ),
    );
  });

program
  .command('containers')
  .description('containers and where they run')
  .addOption(json)
  .action(async (o: { json?: boolean }) => {
    const { containers } = await api().get<{ containers: ContainerRow[] }>('/v1/containers');
    out(o.json, containers, () =>
      table(
        ['container', 'state', 'node', 'address', 'memory', 'command'],
        containers.map((c) => [
          c.id,
          c.exitStatus ? `${c.state} (${c.exitStatus})` : c.state,
          c.nodeId ?? '-',
          c.network?.address ?? '-',
          `${c.memoryMiB} MiB`,
          c.args.map((a) => JSON.stringify(a)).join(' '),
        ]),
      ),
    );
  });

const container = program
  .command('container')
  .description('create, show, start, place, migrate or delete one container');
/** `--user 1000:1000`: numbers, since the PC's user names mean nothing in a container's rootfs. */
function parseUser(value: string): ContainerUser {
  const m = /^(\d{1,10}):(\d{1,10})$/.exec(value);
  if (!m) throw new InvalidArgumentError('give the user as uid:gid, numbers of the rootfs (e.g. 1000:1000).');
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

container
  .command('create <id> [command...]')
  .description('register a container (then: zanshin container start <id>); from an image, a command replaces its CMD')
  .addOption(new Option('--rootfs-dir <dir>', 'rootfs directory on the PC').conflicts(['rootfsTar', 'image']))
  .addOption(new Option('--rootfs-tar <file>', 'rootfs tarball on the PC').conflicts('image'))
  .option(
    '--image <ref>',
    'OCI image, as skopeo names it: oci:/DIR:TAG, oci-archive:/FILE, docker-archive:/FILE, docker://HOST/NAME:TAG',
  )
  .option('--memory <MiB>', 'memory it needs and may use (its limit)', '64')
  .option('--disk <MiB>', 'disk quota of its rootfs, checked whenever it moves', String(DEFAULT_DISK_MIB))
  .option('--cpus <n>', 'CPUs it may use (0.5 = half a core)', String(DEFAULT_LIMITS.cpus))
  .option('--pids <n>', 'processes and threads it may have at once', String(DEFAULT_LIMITS.pids))
  .option('--user <uid:gid>', 'user its program runs as, numbers of its rootfs (default: root)', parseUser)
  .option('-e, --env <KEY=VALUE...>', 'environment', [])
  .addOption(
    new Option('--restart <policy>', 'when its program ends: start it afresh never, after a failure, or always')
      .choices([...RESTART_POLICIES])
      .default('no'),
  )
  .addOption(json)
  .action(
    async (
      id: string,
      command: string[],
      o: {
        restart: RestartPolicy;
        rootfsDir?: string;
        rootfsTar?: string;
        image?: string;
        memory: string;
        disk: string;
        cpus: string;
        pids: string;
        user?: ContainerUser;
        env: string[];
        json?: boolean;
      },
    ) => {
      if (!o.rootfsDir && !o.rootfsTar && !o.image) throw new Error('give --image, --rootfs-dir or --rootfs-tar');
      if (!o.image && !command.length) throw new Error('give the command to run (an absolute path in the rootfs)');
      const rootfs = o.image
        ? { image: o.image }
        : o.rootfsDir
          ? { dir: path.resolve(o.rootfsDir) }
          : { tarball: path.resolve(o.rootfsTar!) };
      const c = await api().post<ContainerRow>('/v1/containers', {
        id,
        args: command,
        env: o.env,
        memoryMiB: Number(o.memory),
        diskMiB: Number(o.disk),
        cpus: Number(o.cpus),
        pids: Number(o.pids),
        ...(o.user ? { user: o.user } : {}),
        rootfs,
        restart: o.restart,
      });
      out(o.json, c, () => `registered ${c.id} (${c.memoryMiB} MiB): zanshin container start ${c.id}`);
    },
  );
container
  .command('show <id>')
  .addOption(json)
  .action(async (id: string, o: { json?: boolean }) => {
    const c = await api().get<ContainerRow>(`/v1/containers/${id}`);
    out(
      o.json,
      c,
      () =>
        `${c.id}: ${c.state}${c.exitStatus ? ` (${c.exitStatus})` : ''}${c.nodeId ? ` on ${c.nodeId}` : ''}, ${c.memoryMiB} MiB, ${c.args.map((a) => JSON.stringify(a)).join(' ') || "the image's command"}\n` +
        (c.rootfs.image ? `image: ${c.rootfs.image}\n` : '') +
        `owner: ${c.owner ?? "none (an administrator's)"}\n` +
        `address: ${c.network ? `${c.network.address} (MAC ${c.network.mac}); it keeps this address when it moves` : 'none (loopback only)'}\n` +
        `restart: ${restartLine(c)}\n` +
        table(
          ['remnant on', 'generations', 'bundle', 'expires'],
          (c.remnants ?? []).map((r) => [
            r.nodeId,
            r.generations.join(',') || '-',
            r.hasBundle ? 'yes' : 'no',
            when(r.expiresAt),
          ]),
        ),
    );
  });
container
  .command('start <id>')
  .description('start it on a PC (chosen by the placement policy unless --node)')
  .option('--node <nodeId>')
  .addOption(json)
  .action(async (id: string, o: { node?: string; json?: boolean }) => {
    const c = await api().post<ContainerRow & { decision: PlacementDecision | null }>(
      `/v1/containers/${id}/start`,
      o.node ? { nodeId: o.node } : {},
    );
    out(o.json, c, () => `${c.id} runs on ${c.nodeId}${c.decision ? `\n${placementTable(c.decision)}` : ''}`);
  });
container
  .command('stop <id>')
  .description('stop it with a final checkpoint (kept on its PC; start continues where it left off)')
  .addOption(json)
  .action(async (id: string, o: { json?: boolean }) => {
    const c = await api().post<ContainerRow & { generation: number }>(`/v1/containers/${id}/stop`, {});
    out(o.json, c, () => `${c.id} stopped on ${c.nodeId}; its final checkpoint is generation ${c.generation}`);
  });
container
  .command('exec <id> <command...>')
  .description('run a command in the running container; prints its output and exits with its exit code')
  .option('--timeout <seconds>', 'give up after this long', '60')
  .addOption(json)
  .action(async (id: string, command: string[], o: { timeout: string; json?: boolean }) => {
    const r = await api().post<{ exitCode: number; stdout: string; stderr: string }>(`/v1/containers/${id}/exec`, {
      args: command,
      timeoutSeconds: Number(o.timeout),
    });
    if (o.json) console.log(JSON.stringify(r, null, 2));
    else {
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
    }
    process.exitCode = r.exitCode;
  });
container
  .command('logs <id>')
  .description("the end of its program's output (kept in its rootfs: it moves with the container)")
  .option('--stderr', 'standard error instead of standard output')
  .option('--tail <bytes>', 'how much of the end', '65536')
  .action(async (id: string, o: { stderr?: boolean; tail: string }) => {
    const r = await api().get<{ text: string }>(
      `/v1/containers/${id}/logs?stream=${o.stderr ? 'stderr' : 'stdout'}&tailBytes=${Number(o.tail)}`,
    );
    process.stdout.write(r.text);
  });
container
  .command('placement <id>')
  .description('where the container would go now, and why')
  .addOption(json)
  .action(async (id: string, o: { json?: boolean }) => {
    const d = await api().get<PlacementDecision>(`/v1/containers/${id}/placement`);
    out(o.json, d, () => placementTable(d));
  });
container
  .command('delete <id>')
  .description('forget a container that does not run')
  .action(async (id: string) => {
    await api().delete(`/v1/containers/${id}`);
    console.log(`deleted ${id}`);
  });

program
  .command('migrate <containerId>')
  .description('move a container (to the best PC unless --to), showing each step as it completes')
  .option('--to <nodeId>')
  .option('--reason <text>')
  .option('--no-wait', 'return once started')
  .addOption(json)
  .action(async (containerId: string, o: { to?: string; reason?: string; wait: boolean; json?: boolean }) => {
    await migrate(api(), containerId, o.to, o.reason, o.wait, o.json);
  });

program
  .command('evacuate <nodeId>')
  .description('move every container off a PC, one after another')
  .option('--reason <text>', 'why', 'evacuation')
  .addOption(json)
  .action(async (nodeId: string, o: { reason: string; json?: boolean }) => {
    const client = api();
    const { containers } = await client.get<{ containers: ContainerRow[] }>('/v1/containers');
    const here = containers.filter((c) => c.nodeId === nodeId && c.state === 'running');
    if (!here.length) {
      console.log(`no running container on ${nodeId}`);
      return;
    }
    const results = [];
    for (const c of here) results.push(await migrate(client, c.id, undefined, o.reason, true, o.json));
    if (!o.json)
      console.log(
        `evacuated ${results.filter((r) => r?.status === 'completed').length} of ${here.length} container(s) from ${nodeId}`,
      );
  });

const lectures = program.command('lectures').description('the lecture timetable');
interface ImportAnswer {
  dryRun: boolean;
  lectures: number;
  skipped: number;
  skippedComponents: { component: string; line: number; uid?: string; summary?: string; reason: string }[];
  rooms: string[];
  unmappedRooms: string[];
  byRoom: { room: string; lectures: number; first: string; last: string }[];
  expandedUntil: string;
  continuingPastWindow: number;
}

/** What an import did (or, with --dry-run, would do): counts, per-room lectures, every skipped part and why. */
function importSummary(r: ImportAnswer): string {
  const lines = [
    `${r.dryRun ? 'would import' : 'imported'} ${r.lectures} lectures in ${r.rooms.length} room(s)` +
      (r.skipped ? `, skipped ${r.skipped} part(s) of the file` : ''),
  ];
  if (r.dryRun && r.byRoom.length)
    lines.push(
      table(
        ['room', 'lectures', 'first', 'last', 'PCs mapped'],
        r.byRoom.map((x) => [
          x.room,
          String(x.lectures),
          when(x.first),
          when(x.last),
          r.unmappedRooms.includes(x.room) ? 'no' : 'yes',
        ]),
      ),
    );
  if (r.continuingPastWindow)
    lines.push(
      `${r.continuingPastWindow} recurring event(s) go on past ${when(r.expandedUntil)}: their later lectures are added as time passes`,
    );
  for (const c of r.skippedComponents)
    lines.push(
      `  skipped ${c.component} at line ${c.line}${c.uid ? ` (UID ${c.uid})` : ''}${c.summary ? ` "${c.summary}"` : ''}: ${c.reason}`,
    );
  if (r.skipped > r.skippedComponents.length) lines.push(`  ... and ${r.skipped - r.skippedComponents.length} more`);
  if (r.unmappedRooms.length)
    lines.push(`rooms without PCs (map them: zanshin rooms set <room> <pc...>): ${r.unmappedRooms.join(', ')}`);
  return lines.join('\n');
}

lectures
  .command('import <file>')
  .description('import an iCalendar (.ics) or CSV timetable; the same --name replaces an earlier import')
  .requiredOption('--name <name>', 'e.g. 2026-fall')
  .addOption(new Option('--format <format>').choices(['ics', 'csv']))
  .option(
    '--timezone <tz>',
    "campus time zone for CSV times, floating times and all-day events (default: the API's ZANSHIN_TIMEZONE)",
  )
  .option('--dry-run', 'show what would be imported and skipped, and which rooms have no PCs; store nothing')
  .addOption(json)
  .action(
    async (
      file: string,
      o: { name: string; format?: 'ics' | 'csv'; timezone?: string; dryRun?: boolean; json?: boolean },
    ) => {
      const format = o.format ?? (file.toLowerCase().endsWith('.csv') ? 'csv' : 'ics');
      const r = await api().post<ImportAnswer>('/v1/lectures/imports', {
        name: o.name,
        format,
        content: readFileSync(file, 'utf8'),
        ...(o.timezone ? { timezone: o.timezone } : {}),
        ...(o.dryRun ? { dryRun: true } : {}),
      });
      out(o.json, r, () => importSummary(r));
    },
  );
lectures
  .command('week')
  .description('lectures of the next 7 days, per room')
  .option('--room <room>')
  .addOption(json)
  .action(async (o: { room?: string; json?: boolean }) => {
    const { lectures: list } = await api().get<{
      lectures: { room: string; title: string; startsAt: string; endsAt: string }[];
    }>(`/v1/lectures${o.room ? `?room=${encodeURIComponent(o.room)}` : ''}`);
    out(o.json, list, () =>
      table(
        ['room', 'from', 'to', 'title'],
        list.map((l) => [l.room, when(l.startsAt), when(l.endsAt).slice(11), l.title]),
      ),
    );
  });

lectures
  .command('conflicts')
  .description('containers that were still on a PC when its lecture started (default: the last 7 days)')
  .option('--since <time>', 'ISO date-time, e.g. 2026-12-01T00:00:00Z')
  .addOption(json)
  .action(async (o: { since?: string; json?: boolean }) => {
    const { conflicts } = await api().get<{
      conflicts: { containerId: string; nodeId: string; lectureAt: string; detectedAt: string }[];
    }>(`/v1/lectures/conflicts${o.since ? `?since=${encodeURIComponent(o.since)}` : ''}`);
    out(o.json, conflicts, () =>
      conflicts.length
        ? table(
            ['container', 'PC', 'lecture from', 'detected'],
            conflicts.map((c) => [c.containerId, c.nodeId, when(c.lectureAt), when(c.detectedAt)]),
          )
        : 'no lecture conflicts',
    );
  });

const rooms = program
  .command('rooms')
  .description('which PCs stand in which room, and where (row.seat on its floor plan)')
  .addOption(json)
  .action(async (o: { json?: boolean }) => {
    const { rooms: list } = await api().get<{ rooms: RoomListing[] }>('/v1/rooms');
    out(o.json, list, () =>
      table(
        ['room', 'PCs (id@row.seat)'],
        list.map((r) => [r.room, r.pcs.map(formatRoomPc).join(' ')]),
      ),
    );
  });
rooms
  .command('set <room> <pcs...>')
  .description(`the PCs of a room (replaces its list): ${ROOM_PC_RULE}`)
  .action(async (room: string, specs: string[]) => {
    const nodes = specs.map((spec) => {
      const pc = parseRoomPc(spec);
      return pc.row === null ? pc.nodeId : { id: pc.nodeId, row: pc.row, seat: pc.seat };
    });
    const r = await api().put<RoomListing>(`/v1/rooms/${encodeURIComponent(room)}`, { nodes });
    console.log(`${r.room}: ${r.pcs.map(formatRoomPc).join(' ')}`);
  });

program
  .command('migrations')
  .description('migration history')
  .option('--container <id>')
  .addOption(json)
  .action(async (o: { container?: string; json?: boolean }) => {
    const { migrations } = await api().get<{ migrations: MigrationRow[] }>(
      `/v1/migrations${o.container ? `?containerId=${o.container}` : ''}`,
    );
    out(o.json, migrations, () =>
      table(
        ['migration', 'container', 'route', 'status', 'started', 'downtime', 'wire'],
        migrations.map((m) => [
          m.id,
          m.containerId,
          `${m.from} -> ${m.to}`,
          m.status,
          when(m.startedAt as unknown as string),
          ...moveColumns(moveReportOf(m.report)),
        ]),
      ),
    );
  });
program
  .command('migration <id>')
  .description('one migration with per-step timings')
  .addOption(json)
  .action(async (id: string, o: { json?: boolean }) => {
    const m = await api().get<MigrationRow>(`/v1/migrations/${id}`);
    out(o.json, m, () => migrationSummary(m));
  });

registerOverviewCommands(program, api);

program.parseAsync().catch((err: unknown) => {
  console.error(`zanshin: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
