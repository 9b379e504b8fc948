// Worker thread of the hash pool: hashes one block's chunks and answers with their hex sha256, in order.
import { hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

interface Job {
  id: number;
  buf: ArrayBuffer;
  length: number;
  chunkSize: number;
}

parentPort!.on('message', ({ id, buf, length, chunkSize }: Job) => {
  const block = Buffer.from(buf, 0, length);
  const hashes: string[] = [];
  for (let at = 0; at < length; at += chunkSize)
    hashes.push(hash('sha256', block.subarray(at, Math.min(at + chunkSize, length)), 'hex'));
  parentPort!.postMessage({ id, hashes });
});
