// A PC's link rate as `zanshin doctor` shows it: the token-bucket shaping of the interface that holds its LAN
// address (what the local cluster and a campus's traffic shaping set), read from `ip -j addr` and `tc -j qdisc`.

/** The interface holding `address`, from `ip -j addr show` output; null when none does. */
export function interfaceHolding(ipAddrJson: string, address: string): string | null {
  const links = JSON.parse(ipAddrJson) as { ifname?: string; addr_info?: { local?: string }[] }[];
  return links.find((l) => l.addr_info?.some((a) => a.local === address))?.ifname ?? null;
}

/** Bits per second of a tbf root qdisc in `tc -j qdisc show dev X` output (tc gives bytes per second); null: none. */
export function shapedRateBps(tcQdiscJson: string): number | null {
  const qdiscs = JSON.parse(tcQdiscJson || '[]') as { kind?: string; root?: boolean; options?: { rate?: number } }[];
  const tbf = qdiscs.find((q) => q.kind === 'tbf' && q.root && typeof q.options?.rate === 'number');
  return tbf ? tbf.options!.rate! * 8 : null;
}

/** "1 Gbit/s", "100 Mbit/s", "-" for unknown. */
export function formatRate(bps: number | null | undefined): string {
  if (!bps) return '-';
  for (const [unit, size] of [
    ['Gbit/s', 1e9],
    ['Mbit/s', 1e6],
    ['kbit/s', 1e3],
  ] as const)
    if (bps >= size) return `${Number((bps / size).toFixed(1))} ${unit}`;
  return `${bps} bit/s`;
}
