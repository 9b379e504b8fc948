// The files that tell runc and CRIU how to run a container on this PC: its config.json and its CRIU config (both
// written anew wherever the container lands), and what this PC's kernel lacks of what runc protects.
import { access, chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerSpec } from '../domain/reports';
import { DEFAULT_LIMITS } from '../domain/reports';
import { criuConfigText, protectedKernelPaths } from '../domain/oci-spec';
import { CLEAR_SOFT_DIRTY_SCRIPT, criuNodeConfig } from '../domain/runc-args';
import { userRefusal } from '../domain/container-user';
import { InvalidInput } from '../domain/node-input';
import { ExecutorConfig, tracksDirtyPages } from './executor-config';
import type { ContainerNet } from './container-net';
import type { Runc } from './runc';
import type { RemnantStore } from './store';

/** Where zanshin-init lives in a container, with the program's logs and exit status next to it. */
export const INIT_DIR = '.zanshin';
export const INIT_PATH = `/${INIT_DIR}/init`;

export class ContainerConfigs {
  private nodeCriuLines: Promise<string> | null = null;
  private absentPaths: Promise<string[]> | null = null;

  constructor(
    private readonly config: ExecutorConfig,
    private readonly deps: { store: RemnantStore; runc: Runc; net: ContainerNet },
  ) {}

  /**
   * This PC's own CRIU settings: cgroups left to runc; tracking and the restore action script where it tracks dirty
   * pages (domain/runc-args.ts says why).
   */
  private criuNodeLines(): Promise<string> {
    this.nodeCriuLines ??= (async () => {
      if (!tracksDirtyPages(this.config)) return criuNodeConfig();
      const dir = path.join(this.config.dataDir, 'criu');
      await mkdir(dir, { recursive: true });
      const script = path.join(dir, 'restart-tracking.sh');
      await writeFile(script, CLEAR_SOFT_DIRTY_SCRIPT, { mode: 0o755 });
      await chmod(script, 0o755);
      return criuNodeConfig({ actionScript: script });
    })();
    return this.nodeCriuLines;
  }

  /** The container's CRIU config (its config.json names it): rewritten before each dump and restore. */
  criuConfigPath(containerId: string): string {
    return path.join(this.config.dataDir, 'criu', `${containerId}.conf`);
  }

  /** Writes the container's CRIU config; `skipMounts` stay out of the next dump (the target lacks them). */
  async writeCriuConfig(containerId: string, skipMounts: string[] = []): Promise<void> {
    const file = this.criuConfigPath(containerId);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, criuConfigText(await this.criuNodeLines(), skipMounts));
  }

  /** The paths runc would hide or make read-only in a container that this PC's kernel does not have. */
  absentKernelPaths(): Promise<string[]> {
    this.absentPaths ??= (async () => {
      const paths = protectedKernelPaths(await this.deps.runc.baseSpec());
      const here = await Promise.all(
        paths.map((p) =>
          access(p).then(
            () => true,
            () => false,
          ),
        ),
      );
      return paths.filter((_, k) => !here[k]);
    })();
    return this.absentPaths;
  }

  /** This PC's config.json (and CRIU config) for a container, from its spec. */
  async write(spec: ContainerSpec): Promise<void> {
    await this.writeCriuConfig(spec.containerId);
    await this.deps.runc.writeSpec(this.deps.store.bundleDir(spec.containerId), {
      criuConfig: this.criuConfigPath(spec.containerId),
      env: spec.env,
      hostname: spec.containerId,
      netnsPath: this.deps.net.path(spec.containerId),
      cgroupsPath: `/zanshin/${this.config.nodeId}/${spec.containerId}`,
      limits: {
        memoryMiB: spec.memoryMiB,
        cpus: spec.cpus ?? DEFAULT_LIMITS.cpus,
        pids: spec.pids ?? DEFAULT_LIMITS.pids,
      },
      ...(spec.user ? { user: spec.user } : {}),
      ...(spec.cwd ? { cwd: spec.cwd } : {}),
      // zanshin-init runs the program with stdout/stderr into files of the rootfs, which move with it.
      args: [INIT_PATH, '--', ...spec.args],
    });
  }

  /** A container whose program this PC could not checkpoint would be stuck here: refused before it arrives. */
  refuseUserItCannotMove(spec: Pick<ContainerSpec, 'containerId' | 'user'>): void {
    const why = userRefusal(
      spec.containerId,
      spec.user,
      this.config.nodeId,
      this.config.capabilities.checkpointsOtherUsers,
    );
    if (why) throw new InvalidInput(why);
  }

  /** Removes the container's CRIU config (the container is deleted from this PC). */
  async remove(containerId: string): Promise<void> {
    await rm(this.criuConfigPath(containerId), { force: true });
  }
}
