// Settings of continuous protection (domain/protection.ts), read by common/config.ts.

export interface ProtectionSettings {
  /** The interval asked for (ZANSHIN_PROTECT_SECONDS); 0 turns protection off. */
  intervalMs: number;
  /** The share of wall time freezes may take (ZANSHIN_PROTECT_FREEZE_PERCENT / 100). */
  freezeShare: number;
  /** The longest interval the share rule may choose (ZANSHIN_PROTECT_MAX_SECONDS). */
  maxIntervalMs: number;
}

export const DEFAULT_PROTECTION: ProtectionSettings = {
  intervalMs: 15_000,
  freezeShare: 0.02,
  maxIntervalMs: 600_000,
};
