import { lanAddresses, toNodeLoad } from '../../domain/node-description';

describe('toNodeLoad', () => {
  it('turns percent CPU and available memory into utilisations in [0, 1]', () => {
    const load = toNodeLoad({ cpuPercent: 37.5, memTotal: 8_000, memAvailable: 2_000 });
    expect(load).toEqual({ cpu: 0.375, memory: 0.75, memoryTotalBytes: 8_000, memoryAvailableBytes: 2_000 });
  });

  it('clamps out-of-range and non-finite readings instead of passing them on', () => {
    expect(toNodeLoad({ cpuPercent: 130, memTotal: 100, memAvailable: 150 })).toMatchObject({ cpu: 1, memory: 0 });
    expect(toNodeLoad({ cpuPercent: Number.NaN, memTotal: 0, memAvailable: 0 })).toMatchObject({ cpu: 0, memory: 0 });
  });
});

describe('lanAddresses', () => {
  it('keeps non-internal IPv4 addresses only, sorted', () => {
    expect(
      lanAddresses({
        lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
        eth1: [
          { address: '10.0.0.9', family: 'IPv4', internal: false },
          { address: 'fe80::1', family: 'IPv6', internal: false },
        ],
        eth0: [{ address: '10.0.0.2', family: 4, internal: false }],
        down: undefined,
      }),
    ).toEqual(['10.0.0.2', '10.0.0.9']);
  });
});
