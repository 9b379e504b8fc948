// The local cluster launcher: start, stop, status and probe of the simulated classroom.
import { Command, Option } from 'commander';
import { rootCause } from '../../common/errors';
import { clusterConfig, ClusterConfig } from './config';
import { clusterStatus, ClusterStatus, restartPart, runningConfig, startCluster, stopCluster } from './cluster';
import { probeNodes } from './probe';
import { planCluster } from './plan';
import { clusterTemporal, withTemporalClient } from './temporal-client';
import { table } from '../../cli/format';
import { registerDemoCommands } from '../demo/commands';

export interface CommonOptions {
  nodes?: string;
  vmNodes?: string;
  vmInstall?: boolean;
  linkRate?: string;
  dataDir?: string;
  temporal?: string;
  json?: boolean;
}

function configFrom(opts: CommonOptions): ClusterConfig {
  const env = { ...process.env };
  if (opts.nodes !== undefined) env.ZANSHIN_NODES = opts.nodes;
  if (opts.vmNodes !== undefined) env.ZANSHIN_VM_NODES = opts.vmNodes;
  if (opts.vmInstall) env.ZANSHIN_VM_INSTALL = 'on';
  if (opts.linkRate !== undefined) env.ZANSHIN_LINK_RATE = opts.linkRate;
  if (opts.dataDir !== undefined) env.ZANSHIN_DATA_DIR = opts.dataDir;
  if (opts.temporal !== undefined) env.ZANSHIN_TEMPORAL = opts.temporal;
  return clusterConfig(env);
}

function printStatus(status: ClusterStatus): void {
  console.log(
    table(
      ['part', 'state', 'detail'],
      status.parts.map((p) => [p.part, p.up ? 'up' : 'DOWN', p.detail]),
    ),
  );
  if (status.pcs.length)
    console.log(
      `dump strategy per PC: ${status.pcs.map((p) => `${p.id} ${p.strategy ?? '(not reported yet)'}`).join(', ')}`,
    );
  console.log(
    status.running
      ? `all up. Temporal Web UI: ${status.webUi}  migration-api: ${status.apiUrl}`
      : 'cluster is not (fully) running',
  );
}

const program = new Command('cluster')
  .description(
    'Zanshin local cluster: PostgreSQL, Temporal dev server, migration-api, control worker and N simulated PCs',
  )
  .showHelpAfterError();

const shared = (cmd: Command): Command =>
  cmd
    .addOption(new Option('--nodes <n>', 'number of simulated PCs (env ZANSHIN_NODES, default 3)'))
    .addOption(
      new Option(
        '--vm-nodes <n>',
        "number of guest PCs: QEMU guests with Debian's stock kernel (env ZANSHIN_VM_NODES, default 0)",
      ),
    )
    .addOption(
      new Option(
        '--vm-install',
        'guest PCs boot Debian 12 with systemd and are installed and enrolled by infra/pc/install.sh (needs --temporal server; env ZANSHIN_VM_INSTALL=on)',
      ),
    )
    .addOption(
      new Option('--link-rate <rate>', 'tc tbf rate of each PC link, or "off" (env ZANSHIN_LINK_RATE, default 1gbit)'),
    )
    .addOption(new Option('--data-dir <dir>', 'data directory (env ZANSHIN_DATA_DIR, default <repo>/.zanshin)'))
    .addOption(
      new Option(
        '--temporal <kind>',
        "dev: the Temporal CLI's dev server behind the TLS gate; server: Temporal's own server on PostgreSQL with mutual TLS and Zanshin's authorizer (env ZANSHIN_TEMPORAL, default dev)",
      ).choices(['dev', 'server']),
    )
    .option('--json', 'print machine-readable JSON');

shared(program.command('start').description('start every part (a running cluster is left as it is)')).action(
  async (opts: CommonOptions) => {
    const status = await startCluster(
      configFrom(opts),
      opts.json ? () => undefined : (l) => console.log(`[cluster] ${l}`),
    );
    if (opts.json) console.log(JSON.stringify(status, null, 2));
    else printStatus(status);
  },
);

shared(program.command('stop').description('stop exactly what start started and remove its namespaces')).action(
  async (opts: CommonOptions) => stopCluster(configFrom(opts), (l) => console.log(`[cluster] ${l}`)),
);

shared(program.command('status').description('show each part up or down (exit 1 unless all are up)')).action(
  async (opts: CommonOptions) => {
    const status = await clusterStatus(configFrom(opts));
    if (opts.json) console.log(JSON.stringify(status, null, 2));
    else printStatus(status);
    process.exitCode = status.running ? 0 : 1;
  },
);

shared(
  program
    .command('restart')
    .argument('<part>', 'a part as `status` names it: pc2/node-worker, temporal, migration-api, ...')
    .description('stop one part of the running cluster and start it again as it was started'),
).action(async (part: string, opts: CommonOptions) => {
  await restartPart(configFrom(opts), part, (l) => console.log(`[cluster] ${l}`));
});

shared(
  program
    .command('probe')
    .argument('[nodes...]', 'PCs to probe (default: all)')
    .description('run the probeNode workflow on each PC through Temporal and show what each PC reports'),
).action(async (nodes: string[], opts: CommonOptions) => {
  const config = runningConfig(configFrom(opts));
  const ids = nodes.length ? nodes : planCluster(config).nodes.map((n) => n.id);
  const results = await withTemporalClient(clusterTemporal(config), (client) => probeNodes(client, ids));
  if (opts.json) {
    console.log(JSON.stringify(results, null, 2));
  } else {
    console.log(
      table(
        ['PC', 'workflow', 'namespace', 'address', 'CPU', 'mem', 'cpu model / error'],
        results.map((r) => {
          const d = r.description;
          return d
            ? [
                r.nodeId,
                r.workflowId,
                d.networkNamespace,
                d.addresses.join(' '),
                `${(d.load.cpu * 100).toFixed(1)}%`,
                `${(d.load.memory * 100).toFixed(1)}%`,
                `${d.cpuModel} (${d.cpuCores} cores)`,
              ]
            : [r.nodeId, r.workflowId, '-', '-', '-', '-', `FAILED: ${r.error}`];
        }),
      ),
    );
    console.log(
      `See them in the Temporal Web UI: http://127.0.0.1:${config.temporalUiPort}/namespaces/default/workflows`,
    );
  }
  process.exitCode = results.every((r) => r.description) ? 0 : 1;
});

registerDemoCommands(program, (cmd) => shared(cmd), configFrom);

program.parseAsync().catch((err: unknown) => {
  // Temporal's wrappers ("Workflow execution failed") say where, the cause beneath says what.
  console.error(`cluster: ${rootCause(err).message}`);
  process.exit(1);
});
