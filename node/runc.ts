import execa from 'execa';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HELPERS_DIR } from '../common/config';
import { checkpointArgs, DirtyStrategy, preDumpArgs, restoreArgs, RuncGlobal, runArgs } from '../domain/runc-args';
import { OciSpec, patchSpec, SpecOptions } from '../domain/oci-spec';
import type { ContainerState } from '../domain/reports';
import { criuErrors, keepFailedLog } from './criu-log';
import { LazyPagesDaemon } from './lazy-pages';

export class RuncError extends Error {
  override name = 'RuncError';
}

/** The last error runc wrote to its JSON log. */
async function runcLogError(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const lines = text
    .trim()
    .split('\n')
    .filter(Boolean)
    .slice(-5)
    .map((l) => {
      try {
        const j = JSON.parse(l) as { level?: string; msg?: string };
        return j.level === 'error' ? (j.msg ?? '') : '';
      } catch {
        return l;
      }
    })
    .filter(Boolean);
  return lines.join('; ');
}

/** Runs a command with transparent huge pages off (infra/images/zanshin-nothp.c says why restores need it). */
export const DEFAULT_NO_THP_BINARY = path.join(HELPERS_DIR, 'zanshin-nothp');

/** runc for one node: its own state root and log, and the CRIU it must use. */
export class Runc {
  readonly global: RuncGlobal;
  private warnedNoThp = false;

  constructor(
    root: string,
    criu: string,
    private readonly noThpBinary = DEFAULT_NO_THP_BINARY,
  ) {
    this.global = { root, criu, log: path.join(root, 'runc.log') };
  }

  /**
   * runc restore with transparent huge pages off while CRIU writes the pages back: else, where THP is "always", pages
   * the image never held become resident and the next differential dump fails (see zanshin-nothp.c).
   */
  private async restoreCommand(args: string[]): Promise<[string, string[]]> {
    if (await stat(this.noThpBinary).catch(() => null)) return [this.noThpBinary, ['runc', ...args]];
    if (!this.warnedNoThp) {
      this.warnedNoThp = true;
      console.error(
        `${this.noThpBinary} is missing (run infra/provision.sh): restores run with transparent huge pages as the ` +
          'kernel has them, and on a PC whose THP is "always" a differential dump after a restore may fail',
      );
    }
    return ['runc', args];
  }

  /**
   * Runs runc with stdio on /dev/null: a container started or restored by it inherits those fds, and CRIU can
   * only dump a container whose stdio is not a host file or pipe.
   */
  private async exec(args: string[], what: string, criuLog?: string, command?: [string, string[]]): Promise<void> {
    await mkdir(this.global.root, { recursive: true });
    const [file, argv] = command ?? ['runc', args];
    const result = await execa(file, argv, { stdio: 'ignore', reject: false });
    if (result.exitCode !== 0) {
      const runcSays = await runcLogError(this.global.log);
      const criuSays = criuLog ? await criuErrors(criuLog) : '';
      // The log's directory goes with the failed generation: a copy stays beside runc's log for whoever looks later.
      const kept = criuLog
        ? await keepFailedLog(criuLog, path.join(path.dirname(this.global.root), 'failed-criu-logs'))
        : null;
      throw new RuncError(
        `${what} failed: ${runcSays || `runc exited ${result.exitCode}`}` +
          (criuSays ? `\nCRIU log (${kept ?? criuLog}):\n${criuSays}` : ''),
      );
    }
  }

  async state(containerId: string): Promise<ContainerState> {
    // runc keeps a container's state in <root>/<id>: without it, runc itself would answer "does not exist". Asking
    // it costs a process start, and restores ask this in the downtime.
    if (!(await stat(path.join(this.global.root, containerId)).catch(() => null)))
      return { containerId, status: 'absent', pid: 0 };
    const result = await execa('runc', ['--root', this.global.root, 'state', containerId], { reject: false });
    if (result.exitCode !== 0) return { containerId, status: 'absent', pid: 0 };
    const s = JSON.parse(result.stdout) as { status: ContainerState['status']; pid: number };
    return { containerId, status: s.status, pid: s.pid };
  }

  /**
   * The state of a container that runc has just restored or started, without a process start (restores need it in
   * the downtime; `runc state` costs tens of ms here, most of a second on an emulated guest PC): runc's own record
   * of its first process, else what `runc state` says.
   */
  async startedState(containerId: string): Promise<ContainerState> {
    try {
      const record = JSON.parse(await readFile(path.join(this.global.root, containerId, 'state.json'), 'utf8')) as {
        init_process_pid?: unknown;
      };
      const pid = record.init_process_pid;
      if (typeof pid === 'number' && pid > 0 && (await stat(`/proc/${pid}`).catch(() => null)))
        return { containerId, status: 'running', pid };
    } catch {
      // no record to read: ask runc
    }
    return this.state(containerId);
  }

