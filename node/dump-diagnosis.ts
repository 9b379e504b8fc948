// Why a differential dump could not use its parent: CRIU names a page it found unchanged since the parent that the
// parent's image does not hold ("Missing <addr> in parent pagemap"). The mapping that holds it (and whether
// transparent huge pages back it) says how the page came to be there, so the PC's log names it.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodePagemap, isPagemapFile } from '../domain/criu-pagemap';

/** The address CRIU reports missing from the parent's pagemap, if its message names one. */
export function missingParentPage(criuMessage: string): bigint | null {
  const m = /Missing ([0-9a-f]+) in parent pagemap/.exec(criuMessage);
  return m ? BigInt(`0x${m[1]}`) : null;
}

/** The smaps block (header line and fields) of the mapping that contains `address`, or null. */
export function mappingOf(smaps: string, address: bigint): string | null {
  const blocks = smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
  for (const block of blocks) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(block);
    if (!range) continue;
    if (address >= BigInt(`0x${range[1]}`) && address < BigInt(`0x${range[2]}`)) {
      // The fields that tell how its pages came to be: size, resident, anonymous, huge pages, flags.
      const keep = /^(Size|Rss|Anonymous|AnonHugePages|THPeligible|VmFlags):/;
      return [block.split('\n')[0], ...block.split('\n').filter((l) => keep.test(l))].join('; ');
    }
  }
  return null;
}

/** The container's processes (`pid` and its descendants) whose mappings hold `address`, described. */
export async function describeAddress(pid: number, address: bigint): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<number>();
  const visit = async (p: number): Promise<void> => {
    if (seen.has(p)) return;
    seen.add(p);
    const smaps = await readFile(`/proc/${p}/smaps`, 'utf8').catch(() => '');
    const mapping = mappingOf(smaps, address);
    if (mapping) {
      const comm = (await readFile(`/proc/${p}/comm`, 'utf8').catch(() => '?')).trim();
      out.push(`pid ${p} (${comm}): ${mapping}`);
    }
    for (const task of await readdir(`/proc/${p}/task`).catch(() => [] as string[])) {
      const children = await readFile(`/proc/${p}/task/${task}/children`, 'utf8').catch(() => '');
      for (const child of children.split(/\s+/).filter(Boolean)) await visit(Number(child));
    }
  };
  await visit(pid);
  return out;
}

/** The parent image's pagemap entries (per process) that end within 64 pages of `address`, or contain it. */
export async function parentEntriesNear(parentImageDir: string, address: bigint): Promise<string[]> {
  const page = Number(address / 4096n);
  const out: string[] = [];
  for (const name of (await readdir(parentImageDir).catch(() => [] as string[])).filter(isPagemapFile)) {
    const pagemap = decodePagemap(await readFile(path.join(parentImageDir, name)), name);
    const near = pagemap.entries.filter((e) => e.page <= page + 64 && e.page + e.pages >= page - 64);
    if (near.length)
      out.push(`${name}: ${near.map((e) => `${(e.page * 4096).toString(16)}+${e.pages} flags ${e.flags}`).join(', ')}`);
  }
  return out;
}
