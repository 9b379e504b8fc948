/** Runs calls one after another: each starts once every earlier one has settled (resolved or failed). */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  /** Calls queued or running. */
  pending = 0;

  run<T>(fn: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(fn, fn).finally(() => this.pending--);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** One SerialQueue per key (a container): calls with the same key never overlap; others run freely. */
export class KeyedSerialQueues {
  private readonly queues = new Map<string, SerialQueue>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = new SerialQueue()));
    const queue = q;
    return queue.run(fn).finally(() => {
      if (queue.pending === 0 && this.queues.get(key) === queue) this.queues.delete(key);
    });
  }
}
