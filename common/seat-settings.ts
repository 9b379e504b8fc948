// Settings of login detection (domain/seat.ts), read by common/config.ts.

export interface SeatSettings {
  /** The seat that is the PC's keyboard and screen. @default seat0 */
  seat: string;
  /** Count remote (ssh) sessions as use of the PC. @default false */
  remoteCounts: boolean;
}

export const DEFAULT_SEAT: SeatSettings = { seat: 'seat0', remoteCounts: false };
