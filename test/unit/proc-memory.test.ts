// Which pages of a running process a live pre-copy reads (issue 29): private writable mappings, present anonymous
// or swapped pages only (reading any other would make the kernel allocate it).
import { dumpedMappings, dumpedPage, dumpedRuns, parseMaps } from '../../domain/proc-memory';

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

it('reads /proc/PID/maps and keeps the private writable mappings a dump holds', () => {
  const maps = parseMaps(MAPS);
  expect(maps).toHaveLength(9);
  expect(maps[2]).toEqual({ start: 0x55d0c1000000, end: 0x55d0c1400000, perms: 'rw-p', name: '[heap]' });
  expect(maps[3]!.name).toBe('');
  expect(dumpedMappings(maps).map((m) => m.name)).toEqual(['/usr/bin/redis-server', '[heap]', '', '[stack]']);
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
