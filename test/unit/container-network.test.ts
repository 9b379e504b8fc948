import {
  AddressPoolError,
  firstFreeAddress,
  macFor,
  networkFor,
  parseAddressPool,
} from '../../domain/container-network';

describe('container address pool', () => {
  it("gives the pool's addresses lowest first, never the network, broadcast or gateway address, never one twice", () => {
    const pool = parseAddressPool('10.77.0.128/25', 24, '10.77.0.129');
    expect(firstFreeAddress(pool, [])).toBe('10.77.0.128');
    expect(firstFreeAddress(pool, ['10.77.0.128'])).toBe('10.77.0.130'); // .129 is the gateway
    const whole = parseAddressPool('10.77.0.0/24', 24);
    expect(firstFreeAddress(whole, [])).toBe('10.77.0.1'); // not the LAN's network address
    const taken = Array.from({ length: 253 }, (_, i) => `10.77.0.${i + 1}`);
    expect(firstFreeAddress(whole, taken)).toBe('10.77.0.254');
    expect(firstFreeAddress(whole, [...taken, '10.77.0.254'])).toBeNull(); // .255 is the broadcast address
  });

  it('derives one MAC per address, locally administered', () => {
    expect(macFor('10.77.0.128')).toBe('02:5a:0a:4d:00:80');
    expect(macFor('10.77.0.129')).not.toBe(macFor('10.77.0.128'));
  });

  it('hands out the network a container gets, with its gateway and name servers', () => {
    const pool = parseAddressPool('10.77.0.128/25', 24, '10.77.0.1', ['10.77.0.2']);
    expect(networkFor(pool, '10.77.0.140')).toEqual({
      address: '10.77.0.140',
      prefixLength: 24,
      mac: '02:5a:0a:4d:00:8c',
      gateway: '10.77.0.1',
      dns: ['10.77.0.2'],
    });
  });

  it('refuses pools it cannot use, saying why', () => {
    expect(() => parseAddressPool('10.77.0.128', 24)).toThrow(/must look like 10\.77\.0\.128\/25/);
    expect(() => parseAddressPool('10.77.0.0/16', 24)).toThrow(/larger than its LAN/);
    expect(() => parseAddressPool('10.77.0.300/25', 24)).toThrow(AddressPoolError);
    expect(() => parseAddressPool('10.77.0.128/25', 24, undefined, ['dns.example'])).toThrow(/not an IPv4 address/);
  });
});
