// Held, not dropped: while a container moves, the packets its peers send to its address wait in the kernel (an
// iptables NFQUEUE rule hands them to zanshin-hold, which keeps them) and pass all at once when the restored program
// runs. Dropped packets are retransmitted on the peer's TCP back-off (0.2, 0.6, 1.4, 3.0, 6.2, 12.6 s...), so a
// client waited up to twice the downtime; held ones are answered at once (infra/experiments/held-traffic: a 4 s cut
// was a 6.6 s wait dropped, 4.0 s held).
import { existsSync } from 'node:fs';
import path from 'node:path';
import execa from 'execa';
import { HELPERS_DIR } from '../common/config';

/** The kernel queue a container's namespace hands held packets to (queues are per namespace). */
export const HOLD_QUEUE = 0;
export const DEFAULT_HOLD_BINARY = path.join(HELPERS_DIR, 'zanshin-hold');

/** How long a holder gets to bind its queue or to let its packets through. */
const ANSWER_MS = 3_000;

/** One running zanshin-hold inside one namespace. */
export class TrafficHolder {
  private lines: string[] = [];
  private waiting: (() => void) | null = null;
  private exited = false;

  private constructor(private readonly child: execa.ExecaChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      this.lines.push(...chunk.split('\n').filter(Boolean));
      this.waiting?.();
    });
    void child.on('exit', () => {
      this.exited = true;
      this.waiting?.();
    });
    // Its end (or a kill) is seen through line(); an exit code here is not an error of ours.
    child.catch(() => undefined);
  }

  /**
   * Starts a holder in the namespace at `netnsPath` and waits until it holds. Throws (naming why) when it cannot:
   * the caller then drops instead, as before.
   */
  static async start(netnsPath: string, binary = DEFAULT_HOLD_BINARY): Promise<TrafficHolder> {
    if (!existsSync(binary)) throw new Error(`${binary} is missing (run infra/provision.sh)`);
    const child = execa('nsenter', [`--net=${netnsPath}`, binary, String(HOLD_QUEUE)], {
      stdin: 'pipe',
      stderr: 'pipe',
      reject: false,
    });
    const holder = new TrafficHolder(child);
    const first = await holder.line();
    if (first !== 'holding') {
      child.kill('SIGKILL');
      const r = await child;
      throw new Error(`zanshin-hold did not start: ${r.stderr?.trim() || `exit ${r.exitCode}`}`);
    }
    return holder;
  }

  /** The next line the holder prints, or null when it ended or took too long. */
  private async line(): Promise<string | null> {
    const deadline = Date.now() + ANSWER_MS;
    while (!this.lines.length) {
      if (this.exited || Date.now() > deadline) return null;
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 50);
      });
      this.waiting = null;
    }
    return this.lines.shift()!;
  }

  /** Lets every held packet through (the program runs again); how many there were, or null if the holder was gone. */
  async release(): Promise<number | null> {
    if (this.exited) return null;
    this.child.kill('SIGUSR1');
    const said = await this.line();
    this.child.kill('SIGKILL'); // done either way; a holder that did not answer must not keep packets
    const m = /^released (\d+)$/.exec(said ?? '');
    return m ? Number(m[1]) : null;
  }

  /** Ends the holder without letting anything through: its packets are dropped (the restore failed). */
  discard(): void {
    this.child.kill('SIGTERM');
  }
}
