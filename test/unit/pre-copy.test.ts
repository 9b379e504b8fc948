import {
  anonymousBytes,
  KERNEL_PRE_COPY_FEW_PAGES,
  KERNEL_PRE_COPY_MAX_ROUNDS,
  kernelPreCopyDone,
  memoryCgroup,
  PRE_COPY_MIN_BYTES,
  preCopyPays,
} from '../../domain/pre-copy';

describe('when pre-copy pays', () => {
  it('pre-copies large and unknown containers, not small ones', () => {
    expect(preCopyPays(64 << 20)).toBe(false);
    expect(preCopyPays(PRE_COPY_MIN_BYTES)).toBe(true);
    expect(preCopyPays(1 << 30)).toBe(true);
    expect(preCopyPays(null)).toBe(true);
    expect(preCopyPays(undefined)).toBe(true);
  });

  it("finds a process's memory cgroup under cgroup v1 (hybrid) and v2", () => {
    const hybrid = '9:name=systemd:/\n5:devices:/\n4:memory:/zanshin/c1\n1:cpu:/\n0::/\n';
    expect(memoryCgroup(hybrid)).toEqual({ version: 1, path: '/zanshin/c1' });
    expect(memoryCgroup('4:cpu,memory:/a/b\n')).toEqual({ version: 1, path: '/a/b' });
    expect(memoryCgroup('0::/system.slice/c1\n')).toEqual({ version: 2, path: '/system.slice/c1' });
    expect(memoryCgroup('')).toBeNull();
  });

  it('reads anonymous memory (not page cache) from memory.stat of either version', () => {
    expect(anonymousBytes('cache 100\nrss 5\ntotal_cache 900\ntotal_rss 4096\n')).toBe(4096);
    expect(anonymousBytes('anon 8192\nfile 1000000\n')).toBe(8192);
    expect(anonymousBytes('file 1\n')).toBeNull();
  });
});

describe('kernel pre-copy convergence', () => {
  it('goes on while rounds shrink and still write many pages', () => {
    expect(kernelPreCopyDone([])).toBe(false);
    expect(kernelPreCopyDone([16_000])).toBe(false);
    expect(kernelPreCopyDone([16_000, 2_000])).toBe(false);
  });

  it('stops when a round wrote few pages, did not shrink, or at the maximum', () => {
    expect(kernelPreCopyDone([16_000, KERNEL_PRE_COPY_FEW_PAGES])).toBe(true);
    expect(kernelPreCopyDone([16_000, 3_000, 3_000])).toBe(true);
    expect(kernelPreCopyDone([16_000, 3_000, 4_000])).toBe(true);
    const shrinking = Array.from({ length: KERNEL_PRE_COPY_MAX_ROUNDS }, (_, i) => 100_000 >> i);
    expect(kernelPreCopyDone(shrinking.slice(0, -1))).toBe(false);
    expect(kernelPreCopyDone(shrinking)).toBe(true);
  });
});
