// This PC's link rate (see domain/link-rate.ts): asked once per worker, null where nothing shapes the link.
import execa from 'execa';
import { interfaceHolding, shapedRateBps } from '../domain/link-rate';

export async function detectLinkRate(address: string): Promise<number | null> {
  const addrs = await execa('ip', ['-j', 'addr', 'show'], { reject: false });
  if (addrs.exitCode !== 0) return null;
  const ifname = interfaceHolding(addrs.stdout, address);
  if (!ifname) return null;
  const qdisc = await execa('tc', ['-j', 'qdisc', 'show', 'dev', ifname], { reject: false });
  return qdisc.exitCode === 0 ? shapedRateBps(qdisc.stdout) : null;
}
