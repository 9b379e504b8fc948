/**
 * What a PC says about itself: identity, LAN addresses, CPU and load. Pure shaping of raw readings,
 * so the rules (ranges, rounding, which interfaces count) are unit tested without a machine.
 */

export interface NodeLoad {
  /** CPU utilisation in [0, 1] (the paper's C). */
  cpu: number;
  /** Memory utilisation in [0, 1] (the paper's M): 1 - available / total. */
  memory: number;
  memoryTotalBytes: number;
  memoryAvailableBytes: number;
}

export interface NodeDescription {
  nodeId: string;
  hostname: string;
  /** Name of the network namespace the worker runs in ("" for the host's own). */
  networkNamespace: string;
  /** Non-loopback IPv4 addresses: the PC's addresses on the classroom LAN. */
  addresses: string[];
  cpuModel: string;
  cpuCores: number;
  load: NodeLoad;
  reportedAt: string;
}

export interface RawLoad {
  /** Percent, as systeminformation's currentLoad() reports it. */
  cpuPercent: number;
  memTotal: number;
  memAvailable: number;
}

const clamp01 = (x: number): number => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);
const round4 = (x: number): number => Math.round(x * 10_000) / 10_000;

export function toNodeLoad(raw: RawLoad): NodeLoad {
  const memory = raw.memTotal > 0 ? 1 - raw.memAvailable / raw.memTotal : 0;
  return {
    cpu: round4(clamp01(raw.cpuPercent / 100)),
    memory: round4(clamp01(memory)),
    memoryTotalBytes: raw.memTotal,
    memoryAvailableBytes: raw.memAvailable,
  };
}

export interface InterfaceAddress {
  address: string;
  family: string | number;
  internal: boolean;
}

export function lanAddresses(interfaces: Record<string, InterfaceAddress[] | undefined>): string[] {
  return Object.values(interfaces)
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal && (a.family === 'IPv4' || a.family === 4))
    .map((a) => a.address)
    .sort();
}
