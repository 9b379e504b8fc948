// The demo commands of the cluster launcher: the main job (a lecture and a power-off move a real container away
// and back) and a plain round trip. They run against a cluster that `cluster start` brought up.
import type { Command } from 'commander';
import { ApiClient, apiClientConfig } from '../../cli/api-client';
import { formatMoves, table } from '../../cli/format';
import { moveReportOf } from '../../domain/reports';
import type { ClusterConfig } from '../cluster/config';
import { planCluster } from '../cluster/plan';
import { runningConfig } from '../cluster/cluster';
import { GUEST_NODE_TIMEOUTS } from '../cluster/guest-pcs';
import { clusterTemporal, withTemporalClient } from '../cluster/temporal-client';
import { runRoundTrip } from './round-trip';
import { runScenario } from './scenario';

interface CommonOptions {
  json?: boolean;
}

function counterOptions(opts: { mib: string; dirty: string }): { mib: number; dirty: number } {
  const mib = Number(opts.mib),
    dirty = Number(opts.dirty);
  if (!Number.isInteger(mib) || mib < 1 || mib > 65536)
    throw new Error(`--mib ${opts.mib}: give a whole number of MiB from 1 to 65536`);
  if (!Number.isInteger(dirty) || dirty < 0)
    throw new Error(`--dirty ${opts.dirty}: give a whole number of pages per second`);
  return { mib, dirty };
}

/** Adds `demo` and `roundtrip` to the launcher; `shared` adds its common options, `configFrom` reads them. */
export function registerDemoCommands(
  program: Command,
  shared: (cmd: Command) => Command,
  configFrom: (opts: object) => ClusterConfig,
): void {
  shared(
    program
      .command('demo')
      .description(
        "the main job: redis with a client connected from the LAN; a lecture on pc1 makes rebalancing move it away; its new PC powers off and evacuation brings it back to pc1's remnant",
      ),
  )
    .option('--keys <n>', 'keys redis holds (DEBUG POPULATE)', '200000')
    .action(async (opts: CommonOptions & { keys: string }) => {
      const config = runningConfig(configFrom(opts));
      const keys = Number(opts.keys);
      if (!Number.isInteger(keys) || keys < 1 || keys > 50_000_000)
        throw new Error(`--keys ${opts.keys}: give a whole number from 1 to 50000000`);
      const plan = planCluster(config);
      const [home, second] = plan.nodes.map((n) => n.id);
      if (!second) throw new Error('the demo needs at least 2 PCs (--nodes 2)');
      const api = new ApiClient(
        apiClientConfig({
          ...process.env,
          ZANSHIN_API_URL: `http://127.0.0.1:${config.apiPort}`,
          ZANSHIN_DATA_DIR: config.dataDir,
        }),
      );
      const { moves, client } = await withTemporalClient(clusterTemporal(config), (client) =>
        runScenario(api, client, {
          home: home!,
          keys,
          userNamespace: plan.user.namespace,
          log: (l) => console.log(`[demo] ${l}`),
        }),
      );
      if (opts.json) {
        console.log(JSON.stringify({ moves, client }, null, 2));
        return;
      }
      console.log(
        table(
          ['migration', 'why', 'route', 'targets tried'],
          moves.map((m) => [
            m.id,
            m.reason,
            `${m.from} -> ${m.to}`,
            m.attempts.map((a) => `${a.to}: ${a.outcome}`).join(', '),
          ]),
        ),
      );
      console.log(formatMoves(moves.map((m) => moveReportOf(m.report)).filter((r) => r !== null)));
      console.log(
        table(
          ['move', 'client connection (CLIENT ID)', 'redis data (DEBUG DIGEST)', "client's longest wait"],
          client.moves.map((m, i) => [
            `${moves[i]!.from} -> ${moves[i]!.to}`,
            m.sameConnection ? `kept (${String(client.clientId)})` : 'REPLACED',
            m.sameDigest ? 'unchanged' : 'CHANGED',
            `${m.longestWaitMs} ms`,
          ]),
        ),
      );
      if (!client.moves.every((m) => m.sameConnection && m.sameDigest)) process.exitCode = 1;
      console.log(
        `redis ${moves[0]!.containerId} keeps running on ${moves[1]!.to} at ${client.address} (try: nsenter --net=/run/netns/${plan.user.namespace} ...). Workflows: http://127.0.0.1:${config.temporalUiPort}/namespaces/default/workflows`,
      );
    });

  shared(
    program
      .command('roundtrip')
      .description(
        'a real counter container moves from one PC to another (full move) and back (reusing its remnant); prints a report',
      ),
  )
    .option('--mib <n>', 'memory the counter holds, MiB', '64')
    .option('--dirty <n>', 'pages it rewrites per second', '20')
    .option('--from <pc>', 'where the counter starts and comes back to (default: the first PC)')
    .option('--to <pc>', 'where it goes (default: the second PC)')
    .action(async (opts: CommonOptions & { mib: string; dirty: string; from?: string; to?: string }) => {
      const config = runningConfig(configFrom(opts));
      const nodes = planCluster(config).nodes;
      const home = opts.from ?? nodes[0]!.id;
      const away = opts.to ?? nodes.find((n) => n.id !== home)?.id;
      if (!away) throw new Error('the round trip needs at least 2 PCs (--nodes 2)');
      for (const pc of [home, away])
        if (!nodes.some((n) => n.id === pc))
          throw new Error(`--from/--to ${pc}: the running cluster's PCs are ${nodes.map((n) => n.id).join(', ')}`);
      if (home === away) throw new Error(`--from and --to are both ${home}: give two different PCs`);
      // Guest PCs run under emulation here: a step may take minutes to be picked up and between heartbeats.
      const guest = nodes.some((n) => n.kind === 'vm' && (n.id === home || n.id === away));
      const { mib, dirty } = counterOptions(opts);
      const { there, back } = await withTemporalClient(clusterTemporal(config), async (client) => {
        const containerId = `demo-${Date.now().toString(36)}`;
        return runRoundTrip(client, {
          containerId,
          mib,
          dirtyPagesPerSecond: dirty,
          dwellMs: 3_000,
          home,
          away,
          ...(guest ? { timeouts: GUEST_NODE_TIMEOUTS } : {}),
          // With --json, stdout holds the JSON alone.
          log: (l) => (opts.json ? console.error : console.log)(`[demo] ${l}`),
        });
      });
      if (opts.json) {
        console.log(JSON.stringify({ there, back }, null, 2));
        return;
      }
      console.log(formatMoves([there, back]));
      console.log(
        `The move back to ${home} reused its remnant: ${(back.wireBytes / 1e6).toFixed(2)} MB on the wire instead of ${(there.wireBytes / 1e6).toFixed(2)} MB.`,
      );
      console.log(
        `Workflows: http://127.0.0.1:${config.temporalUiPort}/namespaces/default/workflows (the container ${back.containerId} keeps running on ${home})`,
      );
    });
}
