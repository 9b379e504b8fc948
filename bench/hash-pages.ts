// Benchmark: hashing a checkpoint's pages, the step between the dump and knowing what the target lacks.
// Run: npm run bench:hash   (BENCH_MIB, default 256). Prints GB/s of each way, measured in one run.
import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashFileChunks, sha256 } from '../node/scan';

async function main(): Promise<void> {
  const mib = Number(process.env.BENCH_MIB ?? 256);
  const data = randomBytes(mib << 20);
  const pages = data.length / 4096;
  const time = (name: string, fn: () => void): void => {
    const t0 = process.hrtime.bigint();
    fn();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(
      `${name.padEnd(42)} ${(data.length / s / 1e9).toFixed(2)} GB/s  (${(s * 1000).toFixed(0)} ms for ${mib} MiB)`,
    );
  };
  time('createHash().update().digest() per page', () => {
    for (let i = 0; i < pages; i++)
      createHash('sha256')
        .update(data.subarray(i * 4096, (i + 1) * 4096))
        .digest('hex');
  });
  time('crypto.hash() per page (used)', () => {
    for (let i = 0; i < pages; i++) sha256(data.subarray(i * 4096, (i + 1) * 4096));
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-hash-'));
  try {
    const file = path.join(dir, 'pages-1.img');
    writeFileSync(file, data);
    for (let i = 0; i < 3; i++) {
      const t0 = process.hrtime.bigint();
      await hashFileChunks(file, data.length, 4096);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      console.log(
        `${`hashFileChunks (read + hash), run ${i + 1}`.padEnd(42)} ${(data.length / s / 1e9).toFixed(2)} GB/s  (${(s * 1000).toFixed(0)} ms)`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
