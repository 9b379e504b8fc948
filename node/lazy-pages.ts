import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { lazyPagesArgs } from '../domain/runc-args';
import { criuErrors } from './criu-log';

export class LazyPagesError extends Error {
  override name = 'LazyPagesError';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * CRIU's lazy-pages daemon for one restore from a local image: the restored process runs at once, and the daemon
 * hands it each page on first touch (userfaultfd) while copying all the others in the background, then exits.
 * On this kind of machine a full restore spends most of its time faulting in fresh memory page by page (about
 * 15 µs a page): the daemon moves that out of the downtime. It runs in its own session, so it outlives a restarting
 * node worker; `done` settles when every page is in.
 */
export class LazyPagesDaemon {
  readonly done: Promise<void>;
  private exited = false;

  private constructor(
    private readonly pid: number,
    exit: Promise<number | null>,
    readonly logFile: string,
  ) {
    this.done = exit.then(async (code) => {
      this.exited = true;
      if (code !== 0)
        throw new LazyPagesError(
          `CRIU's lazy-pages daemon exited ${code} before the restored memory was complete: ${(await criuErrors(logFile)) || `see ${logFile}`}`,
        );
    });
    this.done.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  }

  /** Starts the daemon and waits until it listens on the work directory's socket. */
  static async start(criu: string, imagePath: string, workPath: string): Promise<LazyPagesDaemon> {
    const logFile = path.join(workPath, 'lazy-pages.log');
    const child = spawn(criu, lazyPagesArgs({ imagePath, workPath, logFile }), {
      cwd: workPath,
      detached: true,
      stdio: 'ignore',
    });
    const exit = new Promise<number | null>((resolve) => {
      child.on('exit', (code) => resolve(code));
      child.on('error', () => resolve(-1));
    });
    child.unref();
    const daemon = new LazyPagesDaemon(child.pid ?? -1, exit, logFile);
    const socket = path.join(workPath, 'lazy-pages.socket');
    for (let waited = 0; !existsSync(socket); waited += 10) {
      if (daemon.exited || waited > 10_000) {
        daemon.kill();
        await daemon.done.catch(() => undefined);
        throw new LazyPagesError(
          `CRIU's lazy-pages daemon did not start: ${(await criuErrors(logFile)) || `see ${logFile}`}`,
        );
      }
      await sleep(10);
    }
    return daemon;
  }

  kill(): void {
    if (!this.exited && this.pid > 0) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}
