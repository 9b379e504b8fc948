// The local cluster launcher: start, stop, status and probe of the simulated classroom.
import { Command, Option } from 'commander';
import { clusterConfig, ClusterConfig } from './config';
import { clusterStatus, ClusterStatus, startCluster, stopCluster } from './cluster';
import { probeNodes } from './probe';
import { planCluster } from './plan';
import { withTemporalClient } from './temporal-client';
import { runRoundTrip } from '../demo/round-trip';
import { formatMoves, table } from '../../cli/format';
import { ApiClient, apiClientConfig } from '../../cli/api-client';
import { runScenario } from '../demo/scenario';

interface CommonOptions {
  nodes?: string;
  linkRate?: string;
  dataDir?: string;
  json?: boolean;
}

function configFrom(opts: CommonOptions): ClusterConfig {
  const env = { ...process.env };
  if (opts.nodes !== undefined) env.ZANSHIN_NODES = opts.nodes;
  if (opts.linkRate !== undefined) env.ZANSHIN_LINK_RATE = opts.linkRate;
  if (opts.dataDir !== undefined) env.ZANSHIN_DATA_DIR = opts.dataDir;
  return clusterConfig(env);
}

function counterOptions(opts: { mib: string; dirty: string }): { mib: number; dirty: number } {
  const mib = Number(opts.mib), dirty = Number(opts.dirty);
  if (!Number.isInteger(mib) || mib < 1 || mib > 65536) throw new Error(`--mib ${opts.mib}: give a whole number of MiB from 1 to 65536`);
  if (!Number.isInteger(dirty) || dirty < 0) throw new Error(`--dirty ${opts.dirty}: give a whole number of pages per second`);
  return { mib, dirty };
}

function printStatus(status: ClusterStatus): void {
  console.log(table(['part', 'state', 'detail'], status.parts.map((p) => [p.part, p.up ? 'up' : 'DOWN', p.detail])));
  console.log(status.running ? `all up. Temporal Web UI: ${status.webUi}  migration-api: ${status.apiUrl}` : 'cluster is not (fully) running');
}

const program = new Command('cluster')
  .description('Zanshin local cluster: PostgreSQL, Temporal dev server, migration-api, control worker and N simulated PCs')
  .showHelpAfterError();

const shared = (cmd: Command): Command => cmd
  .addOption(new Option('--nodes <n>', 'number of simulated PCs (env ZANSHIN_NODES, default 3)'))
  .addOption(new Option('--link-rate <rate>', 'tc tbf rate of each PC link, or "off" (env ZANSHIN_LINK_RATE, default 1gbit)'))
  .addOption(new Option('--data-dir <dir>', 'data directory (env ZANSHIN_DATA_DIR, default <repo>/.zanshin)'))
  .option('--json', 'print machine-readable JSON');

shared(program.command('start').description('start every part (a running cluster is left as it is)'))
  .action(async (opts: CommonOptions) => {
    const status = await startCluster(configFrom(opts), opts.json ? () => undefined : (l) => console.log(`[cluster] ${l}`));
    if (opts.json) console.log(JSON.stringify(status, null, 2)); else printStatus(status);
  });

shared(program.command('stop').description('stop exactly what start started and remove its namespaces'))
  .action(async (opts: CommonOptions) => stopCluster(configFrom(opts), (l) => console.log(`[cluster] ${l}`)));

shared(program.command('status').description('show each part up or down (exit 1 unless all are up)'))
  .action(async (opts: CommonOptions) => {
    const status = await clusterStatus(configFrom(opts));
    if (opts.json) console.log(JSON.stringify(status, null, 2)); else printStatus(status);
    process.exitCode = status.running ? 0 : 1;
  });

