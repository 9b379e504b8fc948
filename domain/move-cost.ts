/**
 * How long a move takes, from the project's own measurements (bench/results, 1 Gbit/s links, this machine kind):
 * a first move (nothing on the target, pre-copy) took 3.7 s at 64 MiB, 7-9 s at 256 MiB, 17-21 s at 1 GiB and
 * 41-50 s at 2 GiB from request to done; a return move onto a remnant 2.8-4.2 s at 64 MiB and 7-11 s at 1 GiB;
 * the downtime inside them 2-4 s up to 1 GiB. Linear fits of those, rounded up, so that a lead time planned from
 * them is on the safe side. Pure: the lecture evacuation and the simulator use the same figures.
 */

export interface MoveCostInput {
  memoryBytes: number;
  /** The target holds a remnant of the container (a return move). */
  remnant: boolean;
  /** Link rate in bytes/s. @default 1 Gbit/s */
  linkBytesPerSecond?: number;
}

const GBIT = 125_000_000;
const MIB = 2 ** 20;

/** Seconds from request to done. */
export function moveSeconds(m: MoveCostInput): number {
  // The per-MiB part is mostly the link (1 GiB ~ 8.6 s at 1 Gbit/s) and the dumps; scale the link's share.
  const link = (m.linkBytesPerSecond ?? GBIT) / GBIT;
  const mib = m.memoryBytes / MIB;
  const perMiB = m.remnant ? 0.002 + 0.004 / link : 0.01 + 0.0095 / link;
  return (m.remnant ? 3 : 2.5) + perMiB * mib;
}

/** Seconds the container is frozen (the client waits about as long). */
export function downtimeSeconds(m: MoveCostInput): number {
  const mib = m.memoryBytes / MIB;
  return (m.remnant ? 1.5 : 2) + 0.002 * mib;
}
