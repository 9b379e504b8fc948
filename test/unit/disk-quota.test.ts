// A container's rootfs on other PCs' disks: sparse files stay sparse, and a rootfs over its quota is refused before
// anything is sent.
import {
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  ftruncateSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
  readSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { checkDiskQuota, diskBytesOf, DiskQuotaError } from '../../domain/manifest';
import { ChunkReader } from '../../node/chunk-reader';
import { applyBundle } from '../../node/materialize';
import { scanDirectory } from '../../node/scan';

let tmp = '';
beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-quota-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** A sparse file of `size` bytes with `data` written at `at` (as `truncate -s` then a write). */
function sparseFile(file: string, size: number, data: Buffer, at: number): void {
  const fd = openSync(file, 'w');
  ftruncateSync(fd, size);
  writeSync(fd, data, 0, data.length, at);
  closeSync(fd);
}

describe('sparse files', () => {
  it('stay sparse on the PC they are synced to, and read back the same', async () => {
    const src = path.join(tmp, 'src');
    mkdirSync(src);
    const data = randomBytes(4096);
    // 2 GiB with 4 KiB of data in the middle and an odd-sized tail (the last chunk is shorter).
    sparseFile(path.join(src, 'big'), 2 * GiB + 123, data, GiB);
    const { manifest, locations } = await scanDirectory(src, 'bundle', 'c1');
    expect(diskBytesOf(manifest)).toBe(MiB); // the one 1-MiB chunk holding data
    const dst = path.join(tmp, 'dst');
    const reader = ChunkReader.fromLocations(locations);
    await applyBundle(manifest, dst, null, reader, path.join(tmp, 'incoming'));
    await reader.close();
    const st = statSync(path.join(dst, 'big'));
    expect(st.size).toBe(2 * GiB + 123);
    expect(st.blocks * 512).toBeLessThanOrEqual(MiB);
    const fd = openSync(path.join(dst, 'big'), 'r');
    const back = Buffer.alloc(4096);
    readSync(fd, back, 0, 4096, GiB);
    closeSync(fd);
    expect(back.equals(data)).toBe(true);
  });

  it('keeps a file of real zeros equal (holes read as zeros)', async () => {
    const src = path.join(tmp, 'src');
    mkdirSync(src);
    const content = Buffer.concat([Buffer.alloc(3 * MiB), Buffer.from('end')]);
    writeFileSync(path.join(src, 'zeros'), content);
    const { manifest, locations } = await scanDirectory(src, 'bundle', 'c1');
    const reader = ChunkReader.fromLocations(locations);
    await applyBundle(manifest, path.join(tmp, 'dst'), null, reader, path.join(tmp, 'incoming'));
    await reader.close();
    expect(readFileSync(path.join(tmp, 'dst', 'zeros')).equals(content)).toBe(true);
  });
});

describe('disk quota', () => {
  it('refuses a rootfs over its quota, naming the container, its size and the quota', async () => {
    const src = path.join(tmp, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'fill'), randomBytes(5 * MiB));
    const { manifest } = await scanDirectory(src, 'bundle', 'student1', undefined, { withLocations: false });
    expect(() => checkDiskQuota(manifest, 4)).toThrow(DiskQuotaError);
    expect(() => checkDiskQuota(manifest, 4)).toThrow(
      /container student1's rootfs holds 5\.0 MiB, over its disk quota of 4 MiB/,
    );
    expect(() => checkDiskQuota(manifest, 5)).not.toThrow();
  });

  it('counts holes as free: a 2 GiB sparse file fits a 16 MiB quota', async () => {
    const src = path.join(tmp, 'src');
    mkdirSync(src);
    sparseFile(path.join(src, 'big'), 2 * GiB, Buffer.from('x'), 0);
    const { manifest } = await scanDirectory(src, 'bundle', 'c1', undefined, { withLocations: false });
    expect(() => checkDiskQuota(manifest, 16)).not.toThrow();
  });
});
