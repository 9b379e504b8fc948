// What `zanshin doctor` reads and says (issue 26): the link rate from ip/tc output, and the findings per PC.
import { doctorFindings } from '../../cli/overview';
import { formatRate, interfaceHolding, shapedRateBps } from '../../domain/link-rate';

describe('link rate', () => {
  const ipAddr = JSON.stringify([
    { ifname: 'lo', addr_info: [{ local: '127.0.0.1' }] },
    { ifname: 'eth0', addr_info: [{ local: '10.77.0.11' }, { local: 'fe80::1' }] },
  ]);

  it('finds the interface holding the address, or none', () => {
    expect(interfaceHolding(ipAddr, '10.77.0.11')).toBe('eth0');
    expect(interfaceHolding(ipAddr, '10.77.0.12')).toBeNull();
  });

  it("reads a root tbf's rate (bytes/s in tc's JSON) as bit/s, and nothing where no tbf shapes the link", () => {
    const tbf = '[{"kind":"tbf","handle":"8003:","root":true,"options":{"rate":125000000,"burst":1250000}}]';
    expect(shapedRateBps(tbf)).toBe(1e9);
    expect(shapedRateBps('[{"kind":"noqueue","root":true}]')).toBeNull();
    expect(shapedRateBps('')).toBeNull();
    expect([formatRate(1e9), formatRate(1e8), formatRate(1.5e6), formatRate(null)]).toEqual([
      '1 Gbit/s',
      '100 Mbit/s',
      '1.5 Mbit/s',
      '-',
    ]);
  });
});

describe('doctor findings', () => {
  const now = Date.parse('2026-12-05T12:00:00Z');
  const healthy = {
    id: 'pc1',
    address: '10.77.0.11:7070',
    taskQueue: 'node-pc1',
    cpuModel: 'x',
    cpuCores: 2,
    cpuFlags: [],
    memoryTotalBytes: 1,
    dirtyTracking: true,
    criuVersion: '4.2.1',
    lastReportAt: new Date(now - 5_000).toISOString(),
    strategy: 'kernel' as const,
    checkpointsOtherUsers: true,
    linkRateBps: 1e9,
    diskTotalBytes: 100e9,
    diskFreeBytes: 50e9,
    imageBytes: 0,
    cpu: 0.1,
    memory: 0.2,
    memoryAvailableBytes: 1,
    inUseSince: null,
    inUseBy: null,
    inUseUntil: null,
  };

  it('finds nothing on a PC that can do everything', () => {
    expect(doctorFindings(healthy, now)).toEqual([]);
  });

  it('names each thing that stands in the way, and what it means', () => {
    const found = doctorFindings(
      {
        ...healthy,
        strategy: 'content',
        checkpointsOtherUsers: false,
        diskFreeBytes: 1e9,
        lastReportAt: new Date(now - 90_000).toISOString(),
      },
      now,
    );
    expect(found).toEqual([
      expect.stringMatching(/silent for 90 s/),
      expect.stringMatching(/content hashing: .*no soft-dirty/),
      expect.stringMatching(/CAP_SYS_RESOURCE: containers whose program runs as a non-root user are refused/),
      expect.stringMatching(/disk almost full \(1.0 GB free of 100.0 GB\)/),
    ]);
  });

  it('tells an old worker that reports no strategy apart', () => {
    expect(doctorFindings({ ...healthy, strategy: null, checkpointsOtherUsers: null }, now)).toEqual([
      expect.stringMatching(/does not report strategy/),
    ]);
  });
});
