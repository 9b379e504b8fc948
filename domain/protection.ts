// Continuous protection: how often a running container's safety checkpoint is taken. A checkpoint freezes the
// program for its dump; the interval is the one asked for, lengthened when the freezes would take more than the
// allowed share of wall time (a program frozen 600 ms every 30 s is frozen 2 % of the time).
import type { ProtectionSettings } from '../common/protection-settings';
export type { ProtectionSettings } from '../common/protection-settings';

/** Freezes the estimate looks back on. */
export const FREEZES_WEIGHED = 5;

/**
 * The freeze to expect of the next checkpoint: the median of the last few. One dump slowed by a busy moment (a lazy
 * restore still copying memory in, another program's burst) does not stretch the interval; a lasting change does.
 */
export function freezeEstimate(recentMs: number[]): number | null {
  const last = recentMs.slice(-FREEZES_WEIGHED);
  if (!last.length) return null;
  for (const ms of last) if (!(ms >= 0)) throw new RangeError(`a freeze lasts 0 ms or more, not ${ms}`);
  const sorted = [...last].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
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
