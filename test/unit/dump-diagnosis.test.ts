import { mappingOf, missingParentPage } from '../../node/dump-diagnosis';

const SMAPS = `00400000-004c3000 r-xp 00000000 00:2e 123 /bin/counter
Size:                780 kB
Rss:                 400 kB
VmFlags: rd ex mr mw me
3ba00000-3bc00000 rw-p 00000000 00:00 0
Size:               2048 kB
Rss:                2048 kB
Anonymous:          2048 kB
AnonHugePages:      2048 kB
THPeligible:    1
VmFlags: rd wr mr mw me ac
7ffc0000-7ffe1000 rw-p 00000000 00:00 0 [stack]
Size:                132 kB
VmFlags: rd wr mr mw me gd ac`;

it("reads the address CRIU could not find in a dump's parent", () => {
  const message =
    'checkpoint of c failed\n(05.741184) Error (criu/page-xfer.c:299): page-xfer: Missing 3ba54000 in parent pagemap';
  expect(missingParentPage(message)).toBe(0x3ba54000n);
  expect(missingParentPage('Dumping FAILED.')).toBeNull();
});

it('names the mapping that holds an address, with the fields that say how its pages came to be', () => {
  expect(mappingOf(SMAPS, 0x3ba54000n)).toBe(
    '3ba00000-3bc00000 rw-p 00000000 00:00 0; Size:               2048 kB; Rss:                2048 kB; ' +
      'Anonymous:          2048 kB; AnonHugePages:      2048 kB; THPeligible:    1; VmFlags: rd wr mr mw me ac',
  );
  expect(mappingOf(SMAPS, 0x3bc00000n)).toBeNull(); // the end is outside
  expect(mappingOf(SMAPS, 0x400000n)).toMatch(/^00400000-004c3000 r-xp/);
});
