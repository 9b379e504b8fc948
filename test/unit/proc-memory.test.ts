// Which pages of a running process a live pre-copy reads (issue 29): those of private mappings that CRIU would dump,
// present anonymous (not the zero page) or swapped pages only (reading any other would make the kernel allocate it).
import { dumpedMappings, dumpedPage, dumpedRuns, parseMaps, zeroPageIn } from '../../domain/proc-memory';

const MAPS = `55d0c0a00000-55d0c0a21000 r--p 00000000 fe:00 1311 /usr/bin/redis-server
55d0c0c00000-55d0c0c05000 rw-p 00200000 fe:00 1311 /usr/bin/redis-server
55d0c1000000-55d0c1400000 rw-p 00000000 00:00 0                          [heap]
7f1a00000000-7f1a40000000 rw-p 00000000 00:00 0
7f1a50000000-7f1a50001000 rw-s 00000000 00:05 99 /dev/zero (deleted)
7ffd1000000-7ffd1021000 rw-p 00000000 00:00 0                          [stack]
7ffd1100000-7ffd1104000 r--p 00000000 00:00 0                          [vvar]
7ffd1104000-7ffd1106000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`;

it('reads /proc/PID/maps and keeps the private mappings a dump holds, writable or not', () => {
  const maps = parseMaps(MAPS);
  expect(maps).toHaveLength(9);
  expect(maps[2]).toEqual({ start: 0x55d0c1000000, end: 0x55d0c1400000, perms: 'rw-p', name: '[heap]' });
  expect(maps[3]!.name).toBe('');
  expect(dumpedMappings(maps).map((m) => m.name)).toEqual([
    '/usr/bin/redis-server', // r--p: relocated read-only data is written once, then dumped by CRIU too
    '/usr/bin/redis-server',
    '[heap]',
    '',
    '[stack]',
    '[vdso]', // whole (CRIU may build a proxy of it), though its pages are the kernel's
  ]);
  expect(
    dumpedMappings(maps)
      .filter((m) => m.whole)
      .map((m) => m.name),
  ).toEqual(['[vdso]']);
  // The first executable mapping (here the vDSO: this redis has no text mapped) takes CRIU's parasite.
  expect(
    dumpedMappings(maps)
      .filter((m) => m.parasitePage)
      .map((m) => m.name),
  ).toEqual(['[vdso]']);
  const withText = parseMaps(`55d0c0a21000-55d0c0b00000 r-xp 00021000 fe:00 1311 /usr/bin/redis-server\n${MAPS}`);
  expect(dumpedMappings(withText).find((m) => m.parasitePage)?.start).toBe(0x55d0c0a21000);
  expect(() => parseMaps('nonsense line')).toThrow(/cannot read "nonsense line"/);
});

it('reads only present anonymous or swapped pages, in runs', () => {
  const present = 1n << 63n;
  const swapped = 1n << 62n;
  const file = 1n << 61n;
  expect(dumpedPage(present | 0x1234n)).toBe(true);
  expect(dumpedPage(swapped)).toBe(true);
  expect(dumpedPage(present | file)).toBe(false); // a page of the file, unwritten: the file has it
  expect(dumpedPage(0n)).toBe(false); // never touched: reading it would allocate it
  const entries = [present, present, 0n, present | file, swapped, present, 0n];
  const buf = Buffer.alloc(entries.length * 8);
  entries.forEach((e, i) => buf.writeBigUInt64LE(e, i * 8));
  expect(dumpedRuns(0x10000, buf)).toEqual([
    { start: 0x10000, pages: 2 },
    { start: 0x10000 + 4 * 4096, pages: 2 },
  ]);
  expect(dumpedRuns(0x10000, Buffer.alloc(0))).toEqual([]);
});

it('leaves out pages only read, mapped to the zero page, as CRIU does', () => {
  const present = 1n << 63n;
  const zeroPfn = 14632n;
  expect(dumpedPage(present | zeroPfn, zeroPfn)).toBe(false);
  expect(dumpedPage(present | (zeroPfn + 1n), zeroPfn)).toBe(true);
  expect(dumpedPage(present | zeroPfn)).toBe(true); // unknown zero page: copied (harmless, only off CRIU's order)
  const entries = [present | 7n, present | zeroPfn, present | 9n];
  const buf = Buffer.alloc(entries.length * 8);
  entries.forEach((e, i) => buf.writeBigUInt64LE(e, i * 8));
  expect(dumpedRuns(0, buf, zeroPfn)).toEqual([
    { start: 0, pages: 1 },
    { start: 2 * 4096, pages: 1 },
  ]);
  // A parasite page is kept whatever its entry says (CRIU will have copied it by the time it dumps).
  expect(dumpedRuns(0, Buffer.alloc(16), zeroPfn, true)).toEqual([{ start: 0, pages: 1 }]);
  const flags = Buffer.alloc(5 * 8);
  flags.writeBigUInt64LE(1n << 24n, 3 * 8);
  expect(zeroPageIn(flags)).toBe(3);
  expect(zeroPageIn(Buffer.alloc(16))).toBe(-1);
});