  async list(): Promise<ContainerState[]> {
    // runc keeps a directory per container under its root: none, nothing to ask (a PC's load report comes every
    // few seconds, and starting runc costs a guest PC under emulation a good part of a second).
    if (!(await readdir(this.global.root).catch(() => [])).length) return [];
    const result = await execa('runc', ['--root', this.global.root, 'list', '--format', 'json'], { reject: false });
    if (result.exitCode !== 0 || !result.stdout.trim() || result.stdout.trim() === 'null') return [];
    return (JSON.parse(result.stdout) as { id: string; status: ContainerState['status']; pid: number }[]).map((c) => ({
      containerId: c.id,
      status: c.status,
      pid: c.pid,
    }));
  }

  private baseSpecText: Promise<string> | null = null;

  /** runc's default spec, asked once per process: restores write config.json in the downtime. */
  baseSpec(): Promise<OciSpec> {
    this.baseSpecText ??= (async () => {
      const tmp = await mkdtemp(path.join(os.tmpdir(), 'zanshin-spec-'));
      try {
        await execa('runc', ['spec', '--bundle', tmp]);
        return await readFile(path.join(tmp, 'config.json'), 'utf8');
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    })();
    this.baseSpecText.catch(() => (this.baseSpecText = null));
    return this.baseSpecText.then((text) => JSON.parse(text) as OciSpec);
  }

  /** Writes config.json: this runc's default spec with the container's settings. */
  async writeSpec(bundle: string, options: SpecOptions): Promise<void> {
    const spec = patchSpec(await this.baseSpec(), options);
    await writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  }

  async run(containerId: string, bundle: string): Promise<void> {
    await this.exec(runArgs(this.global, { containerId, bundle }), `starting container ${containerId}`);
  }

  /** A dump; with the kernel strategy and `parentPath` (relative to imagePath), a differential one. */
  async checkpoint(
    containerId: string,
    strategy: DirtyStrategy,
    imagePath: string,
    workPath: string,
    leaveRunning: boolean,
    parentPath?: string,
  ): Promise<void> {
    await mkdir(imagePath, { recursive: true });
    await mkdir(workPath, { recursive: true });
    await this.exec(
      checkpointArgs(this.global, strategy, { containerId, imagePath, workPath, leaveRunning, parentPath }),
      `checkpoint of ${containerId}`,
      path.join(workPath, 'dump.log'),
    );
  }

  /** A pre-dump (memory only, the container keeps running); with `parentPath`, only pages dirtied since it. */
  async preDump(containerId: string, imagePath: string, workPath: string, parentPath?: string): Promise<void> {
    await mkdir(imagePath, { recursive: true });
    await mkdir(workPath, { recursive: true });
    await this.exec(
      preDumpArgs(this.global, { containerId, imagePath, workPath, parentPath }),
      `pre-dump of ${containerId}`,
      path.join(workPath, 'dump.log'),
    );
  }

  /**
   * Restores a container. With `lazyPages` it runs before its memory is back (see LazyPagesDaemon): the daemon is
   * returned, and the memory is complete once its `done` settles.
   */
  async restore(
    containerId: string,
    imagePath: string,
    workPath: string,
    bundle: string,
    { lazyPages = false }: { lazyPages?: boolean } = {},
  ): Promise<LazyPagesDaemon | null> {
    await mkdir(workPath, { recursive: true });
    const daemon = lazyPages ? await LazyPagesDaemon.start(this.global.criu, imagePath, workPath) : null;
    try {
      const args = restoreArgs(this.global, { containerId, imagePath, workPath, bundle, lazyPages });
      await this.exec(
        args,
        `restore of ${containerId}`,
        path.join(workPath, 'restore.log'),
        await this.restoreCommand(args),
      );
    } catch (err) {
      daemon?.kill();
      throw err;
    }
    return daemon;
  }

  /** Runs a command in a running container (`runc exec`), capturing its output as it is. */
  async execIn(
    containerId: string,
    args: string[],
    timeoutMs: number,
    maxBuffer: number,
    user?: { uid: number; gid: number },
  ): Promise<{ exitCode: number; stdout: string; stderr: string; timedOut: boolean }> {
    const asUser = user ? ['--user', `${user.uid}:${user.gid}`] : [];
    const r = await execa('runc', ['--root', this.global.root, 'exec', ...asUser, containerId, ...args], {
      reject: false,
      timeout: timeoutMs,
      maxBuffer,
      stripFinalNewline: false,
    });
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut };
  }

  /** Stops and removes a container (no-op when absent). */
  async remove(containerId: string): Promise<void> {
    const state = await this.state(containerId);
    if (state.status === 'absent') return;
    await execa('runc', ['--root', this.global.root, 'delete', '--force', containerId], { reject: false });
    const after = await this.state(containerId);
    if (after.status !== 'absent')
      throw new RuncError(`could not remove container ${containerId} (still ${after.status})`);
  }
}
