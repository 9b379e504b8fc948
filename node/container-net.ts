// The PC side of container networking. Each container runs in a network namespace of its own that the node creates
// before the container starts or is restored (runc and CRIU treat it as external: they neither save nor rebuild it):
// a macvlan interface on the PC's LAN interface, with the container's own address and MAC, loopback up, and a
// default route when the LAN has a gateway. Moving a container moves its address: the source deletes its namespace
// after the checkpoint, the target creates one with the same address and MAC, and announces it (gratuitous ARP).
// Traffic is held from just before the checkpoint until the restore has finished, which keeps established TCP
// connections through a move: on the source it is dropped (the peer retransmits instead of being reset); the target
// takes the address over as soon as the source let it go and keeps the packets that arrive (node/traffic-holder.ts),
// so that peers are answered as soon as the program runs again, not at their next retransmission.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import execa from 'execa';
import type { ContainerNetwork } from '../domain/container-network';
import { HOLD_QUEUE, TrafficHolder } from './traffic-holder';

export class ContainerNetError extends Error {
  override name = 'ContainerNetError';
}

const NETNS_DIR = '/run/netns';
/** The rule that holds a container's traffic; removed by exact match. */
const HOLD_RULE = ['INPUT', '-i', 'eth0', '-j', 'DROP'];
/** The rule that hands a restoring container's packets to its holder (dropped while none is bound). */
const QUEUE_RULE = ['INPUT', '-i', 'eth0', '-j', 'NFQUEUE', '--queue-num', String(HOLD_QUEUE)];
/** A namespace's ARP answers: 8 answers none (a held namespace is silent), 0 is the default. */
const ARP_IGNORE = '/proc/sys/net/ipv4/conf/all/arp_ignore';
/** Set just before it: no new connections, while those under way are accepted. */
const NO_NEW_CONNECTIONS_RULE = ['INPUT', '-i', 'eth0', '-p', 'tcp', '--syn', '-j', 'DROP'];
/** How long connections whose handshake is under way get to reach the program before everything is held. */
const ACCEPT_GRACE_MS = 50;

async function run(file: string, args: string[], what: string): Promise<string> {
  const r = await execa(file, args, { reject: false });
  if (r.exitCode !== 0)
    throw new ContainerNetError(
      `${what}: \`${file} ${args.join(' ')}\` failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`,
    );
  return r.stdout;
}

/**
 * Brings an interface up, waiting up to 5 s while its MAC is still taken ("Address already in use"): a namespace of
 * the same container deleted just before may not be freed by the kernel yet. Past that, the error names the
 * processes whose network namespace still holds an interface with that MAC (a deleted namespace lives on while a
 * process is in it: the soak met one for minutes after a PC's simulated power-off).
 */
