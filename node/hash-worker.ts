// Worker thread of the hash pool: reads a range of a file into its own reused buffer and answers with the raw
// sha256 of each chunk, concatenated in order. Reusing the buffer matters: on some VMs every first touch of a
// fresh page costs ~15 µs, which made hashing into new buffers several times slower than the hashing itself.
import { closeSync, openSync, readSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { chunkDigest } from '../domain/digest-index';

interface Job {
  id: number;
  file: string;
  offset: number;
  length: number;
  chunkSize: number;
}

// Hashing yields to CRIU: while a dump runs, pages are hashed as they appear, and the dump is the downtime.
// (On Linux, setpriority(PRIO_PROCESS, 0) changes only the calling thread.)
try {
  setPriority(10);
} catch {
  /* not permitted: hash at normal priority */
}

let buffer = Buffer.allocUnsafe(0);

parentPort!.on('message', ({ id, file, offset, length, chunkSize }: Job) => {
  try {
    if (buffer.length < length) buffer = Buffer.allocUnsafe(length);
    const fd = openSync(file, 'r');
    let got = 0;
    try {
      while (got < length) {
        const n = readSync(fd, buffer, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
    } finally {
      closeSync(fd);
    }
    if (got !== length) throw new Error(`${file} shrank while being read (changed during a scan?)`);
    const count = Math.ceil(length / chunkSize);
    const digests = Buffer.allocUnsafe(count * 32);
    for (let i = 0; i < count; i++) {
      const at = i * chunkSize;
      chunkDigest(buffer.subarray(at, Math.min(at + chunkSize, length))).copy(digests, i * 32);
    }
    parentPort!.postMessage({ id, digests }, [digests.buffer]);
  } catch (err) {
    parentPort!.postMessage({ id, error: (err as Error).message });
  }
});
