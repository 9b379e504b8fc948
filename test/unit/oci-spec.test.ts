import { criuConfigText, mountsTargetLacks, OciSpec, patchSpec, protectedKernelPaths } from '../../domain/oci-spec';

// runc 1.1's default spec, the parts that matter here.
const spec: OciSpec = {
  ociVersion: '1.0.2',
  process: { args: ['sh'], env: [], cwd: '/' },
  root: { path: 'rootfs' },
  linux: {
    maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/sys/firmware'],
    readonlyPaths: ['/proc/bus', '/proc/sys', '/proc/sysrq-trigger'],
  },
};

describe('mounts over kernel files', () => {
  it('lists the masked and read-only paths of a spec', () => {
    expect(protectedKernelPaths(spec)).toEqual([
      '/proc/acpi',
      '/proc/kcore',
      '/proc/keys',
      '/sys/firmware',
      '/proc/bus',
      '/proc/sys',
      '/proc/sysrq-trigger',
    ]);
    expect(protectedKernelPaths({ ...spec, linux: {} })).toEqual([]);
  });

  it('leaves out of a dump the mounts over files the target lacks and this PC has', () => {
    // A guest (stock kernel: sysrq, kcore) moving to a host built without them, and which lacks /proc/acpi itself.
    expect(mountsTargetLacks(spec, ['/proc/acpi'], ['/proc/sysrq-trigger', '/proc/kcore', '/proc/acpi'])).toEqual([
      '/proc/kcore',
      '/proc/sysrq-trigger',
    ]);
    expect(mountsTargetLacks(spec, [], [])).toEqual([]);
    // Paths outside the spec are never skipped, whatever the target says.
    expect(mountsTargetLacks(spec, [], ['/proc/self', '/'])).toEqual([]);
  });

  it('writes the CRIU config: the PC lines, then one skip-mnt per path, refusing anything but a plain path', () => {
    expect(criuConfigText('track-mem\n', ['/proc/sysrq-trigger'])).toBe('track-mem\nskip-mnt /proc/sysrq-trigger\n');
    expect(criuConfigText('')).toBe('');
    expect(() => criuConfigText('', ['/proc/x\naction-script /tmp/evil'])).toThrow(/not a kernel path/);
    expect(() => criuConfigText('', ['/proc/../etc'])).toThrow(/not a kernel path/);
    expect(() => criuConfigText('', ['proc/x'])).toThrow(/not a kernel path/);
  });
});

describe('limits from the registration', () => {
  it("sets memory, CPU and process limits, keeping runc's device rules", () => {
    const withDevices: OciSpec = {
      ...spec,
      linux: { ...(spec.linux as object), resources: { devices: [{ allow: false, access: 'rwm' }] } },
    };
    const out = patchSpec(withDevices, {
      args: ['/bin/app'],
      env: [],
      hostname: 'c1',
      netnsPath: '/run/netns/zc-c1',
      limits: { memoryMiB: 96, cpus: 0.5, pids: 64 },
    });
    const linux = out.linux as { resources: Record<string, unknown>; namespaces: unknown[] };
    expect(linux.resources).toEqual({
      devices: [{ allow: false, access: 'rwm' }],
      memory: { limit: 96 * 2 ** 20 },
      cpu: { quota: 50_000, period: 100_000 },
      pids: { limit: 64 },
    });
    expect(linux.namespaces).toEqual([{ type: 'network', path: '/run/netns/zc-c1' }]);
    // The base spec is runc's, shared by every container: never changed.
    expect((withDevices.linux as { resources: object }).resources).toEqual({
      devices: [{ allow: false, access: 'rwm' }],
    });
  });

  it("puts the container in a cgroup of its PC's own, beside its limits and namespace", () => {
    const out = patchSpec(spec, {
      args: ['/bin/app'],
      env: [],
      hostname: 'c1',
      netnsPath: '/run/netns/zc-c1',
      limits: { memoryMiB: 96, cpus: 0.5, pids: 64 },
      cgroupsPath: '/zanshin/pc3/c1',
    });
    const linux = out.linux as { cgroupsPath: string; resources: { pids: unknown }; namespaces: unknown[] };
    expect(linux.cgroupsPath).toBe('/zanshin/pc3/c1');
    expect(linux.resources.pids).toEqual({ limit: 64 });
    expect(linux.namespaces).toEqual([{ type: 'network', path: '/run/netns/zc-c1' }]);
  });

  it("makes the container's mounts private: a dump on a systemd PC (all mounts shared) restores on any PC", () => {
    const out = patchSpec(spec, { args: ['/bin/app'], env: [], hostname: 'c1' });
    expect((out.linux as { rootfsPropagation?: string }).rootfsPropagation).toBe('rprivate');
  });
});

describe('the user a program runs as', () => {
  const withRoot: OciSpec = { ...spec, process: { ...spec.process, user: { uid: 0, gid: 0 } } };
  it("runs the program as the registration's user", () => {
    const out = patchSpec(withRoot, { args: ['/bin/app'], env: [], hostname: 'c1', user: { uid: 1000, gid: 100 } });
    expect(out.process.user).toEqual({ uid: 1000, gid: 100 });
    expect(out.process.noNewPrivileges).toBe(true);
    expect(withRoot.process.user).toEqual({ uid: 0, gid: 0 });
  });
  it("keeps the default spec's root when the registration names no user", () => {
    expect(patchSpec(withRoot, { args: ['/bin/app'], env: [], hostname: 'c1' }).process.user).toEqual({
      uid: 0,
      gid: 0,
    });
  });
});
