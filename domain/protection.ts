// Continuous protection: how often a running container's safety checkpoint is taken. A checkpoint freezes the
// program for its dump; the interval is the one asked for, lengthened when the freezes would take more than the
// allowed share of wall time (a program frozen 600 ms every 30 s is frozen 2 % of the time).
import type { ProtectionSettings } from '../common/protection-settings';
export type { ProtectionSettings } from '../common/protection-settings';

/** Weight of the newest freeze in the running estimate: one slow dump moves it, a single outlier does not rule. */
const FREEZE_WEIGHT = 0.5;

/** The freeze estimate after one more checkpoint (exponentially weighted; the first one counts whole). */
export function nextFreezeEstimate(previousMs: number | null, frozenMs: number): number {
  if (!(frozenMs >= 0)) throw new RangeError(`a freeze lasts 0 ms or more, not ${frozenMs}`);
  return previousMs === null ? frozenMs : previousMs + FREEZE_WEIGHT * (frozenMs - previousMs);
}

/**
 * The interval until the next checkpoint: the one asked for, or longer so that the expected freeze stays within
 * the share (freeze / interval <= share), never past the maximum.
 */
export function protectionInterval(settings: ProtectionSettings, freezeEstimateMs: number | null): number {
  const byShare = freezeEstimateMs === null ? 0 : Math.ceil(freezeEstimateMs / settings.freezeShare);
  return Math.min(settings.maxIntervalMs, Math.max(settings.intervalMs, byShare));
}

/** What a PC says of one protected container (logged and reported to migration-api). */
export interface ProtectionStatus {
  containerId: string;
  /** The PC keeping its checkpoints. */
  holder: string;
  /** The newest generation the holder keeps. */
  generation: number;
  /** When that checkpoint froze the program (ISO time): the most work a power-off now loses runs from there. */
  at: string;
  /** How long that checkpoint froze the program. */
  frozenMs: number;
  /** Bytes it sent over the LAN. */
  wireBytes: number;
  /** From the freeze to the holder keeping it. */
  tookMs: number;
  /** The interval chosen for the next one. */
  intervalMs: number;
}

/** A holder's grant: the source sends this container's checkpoints to that data plane with this token. */
export interface ProtectionLease {
  containerId: string;
  holder: string;
  leaseId: string;
  token: string;
  /** host:port of the holder's data plane. */
  address: string;
  /** Its TLS certificate (PEM), the only one the source trusts; absent: plain HTTP. */
  certificate?: string;
}