async function upWhenFree(up: () => Promise<string>, mac: string | undefined, netnsPath: string): Promise<void> {
  for (let waited = 0; ; waited += 200) {
    try {
      await up();
      return;
    } catch (err) {
      if (!/Address already in use/.test((err as Error).message)) throw err;
      if (waited >= 5_000) {
        if (!mac) throw err;
        const holders = await holdersOfMac(mac, netnsPath).catch(() => []);
        throw new ContainerNetError(
          holders.length
            ? `${(err as Error).message}; the MAC ${mac} is still on an interface in the network namespace of ${holders.join('; ')}: that namespace lives on while they run (end them, or wait for them to end)`
            : `${(err as Error).message}; the MAC ${mac} is still on an interface of a namespace no process is in: one deleted without removing its interfaces first, which the kernel frees later (wait, then try again)`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Processes (pid, name, cgroup) in network namespaces that hold an interface with `mac`, other than this process's and
 * the one at `except` (whose interface is being brought up: its own holder is in it).
 */
export async function holdersOfMac(mac: string, except?: string): Promise<string[]> {
  const own = readlinkOrNull('/proc/self/ns/net');
  const excepted = except ? `net:[${statSync(except).ino}]` : null;
  const byNamespace = new Map<string, string[]>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const ns = readlinkOrNull(`/proc/${pid}/ns/net`);
    if (!ns || ns === own || ns === excepted) continue;
    byNamespace.set(ns, [...(byNamespace.get(ns) ?? []), pid]);
  }
  const out: string[] = [];
  for (const pids of byNamespace.values()) {
    const links = await execa('nsenter', [`--net=/proc/${pids[0]}/ns/net`, 'ip', '-o', 'link'], { reject: false });
    if (!links.stdout.toLowerCase().includes(mac.toLowerCase())) continue;
    for (const pid of pids.slice(0, 5)) {
      const name = readOrEmpty(`/proc/${pid}/comm`).trim();
      const cgroup = readOrEmpty(`/proc/${pid}/cgroup`)
        .split('\n')
        .find((l) => l.startsWith('0::') || l.includes(':pids:'));
      out.push(`process ${pid} (${name}${cgroup ? `, cgroup ${cgroup.replace(/^[^/]*/, '')}` : ''})`);
    }
  }
  return out;
}

function readlinkOrNull(p: string): string | null {
  try {
    return readlinkSync(p);
  } catch {
    return null;
  }
}

function readOrEmpty(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/** Network namespaces of the containers of one PC. */
export class ContainerNet {
  private lanInterface: string | null = null;
  /** Holders of the namespaces created held on this PC, until release() or destroy(). */
  private readonly holders = new Map<string, TrafficHolder>();

  /**
   * `lanAddress`: this PC's own LAN address; container interfaces hang off the interface that holds it.
   * `prefix`: start of the namespaces' names, which are per PC and container (simulated PCs share /run/netns).
   */
  constructor(
    readonly nodeId: string,
    private readonly lanAddress: string,
    private readonly prefix = 'zc',
    private readonly holdBinary?: string,
  ) {}

  namespace(containerId: string): string {
    return `${this.prefix}-${this.nodeId}-${containerId}`;
  }

  path(containerId: string): string {
    return `${NETNS_DIR}/${this.namespace(containerId)}`;
  }

  exists(containerId: string): boolean {
    return existsSync(this.path(containerId));
  }

  private async lan(): Promise<string> {
    if (this.lanInterface) return this.lanInterface;
    const out = await run('ip', ['-o', '-4', 'addr', 'show'], 'finding the LAN interface');
    const line = out.split('\n').find((l) => l.includes(` inet ${this.lanAddress}/`));
    if (!line)
      throw new ContainerNetError(
        `no interface of ${this.nodeId} holds its LAN address ${this.lanAddress} (ZANSHIN_NODE_ADDRESS)`,
      );
    this.lanInterface = line.split(/\s+/)[1]!.replace(/@.*$/, '');
    return this.lanInterface;
  }

  /** Runs a command inside the container's namespace (nsenter, not `ip netns exec`, which remounts /sys). */
  private inside(containerId: string, args: string[], what: string): Promise<string> {
    return run('nsenter', [`--net=${this.path(containerId)}`, ...args], what);
  }

  /**
   * Creates the namespace with the container's interface, address and routes. With `held`, traffic arriving there is
   * kept until release() (a restore that keeps TCP connections needs the address present but silent), or dropped
   * when no holder can run here.
   */
  async create(containerId: string, net: ContainerNetwork | undefined, o: { held: boolean }): Promise<void> {
    if (this.exists(containerId)) await this.destroy(containerId);
    const ns = this.namespace(containerId);
    const tmp = `zm${createHash('sha1').update(ns).digest('hex').slice(0, 10)}`;
    await run('ip', ['netns', 'add', ns], `creating the network namespace of ${containerId}`);
    try {
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], `bringing up ${containerId}'s loopback`);
      if (!net) return; // loopback only
      const lan = await this.lan();
      await run(
        'ip',
        ['link', 'add', 'link', lan, 'name', tmp, 'address', net.mac, 'type', 'macvlan', 'mode', 'bridge'],
        `giving ${containerId} an interface on ${lan}`,
      );
      await run('ip', ['link', 'set', tmp, 'netns', ns], `moving ${containerId}'s interface into its namespace`);
      if (o.held) await this.holdArriving(containerId);
      const ip = (args: string[]): Promise<string> =>
        run('ip', ['-n', ns, ...args], `configuring ${containerId}'s network`);
      await ip(['link', 'set', tmp, 'name', 'eth0']);
      await ip(['addr', 'add', `${net.address}/${net.prefixLength}`, 'dev', 'eth0']);
      await upWhenFree(() => ip(['link', 'set', 'eth0', 'up']), net.mac, this.path(containerId));
      if (net.gateway) await ip(['route', 'add', 'default', 'via', net.gateway]);
    } catch (err) {
      await this.destroy(containerId).catch(() => undefined);
      await run('ip', ['link', 'delete', tmp], 'cleanup').catch(() => undefined);
      throw err;
    }
  }

  /**
   * Keeps what arrives at a new, held namespace (a holder), or drops it when no holder can run. A held namespace
   * answers no ARP request either (arp_ignore 8): should its worker die with it held, it stays silent on the LAN
   * while the container runs elsewhere (its announce still teaches the switch where the address is).
   */
  private async holdArriving(containerId: string): Promise<void> {
    let rule = QUEUE_RULE;
    try {
      this.holders.set(containerId, await TrafficHolder.start(this.path(containerId), this.holdBinary));
    } catch (err) {
      rule = HOLD_RULE;
      console.error(
        `${this.nodeId}: ${containerId}'s traffic is dropped, not kept, while it is restored (peers wait for ` +
          `their retransmissions): ${(err as Error).message}`,
      );
    }
    try {
      await this.inside(
        containerId,
        ['sh', '-c', `iptables -w -A ${rule.join(' ')} && echo 8 > ${ARP_IGNORE}`],
        `holding ${containerId}'s traffic`,
      );
    } catch (err) {
      this.holders.get(containerId)?.discard();
      this.holders.delete(containerId);
      throw err;
    }
  }

  /** Whether this PC keeps the packets sent to the container's address (it took the address over, held). */
  isHolding(containerId: string): boolean {
    return this.holders.has(containerId);
  }

  /** Drops traffic arriving at the container (before a checkpoint that keeps its connections). */
  async hold(containerId: string): Promise<void> {
    // New connections first: one whose handshake completed but that the program has not accepted yet cannot be
    // checkpointed (CRIU carries established sockets, not a listener's queue), and its client would get a reset
    // from the target. Handshakes under way finish and are accepted during the grace; then everything is held.
    // One process for all of it (it runs just before the freeze): already held, nothing to do.
    const held = HOLD_RULE.join(' ');
    await this.inside(
      containerId,
      [
        'sh',
        '-c',
        `iptables -w -C ${held} 2>/dev/null && exit 0; ` +
          `iptables -w -A ${NO_NEW_CONNECTIONS_RULE.join(' ')} && sleep ${ACCEPT_GRACE_MS / 1000} && iptables -w -A ${held}`,
      ],
      `holding ${containerId}'s traffic`,
    );
  }

  /**
   * Lets traffic in again. The INPUT chain of a container's namespace holds nothing but the hold rules (this class
   * alone writes it), so one flush lifts them all: it runs in the downtime, and each iptables call is a process.
   */
  async release(containerId: string): Promise<{ heldPackets: number | null }> {
    await this.inside(
      containerId,
      ['sh', '-c', `iptables -w -F INPUT && echo 0 > ${ARP_IGNORE}`],
      `releasing ${containerId}'s traffic`,
    );
    // New packets go straight in now; those kept meanwhile follow at once.
    const holder = this.holders.get(containerId);
    this.holders.delete(containerId);
    return { heldPackets: holder ? await holder.release() : null };
  }

  /**
   * Tells the LAN where the address is now (gratuitous ARP), so peers and switches learn it at once. One packet and
   * no wait for answers: `-w 1` held every restore for a whole second (measured).
   */
  async announce(containerId: string, net: ContainerNetwork): Promise<void> {
    await this.inside(
      containerId,
      ['busybox', 'arping', '-U', '-c', '1', '-I', 'eth0', net.address],
      `announcing ${net.address}`,
    ).catch(
      () => undefined, // busybox arping exits 1 when nobody answers, which is what a gratuitous ARP expects
    );
  }

  /**
   * Containers are not trusted: this PC refuses every connection that a container starts (its data plane, relays
   * and anything else it serves stay out of their reach), while answers to connections this PC's users opened to
   * containers still come in. Containers still reach each other and the rest of the LAN. Idempotent.
   */
  static async refuseContainers(pool: string): Promise<void> {
    const rule = ['INPUT', '-s', pool, '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP'];
    const present = await execa('iptables', ['-w', '-C', ...rule], { reject: false });
    if (present.exitCode !== 0)
      await run('iptables', ['-w', '-I', ...rule], `refusing traffic from containers (${pool})`);
  }

  /** Takes the container's interface down (a fence): the address no longer answers here; the namespace stays. */
  async silence(containerId: string): Promise<void> {
    if (!this.exists(containerId)) return;
    const r = await execa('ip', ['-n', this.namespace(containerId), 'link', 'set', 'eth0', 'down'], { reject: false });
    if (r.exitCode !== 0 && !/Cannot find device/.test(r.stderr))
      throw new ContainerNetError(`taking ${containerId}'s interface down: ${r.stderr.trim()}`);
  }

  /** Brings a silenced interface back and tells the LAN (the fence is lifted). */
  async unsilence(containerId: string, net: ContainerNetwork): Promise<void> {
    await upWhenFree(
      () =>
        run(
          'ip',
          ['-n', this.namespace(containerId), 'link', 'set', 'eth0', 'up'],
          `bringing ${containerId}'s interface up`,
        ),
      net.mac,
      this.path(containerId),
    );
    if (net.gateway)
      await execa('ip', ['-n', this.namespace(containerId), 'route', 'replace', 'default', 'via', net.gateway], {
        reject: false,
      });
    await this.announce(containerId, net);
  }

  /** Removes the namespace and with it the interface: this PC no longer answers for the address. */
  async destroy(containerId: string): Promise<void> {
    // What a holder kept is dropped with the namespace (nothing runs there to take it).
    this.holders.get(containerId)?.discard();
    this.holders.delete(containerId);
    if (!this.exists(containerId)) return;
    // The kernel frees a deleted namespace's devices later, asynchronously (and not at all while a process still
    // holds it): remove the interface first, so its MAC is free at once for the next namespace of this container.
    await execa('ip', ['-n', this.namespace(containerId), 'link', 'delete', 'eth0'], { reject: false });
    const r = await execa('ip', ['netns', 'delete', this.namespace(containerId)], { reject: false });
    // Gone meanwhile is as good (the orphan sweep may remove it at the same time).
    if (r.exitCode !== 0 && this.exists(containerId))
      throw new ContainerNetError(`removing ${containerId}'s network namespace: ${r.stderr.trim()}`);
  }

  /** The containers that have a network namespace of this PC now. */
  containersWithNamespaces(): string[] {
    const start = `${this.prefix}-${this.nodeId}-`;
    return (existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR) : [])
      .filter((n) => n.startsWith(start))
      .map((n) => n.slice(start.length));
  }
}
