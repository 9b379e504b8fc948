// Benchmark: what encrypting remnants at rest would cost (issue 13), measured instead of guessed. A checkpoint
// image of BENCH_MIB (default 1024) MiB, written to and read back from this machine's disk in clear, then the same
// with AES-256-GCM per 1 MiB record (Node's OpenSSL, AES-NI where the CPU has it; the cipher a store would use).
// The decryption would sit inside a move's downtime (CRIU reads images at restore); the encryption after a dump.
// Run: npm run bench:at-rest
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const RECORD = 1 << 20;

async function main(): Promise<void> {
  const mib = Number(process.env.BENCH_MIB ?? 1024);
  if (!Number.isInteger(mib) || mib < 1)
    throw new Error(`BENCH_MIB must be a positive integer, not ${process.env.BENCH_MIB}`);
  const key = randomBytes(32);
  const record = randomBytes(RECORD);
  const dir = mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'zanshin-at-rest-'));
  const seconds = async (fn: () => Promise<void>): Promise<number> => {
    const t0 = process.hrtime.bigint();
    await fn();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const write = (file: string, encrypt: boolean) =>
    seconds(async () => {
      const fh = await open(file, 'w');
      try {
        for (let i = 0; i < mib; i++) {
          if (!encrypt) {
            await fh.write(record);
            continue;
          }
          const iv = randomBytes(12);
          const c = createCipheriv('aes-256-gcm', key, iv);
          const body = Buffer.concat([c.update(record), c.final()]);
          await fh.write(Buffer.concat([iv, c.getAuthTag(), body]));
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
  const read = (file: string, decrypt: boolean) =>
    seconds(async () => {
      const fh = await open(file, 'r');
      const size = decrypt ? 28 + RECORD : RECORD;
      const buf = Buffer.alloc(size);
      try {
        for (let i = 0; i < mib; i++) {
          await fh.read(buf, 0, size, i * size);
          if (!decrypt) continue;
          const d = createDecipheriv('aes-256-gcm', key, buf.subarray(0, 12));
          d.setAuthTag(buf.subarray(12, 28));
          d.update(buf.subarray(28));
          d.final();
        }
      } finally {
        await fh.close();
      }
    });
  try {
    const clear = path.join(dir, 'clear.img');
    const sealed = path.join(dir, 'sealed.img');
    // Alternated, three times each, best of each kept: the disk and the page cache warm up over the first runs.
    const best = { w: Infinity, we: Infinity, r: Infinity, re: Infinity };
    for (let i = 0; i < 3; i++) {
      best.w = Math.min(best.w, await write(clear, false));
      best.we = Math.min(best.we, await write(sealed, true));
      best.r = Math.min(best.r, await read(clear, false));
      best.re = Math.min(best.re, await read(sealed, true));
    }
    const { w, we, r, re } = best;
    const row = (what: string, plain: number, enc: number) =>
      console.log(
        `${what.padEnd(34)} clear ${plain.toFixed(2)} s  encrypted ${enc.toFixed(2)} s  (+${(enc - plain).toFixed(2)} s, ${(enc / plain).toFixed(2)}x)`,
      );
    console.log(
      `remnant image of ${mib} MiB on ${dir} (page cache warm for reads; best of 3), AES-256-GCM per 1 MiB record:`,
    );
    row('write after a dump (+ fsync)', w, we);
    row('read at a restore (in the downtime)', r, re);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
