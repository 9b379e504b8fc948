import {
  checkpointArgs,
  containerBroughtUp,
  chooseStrategy,
  CLEAR_SOFT_DIRTY_SCRIPT,
  criuNodeConfig,
  needsMerge,
  preDumpArgs,
  restoreArgs,
  runArgs,
  LAZY_RESTORE_MIN_BYTES,
  lazyPagesArgs,
  restoresLazily,
} from '../../domain/runc-args';
import { patchSpec, OciSpec } from '../../domain/oci-spec';

const g = { root: '/n/runc', criu: '/c/criu', log: '/n/runc.log' };
const G = ['--root', '/n/runc', '--criu', '/c/criu', '--log', '/n/runc.log', '--log-format', 'json'];

describe('runc checkpoint/restore arguments', () => {
  it('content strategy: one full dump', () => {
    expect(
      checkpointArgs(g, 'content', { containerId: 'c1', imagePath: '/i', workPath: '/w', leaveRunning: false }),
    ).toEqual([...G, 'checkpoint', '--tcp-established', '--image-path', '/i', '--work-path', '/w', 'c1']);
  });

  it('kernel strategy: pre-dump, then a dump on the pre-dump as parent (runc adds track-mem for both)', () => {
    expect(preDumpArgs(g, { containerId: 'c1', imagePath: '/g/pre', workPath: '/w' })).toEqual([
      ...G,
      'checkpoint',
      '--pre-dump',
      '--image-path',
      '/g/pre',
      '--work-path',
      '/w',
      'c1',
    ]);
    expect(
      checkpointArgs(g, 'kernel', {
        containerId: 'c1',
        imagePath: '/g/image',
        workPath: '/w',
        leaveRunning: true,
        parentPath: '../pre',
      }),
    ).toEqual([
      ...G,
      'checkpoint',
      '--tcp-established',
      '--image-path',
      '/g/image',
      '--work-path',
      '/w',
      '--parent-path',
      '../pre',
      '--leave-running',
      'c1',
    ]);
    // Without a parent: a full dump (tracked through the PC's CRIU config), a pre-dump too.
    expect(
      checkpointArgs(g, 'kernel', { containerId: 'c1', imagePath: '/i', workPath: '/w', leaveRunning: false }),
    ).not.toContain('--parent-path');
    expect(
      preDumpArgs(g, { containerId: 'c1', imagePath: '/g/2/image', workPath: '/w', parentPath: '../../1/image' }),
    ).toEqual([
      ...G,
      'checkpoint',
      '--pre-dump',
      '--image-path',
      '/g/2/image',
      '--work-path',
      '/w',
      '--parent-path',
      '../../1/image',
      'c1',
    ]);
  });

  it('joins a network namespace the node made instead of creating one', () => {
    const base = {
      ociVersion: '1',
      process: { args: ['sh'], env: [], cwd: '/' },
      root: { path: 'rootfs' },
      linux: { namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'mount' }] },
    };
    const spec = patchSpec(base, { args: ['x'], env: [], hostname: 'h', netnsPath: '/run/netns/zc-pc1-c1' });
    expect((spec.linux as { namespaces: unknown[] }).namespaces).toEqual([
      { type: 'pid' },
      { type: 'mount' },
      { type: 'network', path: '/run/netns/zc-pc1-c1' },
    ]);
    expect(patchSpec(base, { args: ['x'], env: [], hostname: 'h' }).linux).toEqual({
      ...base.linux,
      rootfsPropagation: 'rprivate',
    });
  });

  it('restores detached from an image into a bundle', () => {
    expect(restoreArgs(g, { containerId: 'c1', imagePath: '/i', workPath: '/w', bundle: '/b' })).toEqual([
      ...G,
      'restore',
      '--detach',
      '--tcp-established',
      '--image-path',
      '/i',
      '--work-path',
      '/w',
      '--bundle',
      '/b',
      'c1',
    ]);
    // Lazy: the same, and CRIU waits for the lazy-pages daemon serving the same image on the same work directory.
    expect(
      restoreArgs(g, { containerId: 'c1', imagePath: '/i', workPath: '/w', bundle: '/b', lazyPages: true }),
    ).toContain('--lazy-pages');
    expect(lazyPagesArgs({ imagePath: '/i', workPath: '/w', logFile: '/w/lazy.log' })).toEqual([
      'lazy-pages',
      '--images-dir',
      '/i',
      '--work-dir',
      '/w',
      '--log-file',
      '/w/lazy.log',
      '-v2',
    ]);
  });

  it('restores lazily only when enabled and the image holds enough memory for it to pay', () => {
    expect(restoresLazily(true, 1 << 30)).toBe(true);
    expect(restoresLazily(true, LAZY_RESTORE_MIN_BYTES)).toBe(true);
    expect(restoresLazily(true, 64 << 20)).toBe(false);
    expect(restoresLazily(false, 1 << 30)).toBe(false);
  });

  it('restarts dirty tracking after restore through a CRIU action script at pre-resume', () => {
    expect(criuNodeConfig({ actionScript: '/s/clear.sh' })).toBe(
      'track-mem\naction-script /s/clear.sh\nmanage-cgroups=ignore\n',
    );
    expect(CLEAR_SOFT_DIRTY_SCRIPT).toMatch(/pre-resume/);
    expect(CLEAR_SOFT_DIRTY_SCRIPT).toMatch(/echo 4 > \/proc\/"\$1"\/clear_refs/);
  });

  it("leaves cgroups to runc on every PC: restored tasks stay in this PC's cgroup, whatever the source's path", () => {
    expect(criuNodeConfig()).toBe('manage-cgroups=ignore\n');
  });

  it('chooses the kernel strategy only where CRIU confirms dirty tracking', () => {
    expect(chooseStrategy(false)).toBe('content');
    expect(chooseStrategy(true)).toBe('kernel');
    expect(chooseStrategy(true, 'content')).toBe('content');
    expect(() => chooseStrategy(false, 'kernel')).toThrow(/lacks soft-dirty tracking/);
    expect([needsMerge(3, 3), needsMerge(4, 3)]).toEqual([false, true]);
  });

  it("recognises the restores and starts of this PC's runc root (an earlier worker's, left running)", () => {
    const restore = restoreArgs(g, { containerId: 'c1', imagePath: '/i', workPath: '/w', bundle: '/b' });
    expect(containerBroughtUp(['runc', ...restore], g.root)).toBe('c1');
    expect(containerBroughtUp(['/var/cache/zanshin/bin/zanshin-nothp', 'runc', ...restore], g.root)).toBe('c1');
    expect(containerBroughtUp(['/usr/sbin/runc', ...runArgs(g, { containerId: 'c2', bundle: '/b' })], g.root)).toBe(
      'c2',
    );
    // Another PC's root, a dump, a state query, or not runc at all: none of ours.
    expect(containerBroughtUp(['runc', ...restore], '/other/runc')).toBeNull();
    const dump = checkpointArgs(g, 'content', {
      containerId: 'c1',
      imagePath: '/i',
      workPath: '/w',
      leaveRunning: false,
    });
    expect(containerBroughtUp(['runc', ...dump], g.root)).toBeNull();
    expect(containerBroughtUp(['runc', '--root', g.root, 'state', 'c1'], g.root)).toBeNull();
    expect(containerBroughtUp(['criu', 'swrk', '3'], g.root)).toBeNull();
  });
});

