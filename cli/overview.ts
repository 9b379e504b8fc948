// `zanshin status` (the cluster at a glance) and `zanshin doctor` (what each PC can do, and what stands in its way),
// both from what migration-api keeps of the PCs' reports.
import type { Command } from 'commander';
import { DEFAULT_OFFLINE_AFTER_SECONDS } from '../common/names';
import { formatRate } from '../domain/link-rate';
import type { MigrationRow } from '../state/migrations';
import type { NodeRow } from '../state/nodes';
import type { ApiClient } from './api-client';
import { mb, table } from './format';

type NodeView = Omit<NodeRow, 'lastReportAt'> & { lastReportAt: string };
interface ContainerView {
  id: string;
  state: string;
  nodeId: string | null;
}

const gb = (bytes: number | null): string => (bytes === null ? '-' : `${(bytes / 1e9).toFixed(1)} GB`);
const silentSeconds = (n: NodeView, now: number): number => Math.round((now - Date.parse(n.lastReportAt)) / 1000);

/** How many of each value, in a stable order. */
function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of [...values].sort()) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}
const countsText = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .map(([v, n]) => `${n} ${v}`)
    .join(', ') || 'none';

/** What stands in the way of a PC, one line each (empty: nothing). */
export function doctorFindings(n: NodeView, now: number): string[] {
  const found: string[] = [];
  const silent = silentSeconds(n, now);
  if (silent > DEFAULT_OFFLINE_AFTER_SECONDS)
    found.push(`silent for ${silent} s: its worker is down or cut off (no container is placed or moved there)`);
  if (n.strategy === 'content' || (n.strategy === null && !n.dirtyTracking))
    found.push(
      'dumps by content hashing: its kernel does not track dirty pages for CRIU (no soft-dirty); ' +
        'moves work, without differential checkpoints',
    );
  if (n.checkpointsOtherUsers === false)
    found.push(
      'root lacks CAP_SYS_RESOURCE: containers whose program runs as a non-root user are refused here ' +
        '(CRIU cannot checkpoint them)',
    );
  if (n.diskTotalBytes && n.diskFreeBytes !== null && n.diskFreeBytes < 0.1 * n.diskTotalBytes)
    found.push(`disk almost full (${gb(n.diskFreeBytes)} free of ${gb(n.diskTotalBytes)}): checkpoints may not fit`);
  if (n.strategy === null) found.push('its worker does not report strategy, capabilities or disk: upgrade it');
  return found;
}

export function registerOverviewCommands(program: Command, api: () => ApiClient): void {
  program
    .command('status')
    .description('the cluster at a glance: migration-api, PCs reporting, containers, migrations under way')
    .option('--json', 'print JSON for scripts')
    .action(async (o: { json?: boolean }) => {
      const client = api();
      const [{ nodes }, { containers }, { migrations }] = await Promise.all([
        client.get<{ nodes: NodeView[] }>('/v1/nodes'),
        client.get<{ containers: ContainerView[] }>('/v1/containers'),
        client.get<{ migrations: MigrationRow[] }>('/v1/migrations'),
      ]);
      const now = Date.now();
      const silent = nodes.filter((n) => silentSeconds(n, now) > DEFAULT_OFFLINE_AFTER_SECONDS);
      const running = migrations.filter((m) => m.status === 'running');
      const summary = {
        api: client.url,
        pcs: { total: nodes.length, reporting: nodes.length - silent.length, silent: silent.map((n) => n.id) },
        containers: countBy(containers.map((c) => c.state)),
        migrationsRunning: running.map((m) => ({ id: m.id, containerId: m.containerId, from: m.from, to: m.to })),
      };
      if (o.json) return console.log(JSON.stringify(summary, null, 2));
      console.log(
        [
          `migration-api ${client.url}: answering`,
          `PCs: ${nodes.length}, ${nodes.length - silent.length} reporting` +
            (silent.length
              ? `; silent for over ${DEFAULT_OFFLINE_AFTER_SECONDS} s: ${silent.map((n) => n.id).join(', ')}`
              : ''),
          `containers: ${countsText(summary.containers)}`,
          `migrations under way: ${running.length ? running.map((m) => `${m.containerId} ${m.from} -> ${m.to}`).join('; ') : 'none'}`,
          `(zanshin nodes, zanshin containers, zanshin migrations, zanshin doctor for more)`,
        ].join('\n'),
      );
      if (silent.length) process.exitCode = 1;
    });

  program
    .command('doctor')
    .description("per PC: dump strategy, CRIU, whether root can checkpoint other users' programs, link, store, disk")
    .option('--json', 'print JSON for scripts')
    .action(async (o: { json?: boolean }) => {
      const { nodes } = await api().get<{ nodes: NodeView[] }>('/v1/nodes');
      const now = Date.now();
      const rows = nodes.map((n) => ({ node: n, findings: doctorFindings(n, now) }));
      if (o.json)
        return console.log(
          JSON.stringify(
            rows.map(({ node: n, findings }) => ({
              id: n.id,
              strategy: n.strategy ?? (n.dirtyTracking ? 'kernel' : 'content'),
              criuVersion: n.criuVersion,
              checkpointsOtherUsers: n.checkpointsOtherUsers,
              linkRateBps: n.linkRateBps,
              imageBytes: n.imageBytes,
              diskFreeBytes: n.diskFreeBytes,
              diskTotalBytes: n.diskTotalBytes,
              lastReportAt: n.lastReportAt,
              findings,
            })),
            null,
            2,
          ),
        );
      if (!nodes.length) return console.log('no PC has reported yet: are the node workers running?');
      console.log(
        table(
          ['PC', 'strategy', 'CRIU', "other users' programs", 'link', 'images held', 'disk free', 'last report'],
          nodes.map((n) => [
            n.id,
            n.strategy ?? (n.dirtyTracking ? 'kernel' : 'content'),
            n.criuVersion,
            n.checkpointsOtherUsers === null ? '-' : n.checkpointsOtherUsers ? 'yes' : 'no (no CAP_SYS_RESOURCE)',
            formatRate(n.linkRateBps),
            mb(n.imageBytes),
            n.diskTotalBytes === null ? '-' : `${gb(n.diskFreeBytes)} of ${gb(n.diskTotalBytes)}`,
            `${silentSeconds(n, now)} s ago`,
          ]),
        ),
      );
      const problems = rows.filter((r) => r.findings.length);
      for (const { node, findings } of problems) for (const f of findings) console.log(`${node.id}: ${f}`);
      if (!problems.length) console.log('every PC looks healthy');
    });
}
