import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

/** The compiled worker; absent when running from TypeScript sources (tests), where hashing stays in-thread. */
const WORKER_FILE = path.join(__dirname, 'hash-worker.js');

/**
 * Hashes blocks on every core but one of the main thread's: page hashing sits between the dump and the transfer,
 * in the migration's downtime. Workers are created on first use and never keep the process alive.
 */
export class HashPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, (hashes: string[]) => void>();
  private next = 0;
  private nextId = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_FILE);
      w.on('message', ({ id, hashes }: { id: number; hashes: string[] }) => {
        this.waiting.get(id)?.(hashes);
        this.waiting.delete(id);
        this.idleCheck();
      });
      w.on('error', (err) => {
        for (const [, resolve] of this.waiting) resolve([]);
        this.waiting.clear();
        this.idleCheck();
        console.error(`hash worker failed: ${err.message}`);
      });
      // After the listeners: adding a 'message' listener refs the worker's port again.
      w.unref();
      this.workers.push(w);
    }
  }

  /** Idle workers never keep the process alive; busy ones must, or it could exit with hashes pending. */
  private idleCheck(): void {
    if (this.waiting.size === 0) for (const w of this.workers) w.unref();
  }

  /** Hashes `block` (its own ArrayBuffer, handed over to the worker) in chunks of `chunkSize`. */
  hash(block: Buffer, chunkSize: number): Promise<string[]> {
    const id = this.nextId++;
    const worker = this.workers[this.next++ % this.workers.length]!;
    if (this.waiting.size === 0) for (const w of this.workers) w.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (hashes) => (hashes.length ? resolve(hashes) : reject(new Error('hash worker failed'))));
      worker.postMessage({ id, buf: block.buffer, length: block.length, chunkSize }, [block.buffer as ArrayBuffer]);
    });
  }
}

let pool: HashPool | null | undefined;

/** The process's hash pool, or null where a pool cannot help (one core) or cannot run (no compiled worker). */
export function hashPool(): HashPool | null {
  if (pool === undefined) {
    const size = Math.min(4, os.availableParallelism());
    pool = size >= 2 && existsSync(WORKER_FILE) ? new HashPool(size) : null;
  }
  return pool;
}