describe('OCI spec', () => {
  const base: OciSpec = {
    ociVersion: '1.0.2-dev',
    process: { terminal: true, args: ['sh'], env: ['PATH=/bin', 'TERM=xterm'], cwd: '/' },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    annotations: { 'org.criu.config': '/old' },
  };

  it("applies the container's command without a terminal, on a writable rootfs", () => {
    const spec = patchSpec(base, { args: ['/bin/counter'], env: ['MIB=64', 'PATH=/usr/bin'], hostname: 'c1' });
    expect(spec.process).toMatchObject({
      terminal: false,
      args: ['/bin/counter'],
      env: ['TERM=xterm', 'MIB=64', 'PATH=/usr/bin'],
    });
    expect(spec.root).toEqual({ path: 'rootfs', readonly: false });
    expect(spec.hostname).toBe('c1');
    expect(spec.annotations).toBeUndefined();
    expect(base.process.args).toEqual(['sh']);
  });

  it('points runc at a CRIU config for the kernel strategy', () => {
    expect(patchSpec(base, { args: ['x'], env: [], hostname: 'h', criuConfig: '/n/criu.conf' }).annotations).toEqual({
      'org.criu.config': '/n/criu.conf',
    });
    expect(() => patchSpec(base, { args: [], env: [], hostname: 'h' })).toThrow(/needs a command/);
  });
});
