// An observer outside Zanshin: every 200 ms it asks runc on every PC which copies of the watched containers run.
// More than one running copy of a container at any instant is a violation (paused copies, frozen by a fence, are
// not running).
import type { LiveCluster } from './live-cluster';

export interface TwinViolation {
  containerId: string;
  at: string;
  running: string[];
}

export class TwinWatch {
  readonly violations: TwinViolation[] = [];
  /** How many times it looked. */
  looks = 0;
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly cluster: LiveCluster,
    private readonly containers: string[],
    private readonly everyMs = 200,
  ) {}

  start(): this {
    this.loop = (async () => {
      while (!this.stopped) {
        for (const id of this.containers) {
          const statuses = await this.cluster.statusOn(id);
          const running = Object.entries(statuses)
            .filter(([, s]) => s === 'running')
            .map(([node]) => node);
          if (running.length > 1) this.violations.push({ containerId: id, at: new Date().toISOString(), running });
        }
        this.looks++;
        await new Promise((r) => setTimeout(r, this.everyMs));
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}
