import { freePorts } from '../../infra/cluster/wait';
import { guestCpuModel, qemuArgv } from '../../infra/cluster/guest-pcs';
import { configDifferences } from '../../infra/cluster/cluster';
import { clusterConfig, parseRate } from '../../infra/cluster/config';
import { lanCommands, planCluster, plannedNamespaces, tbfArgs } from '../../infra/cluster/plan';

const config = (env: Record<string, string> = {}) => clusterConfig({ ZANSHIN_DATA_DIR: '/data', ...env });

describe('cluster configuration', () => {
  it('defaults to three PCs on a 1 Gbit/s LAN', () => {
    expect(config()).toMatchObject({
      nodes: 3,
      namePrefix: 'zs',
      lanSubnet: '10.77.0',
      linkRate: '1gbit',
      temporalPort: 7233,
    });
    expect(config({ ZANSHIN_LINK_RATE: 'off' }).linkRate).toBeNull();
  });

  it('gives a cluster with guest PCs a longer lease and recovery delay, unless they are set', () => {
    expect(config()).toMatchObject({ leaseSeconds: 30, recoveryAfterSeconds: 60 });
    expect(config({ ZANSHIN_VM_NODES: '2' })).toMatchObject({ leaseSeconds: 60, recoveryAfterSeconds: 90 });
    const set = { ZANSHIN_VM_NODES: '2', ZANSHIN_LEASE_SECONDS: '40', ZANSHIN_RECOVERY_AFTER_SECONDS: '70' };
    expect(config(set)).toMatchObject({ leaseSeconds: 40, recoveryAfterSeconds: 70 });
  });

  it.each([
    [{ ZANSHIN_NS_PREFIX: 'Bad-Prefix' }, /ZANSHIN_NS_PREFIX/],
    [{ ZANSHIN_LAN_SUBNET: '10.77' }, /ZANSHIN_LAN_SUBNET/],
    [{ ZANSHIN_LAN_SUBNET: '10.300.0' }, /ZANSHIN_LAN_SUBNET/],
    [{ ZANSHIN_LINK_RATE: 'fast' }, /ZANSHIN_LINK_RATE="fast"/],
    [{ ZANSHIN_NODES: '0' }, /ZANSHIN_NODES=0/],
    [{ ZANSHIN_API_PORT: '7233' }, /ports must differ/],
    [{ ZANSHIN_TEMPORAL: 'server', ZANSHIN_API_TLS_PORT: '8787' }, /ports must differ/],
    [
      { ZANSHIN_VM_INSTALL: 'on', ZANSHIN_VM_NODES: '1' },
      /ZANSHIN_VM_INSTALL=on \(--vm-install\) needs --temporal server/,
    ],
  ])('rejects %j naming the setting', (env, message) => {
    expect(() => config(env)).toThrow(message);
  });

  it('parses tc rates', () => {
    expect(parseRate('1gbit')).toBe(1e9);
    expect(parseRate('100mbit')).toBe(1e8);
    expect(parseRate('1.5kbit')).toBe(1500);
  });
});

