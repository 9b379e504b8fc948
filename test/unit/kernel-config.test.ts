// Whether a kernel is built with soft-dirty tracking, and which of CRIU's log lines explain a failed check (issue 27).
import { softDirtyInConfig, trackingCheckLines } from '../../domain/kernel-config';

it("reads CONFIG_MEM_SOFT_DIRTY from a kernel's configuration", () => {
  expect(softDirtyInConfig('CONFIG_X=y\nCONFIG_MEM_SOFT_DIRTY=y\n')).toBe(true);
  expect(softDirtyInConfig('# CONFIG_MEM_SOFT_DIRTY is not set\n')).toBe(false);
  expect(softDirtyInConfig('CONFIG_X=y\n')).toBeNull();
  expect(softDirtyInConfig('CONFIG_MEM_SOFT_DIRTY_FOO=y\n')).toBeNull();
});

it("keeps the lines of CRIU's log that bear on dirty tracking", () => {
  const log = [
    '(00.000001) Version: 4.2.1',
    '(00.000100) Loaded kdat cache from /run/criu.kdat',
    '(00.000200) Found mmap_min_addr 0x10000',
    '(00.000300) Dirty tracking support is OFF',
    '(00.000400) Warn  (criu/cr-check.c:1): Dirty tracking is OFF. Memory snapshot will not work.',
  ].join('\n');
  expect(trackingCheckLines(log)).toEqual([
    '(00.000100) Loaded kdat cache from /run/criu.kdat',
    '(00.000300) Dirty tracking support is OFF',
    '(00.000400) Warn  (criu/cr-check.c:1): Dirty tracking is OFF. Memory snapshot will not work.',
  ]);
});
