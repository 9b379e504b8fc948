// A container's life on one PC outside of moves: created, inspected, stopped, run into, read from, deleted.
import { lstat, open, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import type { ContainerSpec, ContainerState, CreateContainerInput } from '../domain/reports';
import { DEFAULT_DISK_MIB, DEFAULT_LIMITS } from '../domain/reports';
import { cgroupMemoryBytes } from './cgroup-memory';
import { ContainerConfigs, INIT_DIR } from './container-config';
import type { ContainerNet } from './container-net';
import { ExecutorConfig, ExecutorError } from './executor-config';
import { checkRootfsSource, populateRootfs } from './rootfs-source';
import type { ImageCache } from './images';
import { dropsPrivileges, imageDefaults, ImageRefError, parseImageRef, resolveImageUser } from '../domain/oci-image';
import { InvalidInput } from '../domain/node-input';
import type { Runc } from './runc';
import type { RemnantStore } from './store';

/** The most bytes of output `exec` returns per stream. */
const EXEC_OUTPUT_CAP = 1 << 20;

/** How a container's program ended, as zanshin-init recorded it (null: it runs, or nothing was recorded). */
export interface ContainerExit {
  /** "exit 0", "exit 3", "signal 9". */
  status: string;
}

export interface LifecycleDeps {
  store: RemnantStore;
  runc: Runc;
  net: ContainerNet;
  configs: ContainerConfigs;
  images: ImageCache;
}

/**
 * A file of an image's rootfs, read only through real directories (an image's /etc could be a link to the PC's own):
 * null when absent or reached through a link. At most `maxBytes`.
 */
async function readInsideRootfs(rootfs: string, rel: string, maxBytes = 1 << 20): Promise<string | null> {
  let at = rootfs;
  const parts = rel.split('/').filter(Boolean);
  if (!parts.length || parts.includes('..')) return null;
  for (const [i, part] of parts.entries()) {
    at = path.join(at, part);
    const st = await lstat(at).catch(() => null);
    if (!st || st.isSymbolicLink() || (i < parts.length - 1 ? !st.isDirectory() : !st.isFile())) return null;
  }
  const handle = await open(at, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const buf = Buffer.alloc(maxBytes);
    const { bytesRead } = await handle.read(buf, 0, maxBytes, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

export class ContainerLifecycle {
  constructor(
    private readonly config: ExecutorConfig,
    private readonly deps: LifecycleDeps,
  ) {}

  /**
   * What an image makes of a container: its config applied (given args replace its command, given variables its
   * own, a given user its user), refused here when the program would run as, or drop to, a user this PC cannot
   * checkpoint (CRIU needs CAP_SYS_RESOURCE for another user's process).
   */
  private async fromImage(input: CreateContainerInput) {
    let ref;
    try {
      ref = parseImageRef(input.rootfs.image!);
    } catch (err) {
      throw new InvalidInput((err as Error).message);
    }
    if (ref.path) await checkRootfsSource(ref.path, this.config);
    const pulled = await this.deps.images.pull(ref);
    try {
      const d = imageDefaults(pulled.config, { args: input.args, env: input.env });
      const user =
        input.user ??
        resolveImageUser(d.user, {
          passwd: (await readInsideRootfs(pulled.rootfs, 'etc/passwd')) ?? '',
          group: (await readInsideRootfs(pulled.rootfs, 'etc/group')) ?? '',
        });
      this.deps.configs.refuseUserItCannotMove({ containerId: input.containerId, user });
      if (!user && !this.config.capabilities.checkpointsOtherUsers) {
        const script = await readInsideRootfs(pulled.rootfs, d.args[0]!.replace(/^\/+/, ''), 64 * 1024);
        const tool = script?.startsWith('#!') ? dropsPrivileges(script) : null;
        if (tool)
          throw new InvalidInput(
            `${this.config.nodeId} cannot checkpoint container ${input.containerId}: its image's entrypoint ` +
              `${d.args[0]} hands the program to another user (${tool}), and this PC's root lacks CAP_SYS_RESOURCE, ` +
              "which CRIU needs for another user's process. Run it on a PC with full root, or give args that run " +
              'the program directly as root.',
          );
      }
      return {
        rootfs: pulled.rootfs,
        args: d.args,
        env: d.env,
        user,
        cwd: d.cwd,
        ports: d.ports,
        image: { ref: input.rootfs.image!, digest: pulled.digest },
      };
    } catch (err) {
      if (err instanceof ImageRefError) throw new InvalidInput(`image ${input.rootfs.image}: ${err.message}`);
      throw err;
    }
  }

  /** runc's view of the container, and for a running one the memory a checkpoint of it would dump. */
  async state(containerId: string): Promise<ContainerState> {
    const s = await this.deps.runc.state(containerId);
    return s.status === 'running' ? { ...s, memoryBytes: await cgroupMemoryBytes(s.pid) } : s;
  }

  /** Builds a bundle from a rootfs and starts the container. */
  async create(input: CreateContainerInput & { epoch?: number }): Promise<ContainerState> {
    const { store, runc, configs } = this.deps;
    const { containerId } = input;
    const current = await runc.state(containerId);
    if (current.status !== 'absent')
      throw new ExecutorError(`container ${containerId} already exists on ${this.config.nodeId} (${current.status})`);
    if ((await store.readSpec(containerId)) && !(await store.remnant(containerId))) {
      throw new ExecutorError(
        `container ${containerId} already has a bundle on ${this.config.nodeId}; delete it first`,
      );
    }
    configs.refuseUserItCannotMove(input);
    const source = input.rootfs.dir ?? input.rootfs.tarball;
    if (source) await checkRootfsSource(source, this.config);
    // From an image: pulled (unless this PC holds it) and unpacked once; the container starts from a copy.
    const fromImage = input.rootfs.image ? await this.fromImage(input) : null;
    if (!fromImage && !input.args[0])
      throw new InvalidInput('args must name the program to run (an absolute path inside the rootfs)');
    const program = fromImage ?? { args: input.args, env: input.env, user: input.user };
    await rm(store.containerDir(containerId), { recursive: true, force: true });
    const rootfs = store.rootfsDir(containerId);
    await populateRootfs(fromImage ? { dir: fromImage.rootfs } : input.rootfs, rootfs, program.user, this.config);
    const spec: ContainerSpec = {
      containerId,
      args: program.args,
      env: program.env,
      memoryMiB: input.memoryMiB,
      diskMiB: input.diskMiB ?? DEFAULT_DISK_MIB,
      cpus: input.cpus ?? DEFAULT_LIMITS.cpus,
      pids: input.pids ?? DEFAULT_LIMITS.pids,
      ...(input.network ? { network: input.network } : {}),
      ...(program.user ? { user: program.user } : {}),
      ...(fromImage ? { cwd: fromImage.cwd, image: fromImage.image, ports: fromImage.ports } : {}),
    };
    // Name servers for a container with its own address (its resolv.conf is part of its rootfs and moves with it).
    // Never through a link: the rootfs came from outside, and its /etc or resolv.conf could point at the PC's own.
    const etc = await lstat(path.join(rootfs, 'etc')).catch(() => null);
    if (spec.network?.dns?.length && etc?.isDirectory()) {
      const resolv = path.join(rootfs, 'etc', 'resolv.conf');
      await rm(resolv, { force: true });
      await writeFile(resolv, spec.network.dns.map((s) => `nameserver ${s}\n`).join(''), { flag: 'wx' });
    }
    await store.writeSpec(spec);
    // A namespace left by an attempt that timed out (the container itself is absent, checked above) is made anew.
    return this.startProgram(spec, input.epoch);
  }

  /** Writes the container's configs and starts its program in a network namespace made anew, under `epoch`. */
  private async startProgram(spec: ContainerSpec, epoch: number | undefined): Promise<ContainerState> {
    const { store, runc, net, configs } = this.deps;
    const { containerId } = spec;
    if (epoch !== undefined) await store.setEpoch(containerId, epoch);
    await configs.write(spec);
    await net.destroy(containerId);
    await net.create(containerId, spec.network, { held: false });
    try {
      await runc.run(containerId, store.bundleDir(containerId));
    } catch (err) {
      await net.destroy(containerId).catch(() => undefined);
      throw err;
    }
    return runc.state(containerId);
  }

  /**
   * Starts a container's program afresh (its restart policy): a new process on the container's current rootfs, under
   * a new epoch; never old memory over newer files. Refused while it runs.
   */
  async restart(containerId: string, epoch?: number): Promise<ContainerState> {
    const { store, runc } = this.deps;
    const spec = await store.readSpec(containerId);
    if (!spec) throw new ExecutorError(`no bundle of ${containerId} on ${this.config.nodeId}`);
    const before = await runc.state(containerId);
    if (before.status === 'running' || before.status === 'paused')
      throw new ExecutorError(`container ${containerId} is ${before.status} on ${this.config.nodeId}: not restarted`);
    await runc.remove(containerId);
    // How the last run ended is history now (the API keeps it); logs go on in the same files.
    await rm(path.join(store.rootfsDir(containerId), INIT_DIR, 'exit'), { force: true });
    return this.startProgram(spec, epoch);
  }

  /** Stops a container but keeps its bundle and checkpoints (it can be checkpoint-restored or re-created later). */
  async stop(containerId: string): Promise<ContainerState> {
    const { runc, net } = this.deps;
    if ((await runc.state(containerId)).status === 'absent')
      throw new ExecutorError(`no container ${containerId} on ${this.config.nodeId}`);
    await runc.remove(containerId);
    await net.destroy(containerId);
    return runc.state(containerId);
  }

  /** Runs a command in a running container, as its user; its output (at most 1 MiB per stream) and exit code. */
  async exec(
    containerId: string,
    args: string[],
    timeoutMs: number,
  ): Promise<{ exitCode: number; stdout: string; stderr: string; truncated: boolean }> {
    const state = await this.deps.runc.state(containerId);
    if (state.status !== 'running')
      throw new ExecutorError(`container ${containerId} is ${state.status} on ${this.config.nodeId}, not running`);
    // As the container's own user: a command must not do in it what its program cannot.
    const user = (await this.deps.store.readSpec(containerId))?.user;
    const r = await this.deps.runc.execIn(containerId, args, timeoutMs, 4 * EXEC_OUTPUT_CAP, user);
    if (r.timedOut)
      throw new ExecutorError(`\`${args.join(' ')}\` in ${containerId} did not finish within ${timeoutMs / 1000} s`);
    const cap = (t: string): string => (t.length > EXEC_OUTPUT_CAP ? t.slice(-EXEC_OUTPUT_CAP) : t);
    return {
      exitCode: r.exitCode,
      stdout: cap(r.stdout),
      stderr: cap(r.stderr),
      truncated: r.stdout.length > EXEC_OUTPUT_CAP || r.stderr.length > EXEC_OUTPUT_CAP,
    };
  }

  /** The last `tailBytes` of a container's stdout or stderr (they live in its rootfs, so they moved with it). */
  async readLog(
    containerId: string,
    stream: 'stdout' | 'stderr',
    tailBytes: number,
  ): Promise<{ text: string; bytes: number }> {
    const file = path.join(this.deps.store.rootfsDir(containerId), INIT_DIR, `${stream}.log`);
    const handle = await open(file, 'r').catch(() => null);
    if (!handle) {
      if (!(await this.deps.store.readSpec(containerId)))
        throw new ExecutorError(`no container ${containerId} on ${this.config.nodeId}`);
      return { text: '', bytes: 0 };
    }
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, tailBytes);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, size - length);
      return { text: buf.toString('utf8'), bytes: size };
    } finally {
      await handle.close();
    }
  }

  /** How the program of a container that is no longer running ended (zanshin-init's record), if it did. */
  async exitOf(containerId: string): Promise<ContainerExit | null> {
    // The rootfs is the container's: no symlink is followed (`.zanshin` or `exit` could lead to a host file), and
    // only what zanshin-init writes is taken ("exit N" or "signal N").
    const dir = path.join(this.deps.store.rootfsDir(containerId), INIT_DIR);
    if (!(await lstat(dir).catch(() => null))?.isDirectory()) return null;
    const file = await open(path.join(dir, 'exit'), constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => null);
    if (!file) return null;
    try {
      const buf = Buffer.alloc(32);
      const { bytesRead } = await file.read(buf, 0, buf.length, 0);
      const text = buf.subarray(0, bytesRead).toString('utf8').trim();
      return /^(exit|signal) \d{1,3}$/.test(text) ? { status: text } : null;
    } finally {
      await file.close();
    }
  }

  /** Stops and removes a container and everything this node holds of it. */
  async delete(containerId: string): Promise<void> {
    await this.deps.runc.remove(containerId);
    await this.deps.net.destroy(containerId);
    await rm(this.deps.store.containerDir(containerId), { recursive: true, force: true });
    await this.deps.configs.remove(containerId);
  }
}
