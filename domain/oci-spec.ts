/**
 * config.json of a bundle: the runtime's own default spec (from `runc spec` on the node that runs it, so each
 * PC's runc gets a spec it understands) with the container's process and settings applied. Pure.
 */

export interface OciSpec {
  ociVersion: string;
  process: { terminal?: boolean; args: string[]; env: string[]; cwd: string; [k: string]: unknown };
  root: { path: string; readonly?: boolean };
  hostname?: string;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

export interface SpecOptions {
  args: string[];
  env: string[];
  hostname: string;
  /** The container's CRIU config file, which runc passes to CRIU (tracking, restore action script, skipped mounts). */
  criuConfig?: string;
  /**
   * A network namespace the node made for the container (/run/netns/...): runc joins it instead of creating one, so
   * CRIU treats it as external and the node keeps it up (loopback and addresses) across checkpoint and restore.
   */
  netnsPath?: string;
  /** The container's limits from its registration: memory (its memoryMiB), CPUs (a CFS quota), processes. */
  limits?: { memoryMiB: number; cpus: number; pids: number };
  /** The user the program runs as (absent: the default spec's, root). */
  user?: { uid: number; gid: number };
  /** The program's working directory (absent: the default spec's, /). */
  cwd?: string;
  /**
   * The container's cgroup, per PC (absent: runc's default, /<id>). Simulated PCs share one kernel: a copy frozen by
   * one PC's fence would freeze a copy restored on another in the same cgroup ("cgroup unexpectedly frozen").
   */
  cgroupsPath?: string;
}

/** CFS period: the quota is cpus x this, per this. */
const CPU_PERIOD_US = 100_000;

/** The cgroup limits of a container (runc applies them on create and on restore). */
export function resourcesFor(
  base: Record<string, unknown> | undefined,
  { memoryMiB, cpus, pids }: NonNullable<SpecOptions['limits']>,
): Record<string, unknown> {
  return {
    ...(base ?? {}), // runc's default device rules stay
    memory: { limit: memoryMiB * 2 ** 20 },
    cpu: { quota: Math.max(1000, Math.round(cpus * CPU_PERIOD_US)), period: CPU_PERIOD_US },
    pids: { limit: pids },
  };
}

export function patchSpec(base: OciSpec, o: SpecOptions): OciSpec {
  if (!o.args.length) throw new Error('a container needs a command (args)');
  const names = new Set(o.env.map((e) => e.split('=')[0]));
  const spec: OciSpec = {
    ...base,
    // No terminal: a container's stdio must be /dev/null for CRIU to dump it (a host file or pipe cannot be).
    process: {
      ...base.process,
      terminal: false,
      args: [...o.args],
      env: [...base.process.env.filter((e) => !names.has(e.split('=')[0])), ...o.env],
      ...(o.user ? { user: { uid: o.user.uid, gid: o.user.gid } } : {}),
      ...(o.cwd ? { cwd: o.cwd } : {}),
      // A setuid file in a rootfs gives nothing (whatever the PC's runc defaults to): the carried mode stays inert.
      noNewPrivileges: true,
    },
    // The rootfs is written by the container and carried by migrations, so it is writable.
    root: { path: 'rootfs', readonly: false },
    hostname: o.hostname,
  };
  if (o.netnsPath) {
    const linux = (base.linux ?? {}) as { namespaces?: { type: string; path?: string }[] };
    const namespaces = (linux.namespaces ?? []).filter((n) => n.type !== 'network');
    spec.linux = { ...linux, namespaces: [...namespaces, { type: 'network', path: o.netnsPath }] };
  }
  if (o.limits) {
    const linux = (spec.linux ?? base.linux ?? {}) as { resources?: Record<string, unknown> };
    spec.linux = { ...linux, resources: resourcesFor(linux.resources, o.limits) };
  }
  if (o.cgroupsPath) spec.linux = { ...(spec.linux ?? base.linux ?? {}), cgroupsPath: o.cgroupsPath };
  // The container's mounts private, not slaves of the PC's: on a PC booted with systemd every mount is shared, and a
  // dump there records that peer group, which CRIU cannot recreate on a PC without it (pc-install.test.ts: a move
  // from an installed PC to a host PC failed in mnt-v2 "Failed to copy sharing ... Invalid argument").
  spec.linux = { ...(spec.linux ?? base.linux ?? {}), rootfsPropagation: 'rprivate' };
  const annotations = { ...(base.annotations ?? {}) };
  if (o.criuConfig) annotations['org.criu.config'] = o.criuConfig;
  else delete annotations['org.criu.config'];
  if (Object.keys(annotations).length) spec.annotations = annotations;
  else delete spec.annotations;
  return spec;
}

/**
 * The /proc and /sys paths runc hides or makes read-only in a container (its spec's maskedPaths and readonlyPaths):
 * each becomes a mount inside the container where the PC's kernel has the file. CRIU restores those mounts and
 * fails where the target's kernel lacks the file (e.g. /proc/sysrq-trigger without CONFIG_MAGIC_SYSRQ).
 */
export function protectedKernelPaths(spec: OciSpec): string[] {
  const linux = (spec.linux ?? {}) as { maskedPaths?: string[]; readonlyPaths?: string[] };
  return [...(linux.maskedPaths ?? []), ...(linux.readonlyPaths ?? [])];
}

/**
 * Mounts a dump must leave out so that the target can restore it: paths of the spec that exist here (runc mounted
 * over them) but not on the target. The container is then protected by the target's kernel lacking the file.
 */
export function mountsTargetLacks(spec: OciSpec, absentHere: string[], absentOnTarget: string[]): string[] {
  return protectedKernelPaths(spec).filter((p) => !absentHere.includes(p) && absentOnTarget.includes(p));
}

/** A CRIU config file: this PC's own lines, then one skip-mnt per mount the dump leaves out. */
export function criuConfigText(nodeLines: string, skipMounts: string[] = []): string {
  for (const p of skipMounts)
    if (!/^\/[\w./-]+$/.test(p) || p.includes('..')) throw new Error(`not a kernel path to skip: ${JSON.stringify(p)}`);
  return nodeLines + skipMounts.map((p) => `skip-mnt ${p}\n`).join('');
}