shared(program.command('probe').argument('[nodes...]', 'PCs to probe (default: all)')
  .description('run the probeNode workflow on each PC through Temporal and show what each PC reports'))
  .action(async (nodes: string[], opts: CommonOptions) => {
    const config = configFrom(opts);
    const ids = nodes.length ? nodes : planCluster(config).nodes.map((n) => n.id);
    const results = await withTemporalClient({ address: `127.0.0.1:${config.temporalPort}`, namespace: 'default' },
      (client) => probeNodes(client, ids));
    if (opts.json) {
      console.log(JSON.stringify(results, null, 2));
    } else {
      console.log(table(['PC', 'workflow', 'namespace', 'address', 'CPU', 'mem', 'cpu model / error'], results.map((r) => {
        const d = r.description;
        return d
          ? [r.nodeId, r.workflowId, d.networkNamespace, d.addresses.join(' '), `${(d.load.cpu * 100).toFixed(1)}%`,
            `${(d.load.memory * 100).toFixed(1)}%`, `${d.cpuModel} (${d.cpuCores} cores)`]
          : [r.nodeId, r.workflowId, '-', '-', '-', '-', `FAILED: ${r.error}`];
      })));
      console.log(`See them in the Temporal Web UI: http://127.0.0.1:${config.temporalUiPort}/namespaces/default/workflows`);
    }
    process.exitCode = results.every((r) => r.description) ? 0 : 1;
  });

shared(program.command('demo')
  .description('the main job: a lecture on pc1 makes rebalancing move a real container away; its new PC powers off and evacuation brings it back to pc1\'s remnant'))
  .option('--mib <n>', 'memory the counter holds, MiB', '64')
  .option('--dirty <n>', 'pages it rewrites per second', '20')
  .action(async (opts: CommonOptions & { mib: string; dirty: string }) => {
    const config = configFrom(opts);
    const { mib, dirty } = counterOptions(opts);
    const [home, second] = planCluster(config).nodes.map((n) => n.id);
    if (!second) throw new Error('the demo needs at least 2 PCs (--nodes 2)');
    const api = new ApiClient(apiClientConfig({ ...process.env, ZANSHIN_API_URL: `http://127.0.0.1:${config.apiPort}`, ZANSHIN_DATA_DIR: config.dataDir }));
    const moves = await withTemporalClient({ address: `127.0.0.1:${config.temporalPort}`, namespace: 'default' },
      (client) => runScenario(api, client, { home: home!, mib, dirtyPagesPerSecond: dirty, log: (l) => console.log(`[demo] ${l}`) }));
    if (opts.json) { console.log(JSON.stringify(moves, null, 2)); return; }
    console.log(table(['migration', 'why', 'route', 'targets tried'], moves.map((m) => [m.id, m.reason, `${m.from} -> ${m.to}`, m.attempts.map((a) => `${a.to}: ${a.outcome}`).join(', ')])));
    console.log(formatMoves(moves.map((m) => m.report!)));
    console.log(`The container ${moves[0]!.containerId} keeps running on ${moves[1]!.to}. Workflows: http://127.0.0.1:${config.temporalUiPort}/namespaces/default/workflows`);
  });

shared(program.command('roundtrip')
  .description('a real counter container moves pc1 -> pc2 (full move) and back to pc1 (reusing its remnant); prints a report'))
  .option('--mib <n>', 'memory the counter holds, MiB', '64')
  .option('--dirty <n>', 'pages it rewrites per second', '20')
  .action(async (opts: CommonOptions & { mib: string; dirty: string }) => {
    const config = configFrom(opts);
    const [home, away] = planCluster(config).nodes.map((n) => n.id);
    if (!away) throw new Error('the round trip needs at least 2 PCs (--nodes 2)');
    const { mib, dirty } = counterOptions(opts);
    const { there, back } = await withTemporalClient({ address: `127.0.0.1:${config.temporalPort}`, namespace: 'default' }, async (client) => {
      const containerId = `demo-${Date.now().toString(36)}`;
      return runRoundTrip(client, { containerId, mib, dirtyPagesPerSecond: dirty, dwellMs: 3_000, home: home!, away, log: (l) => console.log(`[demo] ${l}`) });
    });
    if (opts.json) { console.log(JSON.stringify({ there, back }, null, 2)); return; }
    console.log(formatMoves([there, back]));
    console.log(`The move back to ${home} reused its remnant: ${(back.wireBytes / 1e6).toFixed(2)} MB on the wire instead of ${(there.wireBytes / 1e6).toFixed(2)} MB.`);
    console.log(`Workflows: http://127.0.0.1:${config.temporalUiPort}/namespaces/default/workflows (the container ${back.containerId} keeps running on ${home})`);
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
