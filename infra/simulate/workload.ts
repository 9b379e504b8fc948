// What the simulated students run, and when PCs go off: drawn once from the seed, so that every policy meets the
// same containers and the same power-offs.
import type { Campus } from './campus';

/**
 * Container kinds with the sizes and write rates this project measured (bench/results, host-facts.md, the soak):
 * the demo's counter (64 MiB, 20 dirtied pages/s), the demo's redis (~100 MB, idle redis wrote 56-77 pages/s in the
 * write-tracking experiment), a Python notebook-sized process, the bench's memhog (1 GiB, 110 pages/s) and a
 * redis of 1.1 GiB with ~100 SET/s from a client (a few hundred pages/s).
 */
export const CONTAINER_KINDS = [
  { kind: 'counter', memoryMiB: 64, dirtyPagesPerSec: 20, cpuCores: 0.05, share: 0.3 },
  { kind: 'redis', memoryMiB: 128, dirtyPagesPerSec: 70, cpuCores: 0.1, share: 0.3 },
  { kind: 'python', memoryMiB: 256, dirtyPagesPerSec: 40, cpuCores: 0.5, share: 0.2 },
  { kind: 'memhog', memoryMiB: 1024, dirtyPagesPerSec: 110, cpuCores: 1, share: 0.15 },
  { kind: 'redis-large', memoryMiB: 1126, dirtyPagesPerSec: 300, cpuCores: 0.3, share: 0.05 },
] as const;

export interface Arrival {
  id: string;
  kind: string;
  at: number;
  endsAt: number;
  memoryBytes: number;
  dirtyPagesPerSec: number;
  cpuCores: number;
}

export interface PowerOff {
  pc: number;
  at: number;
  forMs: number;
}

export interface Workload {
  arrivals: Arrival[];
  powerOffs: PowerOff[];
  /** Median lifetime of a container, hours. */
  medianLifetimeHours: number;
}

export interface WorkloadSettings {
  /** Containers running at once per PC, on average. @default 0.5 */
  containersPerPc: number;
  /** Unannounced power-offs per PC per week. @default 1 */
  powerOffsPerPcWeek: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const MEDIAN_LIFETIME_H = 6;
const LIFETIME_SIGMA = 1;

/** When students start work, relative: weekday daytime most, evenings less, nights and weekends little. */
function hourWeight(localHour: number, weekend: boolean): number {
  const w = localHour >= 9 && localHour < 18 ? 1 : localHour >= 18 && localHour < 23 ? 0.7 : localHour < 2 ? 0.3 : 0.05;
  return weekend ? w * 0.4 : w;
}

function normal(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
}

export function generateWorkload(campus: Campus, s: WorkloadSettings, rnd: () => number): Workload {
  const start = campus.termStart.getTime();
  const end = campus.termEnd.getTime();
  // Arrival rate so that, with the mean lifetime, `containersPerPc` run at once on average (Little's law).
  const meanLifetimeMin = MEDIAN_LIFETIME_H * 60 * Math.exp((LIFETIME_SIGMA * LIFETIME_SIGMA) / 2);
  const perMinute = (s.containersPerPc * campus.pcs.length) / meanLifetimeMin;
  let meanWeight = 0;
  for (let h = 0; h < 168; h++) meanWeight += hourWeight(h % 24, h >= 120) / 168;
  const arrivals: Arrival[] = [];
  for (let t = start; t < end; t += MINUTE) {
    const local = new Date(t + 9 * HOUR); // campus time (UTC+9)
    const weekend = local.getUTCDay() === 0 || local.getUTCDay() === 6;
    const rate = (perMinute * hourWeight(local.getUTCHours(), weekend)) / meanWeight;
    // Poisson arrivals in this minute, by inversion.
    let n = 0;
    for (let p = Math.exp(-rate), sum = p, u = rnd(); u > sum && n < 1000; n++) sum += p *= rate / (n + 1);
    for (let i = 0; i < n; i++) {
      const u = rnd();
      let acc = 0;
      const kind = CONTAINER_KINDS.find((k) => (acc += k.share) >= u) ?? CONTAINER_KINDS[0];
      const lifetimeMs = Math.min(
        7 * 24 * HOUR,
        Math.max(20 * MINUTE, MEDIAN_LIFETIME_H * HOUR * Math.exp(LIFETIME_SIGMA * normal(rnd))),
      );
      const at = t + Math.floor(rnd() * MINUTE);
      arrivals.push({
        id: `c${arrivals.length + 1}`,
        kind: kind.kind,
        at,
        endsAt: at + lifetimeMs,
        memoryBytes: kind.memoryMiB * 2 ** 20,
        dirtyPagesPerSec: kind.dirtyPagesPerSec,
        cpuCores: kind.cpuCores,
      });
    }
  }
  arrivals.sort((a, b) => a.at - b.at);
  // Unannounced power-offs: uniformly over the term, off for 10 min to 12 h (log-uniform).
  const weeks = (end - start) / (7 * 24 * HOUR);
  const count = Math.round(s.powerOffsPerPcWeek * weeks * campus.pcs.length);
  const powerOffs: PowerOff[] = [];
  for (let i = 0; i < count; i++)
    powerOffs.push({
      pc: Math.floor(rnd() * campus.pcs.length),
      at: start + Math.floor(rnd() * (end - start)),
      forMs: Math.round(10 * MINUTE * Math.exp(rnd() * Math.log(72))),
    });
  powerOffs.sort((a, b) => a.at - b.at);
  return { arrivals, powerOffs, medianLifetimeHours: MEDIAN_LIFETIME_H };
}
