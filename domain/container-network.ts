/**
 * A container's own place on the LAN: its address, prefix and MAC, which follow it across moves. The control plane
 * gives addresses from a pool (never one twice); the MAC is derived from the address, so the same address always
 * has the same MAC and peers' ARP caches stay right after a move. Pure.
 */

export interface ContainerNetwork {
  /** IPv4 address on the LAN, e.g. "10.77.0.130". */
  address: string;
  /** Prefix length of the LAN, e.g. 24. */
  prefixLength: number;
  /** Locally administered unicast MAC derived from the address. */
  mac: string;
  /** Default route (the LAN's gateway), when the LAN has one. */
  gateway?: string;
  /** Name servers written to the container's /etc/resolv.conf. */
  dns?: string[];
}

export class AddressPoolError extends Error {
  override name = 'AddressPoolError';
}

export interface AddressPool {
  /** The pool as written, e.g. "10.77.0.128/25". */
  cidr: string;
  /** First and last usable address, as 32-bit numbers. */
  first: number;
  last: number;
  /** Prefix length of the LAN the containers live on (not of the pool). */
  lanPrefixLength: number;
  gateway?: string;
  dns?: string[];
}

export function ipToNumber(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    throw new AddressPoolError(`${JSON.stringify(ip)} is not an IPv4 address`);
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/**
 * Parses a pool "a.b.c.d/len" on a LAN of prefix `lanPrefixLength`. The pool's network and broadcast addresses are
 * left out, and so are the LAN's (a pool may be the whole LAN).
 */
export function parseAddressPool(
  cidr: string,
  lanPrefixLength: number,
  gateway?: string,
  dns: string[] = [],
): AddressPool {
  for (const server of dns) ipToNumber(server); // refuses anything that is not an IPv4 address
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(cidr.trim());
  if (!m) throw new AddressPoolError(`address pool ${JSON.stringify(cidr)} must look like 10.77.0.128/25`);
  const len = Number(m[2]);
  if (len < 16 || len > 30) throw new AddressPoolError(`address pool ${cidr}: prefix length must be 16-30`);
  if (len < lanPrefixLength)
    throw new AddressPoolError(`address pool ${cidr} is larger than its LAN (/${lanPrefixLength})`);
  const size = 2 ** (32 - len);
  const base = ipToNumber(m[1]!) - (ipToNumber(m[1]!) % size);
  const lanSize = 2 ** (32 - lanPrefixLength);
  const lanBase = base - (base % lanSize);
  const first = Math.max(base, lanBase + 1);
  const last = Math.min(base + size - 1, lanBase + lanSize - 2);
  if (first > last) throw new AddressPoolError(`address pool ${cidr} holds no usable address`);
  return { cidr, first, last, lanPrefixLength, ...(gateway ? { gateway } : {}), ...(dns.length ? { dns } : {}) };
}

/** The MAC of an address: 02:5a (locally administered, "Z") followed by the address's four octets. */
export function macFor(address: string): string {
  const n = ipToNumber(address);
  return ['02', '5a', ...[24, 16, 8, 0].map((s) => (Math.floor(n / 2 ** s) % 256).toString(16).padStart(2, '0'))].join(
    ':',
  );
}

/** The lowest address of the pool that is not taken (the gateway is never given), or null when the pool is full. */
export function firstFreeAddress(pool: AddressPool, taken: Iterable<string>): string | null {
  const used = new Set([...taken].map(ipToNumber));
  if (pool.gateway) used.add(ipToNumber(pool.gateway));
  for (let n = pool.first; n <= pool.last; n++) if (!used.has(n)) return numberToIp(n);
  return null;
}

/** The network a container gets for a given address of the pool. */
export function networkFor(pool: AddressPool, address: string): ContainerNetwork {
  return {
    address,
    prefixLength: pool.lanPrefixLength,
    mac: macFor(address),
    ...(pool.gateway ? { gateway: pool.gateway } : {}),
    ...(pool.dns ? { dns: pool.dns } : {}),
  };
}
