import path from 'node:path';
import { nodeTaskQueue } from '../../common/names';
import { ClusterConfig, parseRate } from './config';

export interface PlannedNode {
  id: string;
  /** A simulated PC (a network namespace of this machine) or a guest PC (a QEMU virtual machine, own kernel). */
  kind: 'pc' | 'vm';
  namespace: string;
  /**
   * The PC's address on the simulated classroom LAN (exists only inside its namespace; a guest's namespace holds the
   * bridge its virtual card is plugged into, the address is the guest's).
   */
  address: string;
  taskQueue: string;
  dataDir: string;
}

export interface ClusterPlan {
  lanNamespace: string;
  /** A user's machine on the LAN (a student's laptop): where the demo's clients run. */
  user: { namespace: string; address: string };
  nodes: PlannedNode[];
  paths: {
    run: string;
    logs: string;
    secrets: string;
    sockets: string;
    postgres: string;
    postgresSocket: string;
    temporalDb: string;
    state: string;
  };
}

/** Derives every name, address and path of a cluster from its configuration. Pure. */
export function planCluster(c: ClusterConfig): ClusterPlan {
  const run = path.join(c.dataDir, 'run');
  const node = (kind: PlannedNode['kind'], id: string, host: number): PlannedNode => ({
    id,
    kind,
    namespace: `${c.namePrefix}-${id}`,
    address: `${c.lanSubnet}.${host}`,
    taskQueue: nodeTaskQueue(id),
    dataDir: path.join(c.dataDir, 'nodes', id),
  });
  const nodes = [
    ...Array.from({ length: c.nodes }, (_, i) => node('pc', `pc${i + 1}`, 11 + i)),
    ...Array.from({ length: c.vmNodes }, (_, i) => node('vm', `vm${i + 1}`, 61 + i)),
  ];
  return {
    lanNamespace: `${c.namePrefix}-lan`,
    user: { namespace: `${c.namePrefix}-user`, address: `${c.lanSubnet}.9` },
    nodes,
    paths: {
      run,
      logs: path.join(c.dataDir, 'logs'),
      secrets: path.join(c.dataDir, 'secrets'),
      sockets: path.join(run, 'sockets'),
      postgres: path.join(c.dataDir, 'postgres'),
      postgresSocket: path.join(run, 'postgres-socket'),
      temporalDb: path.join(c.dataDir, 'temporal.sqlite'),
      state: path.join(run, 'cluster.json'),
    },
  };
}

/**
 * The ip/tc commands that build the LAN: one namespace holding a bridge, and per PC a namespace whose eth0
 * is a veth into that bridge, optionally shaped by a token bucket. No address is added outside them.
 */
export function lanCommands(plan: ClusterPlan, linkRate: string | null): string[][] {
  const lan = plan.lanNamespace;
  const cmds: string[][] = [
    ['ip', 'netns', 'add', lan],
    ['ip', '-n', lan, 'link', 'set', 'lo', 'up'],
    ['ip', '-n', lan, 'link', 'add', 'br0', 'type', 'bridge'],
    ['ip', '-n', lan, 'link', 'set', 'br0', 'up'],
  ];
  for (const node of plan.nodes) {
    const ns = node.namespace;
    cmds.push(
      ['ip', 'netns', 'add', ns],
      ['ip', '-n', ns, 'link', 'set', 'lo', 'up'],
      ['ip', '-n', lan, 'link', 'add', node.id, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns],
      ['ip', '-n', lan, 'link', 'set', node.id, 'master', 'br0', 'up'],
    );
    if (node.kind === 'pc')
      cmds.push(
        ['ip', '-n', ns, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0'],
        ['ip', '-n', ns, 'link', 'set', 'eth0', 'up'],
      );
    // A guest PC's namespace bridges its LAN link to the tap device of its virtual card: the address is the guest's.
    else
      cmds.push(
        ['ip', '-n', ns, 'link', 'add', 'br0', 'type', 'bridge'],
        ['ip', '-n', ns, 'link', 'set', 'br0', 'up'],
        ['ip', '-n', ns, 'link', 'set', 'eth0', 'master', 'br0', 'up'],
        ['ip', '-n', ns, 'tuntap', 'add', 'dev', GUEST_TAP, 'mode', 'tap'],
        ['ip', '-n', ns, 'link', 'set', GUEST_TAP, 'master', 'br0', 'up'],
      );
    if (linkRate !== null) cmds.push(['tc', '-n', ns, 'qdisc', 'replace', 'dev', 'eth0', 'root', ...tbfArgs(linkRate)]);
  }
  const user = plan.user.namespace;
  cmds.push(
    ['ip', 'netns', 'add', user],
    ['ip', '-n', user, 'link', 'set', 'lo', 'up'],
    ['ip', '-n', lan, 'link', 'add', 'user', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', user],
    ['ip', '-n', lan, 'link', 'set', 'user', 'master', 'br0', 'up'],
    ['ip', '-n', user, 'addr', 'add', `${plan.user.address}/24`, 'dev', 'eth0'],
    ['ip', '-n', user, 'link', 'set', 'eth0', 'up'],
  );
  return cmds;
}

/** The tap device of a guest PC's LAN card, inside its namespace. */
export const GUEST_TAP = 'tap0';

/** tbf parameters for a rate: a bucket of 10 ms worth of bytes (at least 10 full frames). */
export function tbfArgs(linkRate: string): string[] {
  const bytesPerSecond = parseRate(linkRate) / 8;
  const burst = Math.max(Math.ceil(bytesPerSecond / 100), 10 * 1514);
  return ['tbf', 'rate', linkRate, 'burst', String(burst), 'latency', '50ms'];
}

/** Every namespace the plan creates, the LAN last so PCs detach before their bridge goes. */
export function plannedNamespaces(plan: ClusterPlan): string[] {
  return [...plan.nodes.map((n) => n.namespace), plan.user.namespace, plan.lanNamespace];
}
