// The soak's plan of faults: drawn from a seed, so that a run that found something can be run again exactly. Pure.
import { seededRandom } from '../../common/seeded-random';

/** Every kind of fault the soak injects (issue 28). */
export const FAULT_KINDS = [
  'kill-worker-mid-migration', // SIGKILL of a node worker at a migration step (source or target), started again later
  'stop-worker', // SIGSTOP of a worker, for less than the lease or longer than recovery, then SIGCONT
  'partition-short', // a PC cut off (LAN and control plane) for less than the lease
  'partition-long', // ... for longer than recovery
  'power-off', // worker, fence and containers killed at once; the PC comes back later, empty of running copies
  'restart-temporal',
  'restart-postgres',
  'restart-api',
  'restart-control-worker',
  'disk-full', // a PC's data filesystem filled for a while
  'corrupt-checkpoint', // a byte flipped in a checkpoint image a PC holds
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  /** Milliseconds after the soak's start. */
  atMs: number;
  kind: FaultKind;
  /** Which PC (index into the soak's PCs) it hits, where it hits one. */
  pc: number;
  /** How long the fault lasts before it is undone (partitions, stops, power-off, full disk). */
  forMs: number;
}

export interface ScheduleSettings {
  seed: number;
  minutes: number;
  pcs: number;
  leaseSeconds: number;
  recoverySeconds: number;
  /** Faults start after this warm-up (containers placed, first moves done). */
  warmUpMs: number;
  /** Nothing is injected in the last stretch: everything settles before the final checks. */
  coolDownMs: number;
}

/**
 * One fault every `gap` on average, kinds taken in a shuffled round so that each appears about as often; durations
 * around the fencing settings (short: under the lease; long: past recovery). Faults never overlap, so that at most
 * one PC is hurt at a time and every container keeps a PC to go to.
 */
export function planFaults(s: ScheduleSettings): PlannedFault[] {
  const rnd = seededRandom(s.seed);
  const span = s.minutes * 60_000 - s.warmUpMs - s.coolDownMs;
  const faults: PlannedFault[] = [];
  let kinds: FaultKind[] = [];
  let at = s.warmUpMs;
  const short = () => Math.round((0.3 + 0.4 * rnd()) * s.leaseSeconds * 1000);
  const long = () => Math.round((s.recoverySeconds + 4 + 6 * rnd()) * 1000);
  for (;;) {
    if (!kinds.length) kinds = shuffle([...FAULT_KINDS], rnd);
    const kind = kinds.pop()!;
    const forMs =
      kind === 'partition-short'
        ? short()
        : kind === 'partition-long' || kind === 'power-off'
          ? long()
          : kind === 'stop-worker'
            ? rnd() < 0.5
              ? short()
              : long()
            : kind === 'disk-full'
              ? 15_000
              : 0;
    // Restarts and kills take a moment of their own; the gap lets the cluster settle between faults.
    const lasts = forMs + 20_000 + Math.round(10_000 * rnd());
    if (at + lasts > s.warmUpMs + span) break;
    faults.push({ atMs: at, kind, pc: Math.floor(rnd() * s.pcs), forMs });
    at += lasts;
  }
  return faults;
}

function shuffle<T>(list: T[], rnd: () => number): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}
