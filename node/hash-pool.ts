import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

/** The compiled worker; absent when running from TypeScript sources (tests), where hashing stays in-thread. */
const WORKER_FILE = path.join(__dirname, 'hash-worker.js');

type Waiter = { resolve: (digests: Buffer) => void; reject: (err: Error) => void };

/**
 * Hashes file ranges on every core: page hashing sits between the dump and the transfer, in the migration's
 * downtime. Each worker reads its range itself (no copy through the main thread) and answers with raw digests.
 * Workers are created on first use and never keep the process alive while idle.
 */
export class HashPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, Waiter>();
  private next = 0;
  private nextId = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      // Hashing makes only short-lived garbage (a digest per chunk): a small young generation is enough.
      const w = new Worker(WORKER_FILE, { resourceLimits: { maxYoungGenerationSizeMb: 2 } });
      w.on('message', ({ id, digests, error }: { id: number; digests?: Uint8Array; error?: string }) => {
        const waiter = this.waiting.get(id);
        this.waiting.delete(id);
        if (digests) waiter?.resolve(Buffer.from(digests.buffer, digests.byteOffset, digests.byteLength));
        else waiter?.reject(new Error(error ?? 'hash worker failed'));
        this.idleCheck();
      });
      w.on('error', (err) => {
        for (const [, waiter] of this.waiting) waiter.reject(new Error(`hash worker failed: ${err.message}`));
        this.waiting.clear();
        this.idleCheck();
      });
      // After the listeners: adding a 'message' listener refs the worker's port again.
      w.unref();
      this.workers.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Idle workers never keep the process alive; busy ones must, or it could exit with hashes pending. */
  private idleCheck(): void {
    if (this.waiting.size === 0) for (const w of this.workers) w.unref();
  }

  /** The raw sha256 (32 bytes each, in order) of each `chunkSize` chunk of `file`'s bytes [offset, offset+length). */
  hashRange(file: string, offset: number, length: number, chunkSize: number): Promise<Buffer> {
    const id = this.nextId++;
    const worker = this.workers[this.next++ % this.workers.length]!;
    if (this.waiting.size === 0) for (const w of this.workers) w.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, file, offset, length, chunkSize });
    });
  }
}

let pool: HashPool | null | undefined;

/** The process's hash pool, or null where it cannot run (no compiled worker: tests from TypeScript sources). */
export function hashPool(): HashPool | null {
  if (pool === undefined) {
    // One worker per core: the main thread only dispatches ranges and collects digests meanwhile.
    const size = Math.min(4, os.availableParallelism());
    pool = existsSync(WORKER_FILE) ? new HashPool(size) : null;
  }
  return pool;
}