describe('cluster plan', () => {
  const plan = planCluster(config({ ZANSHIN_NODES: '2', ZANSHIN_NS_PREFIX: 'zt' }));

  it('gives each PC its namespace, address, task queue and data dir', () => {
    expect(plan.nodes).toEqual([
      {
        id: 'pc1',
        kind: 'pc',
        namespace: 'zt-pc1',
        address: '10.77.0.11',
        taskQueue: 'node-pc1',
        dataDir: '/data/nodes/pc1',
      },
      {
        id: 'pc2',
        kind: 'pc',
        namespace: 'zt-pc2',
        address: '10.77.0.12',
        taskQueue: 'node-pc2',
        dataDir: '/data/nodes/pc2',
      },
    ]);
    expect(plannedNamespaces(plan)).toEqual(['zt-pc1', 'zt-pc2', 'zt-user', 'zt-lan']);
  });

  it('adds addresses only inside the PC and user namespaces it creates', () => {
    const cmds = lanCommands(plan, null);
    const addrAdds = cmds.filter((c) => c.includes('addr'));
    expect(addrAdds).toEqual([
      ['ip', '-n', 'zt-pc1', 'addr', 'add', '10.77.0.11/24', 'dev', 'eth0'],
      ['ip', '-n', 'zt-pc2', 'addr', 'add', '10.77.0.12/24', 'dev', 'eth0'],
      ['ip', '-n', 'zt-user', 'addr', 'add', '10.77.0.9/24', 'dev', 'eth0'],
    ]);
    // Every link/addr command names a namespace: nothing touches the host's own network.
    for (const c of cmds) {
      if (c[0] === 'ip' && c[1] !== 'netns') expect(['zt-lan', 'zt-pc1', 'zt-pc2', 'zt-user']).toContain(c[2]);
    }
    expect(cmds.some((c) => c[0] === 'tc')).toBe(false);
  });

  it('shapes each PC link with a token bucket when a rate is set', () => {
    const tc = lanCommands(plan, '100mbit').filter((c) => c[0] === 'tc');
    expect(tc).toHaveLength(2);
    expect(tc[0]).toEqual(['tc', '-n', 'zt-pc1', 'qdisc', 'replace', 'dev', 'eth0', 'root', ...tbfArgs('100mbit')]);
    expect(tbfArgs('1gbit')).toEqual(['tbf', 'rate', '1gbit', 'burst', '1250000', 'latency', '50ms']);
    expect(tbfArgs('1mbit')[4]).toBe(String(10 * 1514)); // never below ten full frames
  });

  it("puts guest PCs on the same LAN: their namespace bridges the LAN link to a tap, the address is the guest's", () => {
    const withGuest = planCluster(config({ ZANSHIN_NODES: '1', ZANSHIN_VM_NODES: '1', ZANSHIN_NS_PREFIX: 'zt' }));
    expect(withGuest.nodes.map((n) => [n.id, n.kind, n.address])).toEqual([
      ['pc1', 'pc', '10.77.0.11'],
      ['vm1', 'vm', '10.77.0.61'],
    ]);
    const cmds = lanCommands(withGuest, '1gbit');
    expect(cmds).toContainEqual(['ip', '-n', 'zt-vm1', 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
    expect(cmds).toContainEqual(['ip', '-n', 'zt-vm1', 'link', 'set', 'tap0', 'master', 'br0', 'up']);
    expect(cmds).toContainEqual(['ip', '-n', 'zt-vm1', 'link', 'set', 'eth0', 'master', 'br0', 'up']);
    expect(cmds.filter((c) => c.includes('addr')).map((c) => c[2])).toEqual(['zt-pc1', 'zt-user']);
    expect(cmds.filter((c) => c[0] === 'tc').map((c) => c[2])).toEqual(['zt-pc1', 'zt-vm1']);
    expect(plannedNamespaces(withGuest)).toEqual(['zt-pc1', 'zt-vm1', 'zt-user', 'zt-lan']);
    expect(() => config({ ZANSHIN_VM_NODES: '9' })).toThrow(/ZANSHIN_VM_NODES/);
  });
});

describe('how a guest PC boots', () => {
  const c = () => config({ ZANSHIN_TEMPORAL: 'server', ZANSHIN_VM_NODES: '1', ZANSHIN_VM_INSTALL: 'on' });
  const kernel = { dir: '/k', version: '6.1.0-57-cloud-amd64', accel: 'tcg' as const };
  const files = { disk: '/d/disk.img', envFile: '/d/guest.env', vfsSocket: '/d/virtiofs.sock' };
  const vm1 = () => planCluster(c()).nodes.find((n) => n.id === 'vm1')!;
  const netdev = (argv: string[]) => argv.find((a) => a.startsWith('user,id=svc'))!;

  it('installed: systemd from its own image, the setup share, and TCP forwards dialled from the host namespace', () => {
    const boot = {
      kind: 'installed',
      setupSocket: '/d/setup.sock',
      ports: { temporal: 7233, api: 8443 },
      hostNetnsPid: 4242,
    } as const;
    const argv = qemuArgv(c(), vm1(), kernel, files, boot);
    expect(argv[argv.indexOf('-append') + 1]).toMatch(/zanshin\.init=\/lib\/systemd\/systemd/);
    expect(argv).toContain('vhost-user-fs-pci,chardev=setup,tag=setup');
    expect(netdev(argv).split(',')).toEqual([
      'user',
      'id=svc',
      'restrict=on',
      'guestfwd=tcp:10.0.2.100:7233-cmd:nsenter --net=/proc/4242/ns/net socat - TCP:127.0.0.1:7233',
      'guestfwd=tcp:10.0.2.100:8443-cmd:nsenter --net=/proc/4242/ns/net socat - TCP:127.0.0.1:8443',
    ]);
    expect(netdev(argv)).not.toMatch(/UNIX-CONNECT/);
  });

  it("shared: the host's files and pc.sh, reaching the services through the cluster's unix sockets", () => {
    const boot = { kind: 'shared', sockets: { temporal: '/s/temporal.sock', api: '/s/api.sock' } } as const;
    const argv = qemuArgv(c(), vm1(), kernel, files, boot);
    expect(argv[argv.indexOf('-append') + 1]).toMatch(/zanshin\.run=\S+\/pc\.sh/);
    expect(argv).not.toContain('vhost-user-fs-pci,chardev=setup,tag=setup');
    expect(netdev(argv)).toMatch(/guestfwd=tcp:10\.0\.2\.100:8787-cmd:socat - UNIX-CONNECT:\/s\/api\.sock/);
  });
});

describe("a guest PC's CPU", () => {
  it('never offers an instruction the host lacks (the CPU rule must let guest -> host moves go)', () => {
    const epyc = ['fpu', 'sse4_2', 'avx2', 'sha_ni', 'fsgsbase', 'abm', 'mmxext'];
    expect(guestCpuModel('tcg', epyc)).toBe('max,-3dnow,-3dnowext,-3dnowprefetch,-sse4a,-misalignsse,-pku,-xop');
    // An Intel Xeon has no mmxext (AMD's): the guest must not offer it either.
    const xeon = ['fpu', 'sse4_2', 'avx2', 'fsgsbase', 'abm', '3dnowprefetch'];
    expect(guestCpuModel('tcg', xeon)).toBe('max,-3dnow,-3dnowext,-sse4a,-misalignsse,-pku,-xop,-mmxext');
    expect(guestCpuModel('kvm', epyc)).toBe('host');
    // Without abm (LZCNT) the guest loses BMI1/BMI2 as well: code built for BMI2 runs LZCNT unasked; and AVX2, whose
    // users take BMI1/BMI2 for granted (glibc's AVX2 string functions: SIGILL under TCG).
    expect(guestCpuModel('tcg', ['fpu', 'avx2', 'bmi1', 'bmi2'])).toBe(
      'max,-3dnow,-3dnowext,-3dnowprefetch,-abm,-sse4a,-misalignsse,-fsgsbase,-pku,-xop,-mmxext,-bmi1,-bmi2,-avx2',
    );
  });
});

describe('a start asked of a running cluster', () => {
  it('names what differs, so that a start with other PCs replaces the running cluster instead of keeping it', () => {
    const running = config();
    expect(configDifferences(running, config())).toEqual([]);
    expect(configDifferences(running, config({ ZANSHIN_NODES: '1', ZANSHIN_VM_NODES: '2' }))).toEqual([
      'nodes 3 -> 1',
      'vmNodes 0 -> 2',
      'recoveryAfterSeconds 60 -> 90', // guests' defaults
      'leaseSeconds 30 -> 60',
    ]);
  });
});

describe('free ports for a test cluster', () => {
  it('are distinct: each is held until all are bound', async () => {
    const ports = await freePorts(12);
    expect(new Set(ports).size).toBe(12);
    for (const p of ports) expect(p).toBeGreaterThan(0);
  });
});
