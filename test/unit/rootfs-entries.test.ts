// What a rootfs holds besides plain root-owned files, carried between PCs: owners, FIFOs, sockets, devices.
import execa from 'execa';
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { decodeManifest, encodeManifest } from '../../domain/manifest';
import { ChunkReader } from '../../node/chunk-reader';
import { applyBundle } from '../../node/materialize';
import { scanDirectory } from '../../node/scan';

let tmp = '';
let src = '';
let dst = '';
beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-entries-'));
  src = path.join(tmp, 'src');
  dst = path.join(tmp, 'dst');
  mkdirSync(src);
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

async function syncOnce(): Promise<void> {
  const { manifest, locations } = await scanDirectory(src, 'bundle', 'c1');
  const reader = ChunkReader.fromLocations(locations);
  // Through the wire encoding, as a target receives it.
  await applyBundle(decodeManifest(encodeManifest(manifest)), dst, null, reader, path.join(tmp, 'incoming'));
  await reader.close();
}

describe('rootfs entries', () => {
  it('keeps owners and groups (a program running as its own user keeps its files), setuid bits included', async () => {
    mkdirSync(path.join(src, 'var-lib-redis'));
    writeFileSync(path.join(src, 'var-lib-redis', 'dump.rdb'), 'data');
    writeFileSync(path.join(src, 'tool'), 'x', { mode: 0o4755 });
    chownSync(path.join(src, 'var-lib-redis'), 100, 101);
    chownSync(path.join(src, 'var-lib-redis', 'dump.rdb'), 100, 101);
    chownSync(path.join(src, 'tool'), 0, 50);
    execa.sync('chmod', ['2755', path.join(src, 'tool')]);
    await syncOnce();
    const dir = statSync(path.join(dst, 'var-lib-redis'));
    const file = statSync(path.join(dst, 'var-lib-redis', 'dump.rdb'));
    const tool = statSync(path.join(dst, 'tool'));
    expect([dir.uid, dir.gid, file.uid, file.gid]).toEqual([100, 101, 100, 101]);
    expect([tool.uid, tool.gid, tool.mode & 0o7777]).toEqual([0, 50, 0o2755]);
    // An owner changed on the source, content unchanged: the target follows.
    chownSync(path.join(src, 'var-lib-redis', 'dump.rdb'), 102, 103);
    await syncOnce();
    expect(statSync(path.join(dst, 'var-lib-redis', 'dump.rdb'))).toMatchObject({ uid: 102, gid: 103 });
  });

  it('carries FIFOs as FIFOs, with their mode', async () => {
    await execa('mkfifo', ['-m', '640', path.join(src, 'pipe')]);
    await syncOnce();
    const st = lstatSync(path.join(dst, 'pipe'));
    expect([st.isFIFO(), st.mode & 0o777]).toEqual([true, 0o640]);
  });

  it("leaves a socket file out (CRIU binds the container's listening sockets again)", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path.join(src, 'app.sock'), resolve));
    try {
      const { manifest, skipped } = await scanDirectory(src, 'bundle', 'c1');
      expect(manifest.entries.map((e) => e.path)).not.toContain('app.sock');
      expect(skipped).toEqual(['app.sock']);
    } finally {
      server.close();
    }
  });

  it("refuses a device node in a rootfs, naming it (a copy of the PC's disk device must not travel)", async () => {
    mkdirSync(path.join(src, 'dev'));
    await execa('mknod', [path.join(src, 'dev', 'sda'), 'b', '8', '0']);
    await expect(scanDirectory(src, 'bundle', 'c1')).rejects.toThrow(
      /the rootfs of c1 holds a device node, dev\/sda \(block 8:0\): devices are not carried/,
    );
    await expect(scanDirectory(src, 'bundle', 'c1', undefined, { live: true })).rejects.toThrow(/device node/);
  });

  it('refuses an owner that is not a uid, and a FIFO in a checkpoint image', () => {
    const bad =
      (entries: unknown[], kind = 'bundle') =>
      () =>
        decodeManifest(encodeManifest({ kind, containerId: 'c1', entries } as never));
    expect(bad([{ path: 'a', type: 'dir', mode: 0o755, uid: -1 }])).toThrow(/invalid owner/);
    expect(bad([{ path: 'a', type: 'fifo', mode: 0o644 }], 'checkpoint')).toThrow(/plain file/);
  });
});

describe('hard links', () => {
  it('arrive as links to one file, not as copies, and follow a change of their file', async () => {
    mkdirSync(path.join(src, 'bin'));
    writeFileSync(path.join(src, 'bin', 'perl'), 'interpreter v1');
    linkSync(path.join(src, 'bin', 'perl'), path.join(src, 'bin', 'perl5.36'));
    const { manifest } = await scanDirectory(src, 'bundle', 'c1');
    expect(manifest.entries.find((e) => e.path === 'bin/perl5.36')).toMatchObject({
      type: 'hardlink',
      target: 'bin/perl',
    });
    await syncOnce();
    const a = statSync(path.join(dst, 'bin', 'perl'));
    const b = statSync(path.join(dst, 'bin', 'perl5.36'));
    expect([b.ino, a.nlink]).toEqual([a.ino, 2]);
    // The file is replaced on the source (a new inode for both names): the target follows, still one file.
    writeFileSync(path.join(src, 'bin', 'perl.new'), 'interpreter v2');
    renameSync(path.join(src, 'bin', 'perl.new'), path.join(src, 'bin', 'perl'));
    rmSync(path.join(src, 'bin', 'perl5.36'));
    linkSync(path.join(src, 'bin', 'perl'), path.join(src, 'bin', 'perl5.36'));
    await syncOnce();
    expect(readFileSync(path.join(dst, 'bin', 'perl5.36'), 'utf8')).toBe('interpreter v2');
    expect(statSync(path.join(dst, 'bin', 'perl5.36')).ino).toBe(statSync(path.join(dst, 'bin', 'perl')).ino);
  });

  it('refuses a hard link naming a file not listed before it', () => {
    const entries = [{ path: 'a', type: 'hardlink', mode: 0o644, target: '../../etc/shadow' }];
    expect(() => decodeManifest(encodeManifest({ kind: 'bundle', containerId: 'c1', entries } as never))).toThrow(
      /hard link a must name a file listed before it/,
    );
  });
});

it('applies an unchanged manifest again with one look at each entry, and still puts back what changed on disk', async () => {
  mkdirSync(path.join(src, 'etc'), { mode: 0o755 });
  writeFileSync(path.join(src, 'etc', 'conf'), 'x');
  symlinkSync('conf', path.join(src, 'etc', 'link'));
  const { manifest, locations } = await scanDirectory(src, 'bundle', 'c1');
  const reader = ChunkReader.fromLocations(locations);
  const first = await applyBundle(manifest, dst, null, reader, path.join(tmp, 'incoming'));
  // Changed on this PC behind the manifest's back: a directory's mode, a symlink's target.
  chmodSync(path.join(dst, 'etc'), 0o700);
  rmSync(path.join(dst, 'etc', 'link'));
  symlinkSync('/etc/passwd', path.join(dst, 'etc', 'link'));
  const again = await applyBundle(manifest, dst, first.applied, reader, path.join(tmp, 'incoming'));
  await reader.close();
  expect(again).toMatchObject({ written: 0, unchanged: 1, removed: 0 });
  expect(statSync(path.join(dst, 'etc')).mode & 0o7777).toBe(0o755);
  expect(readlinkSync(path.join(dst, 'etc', 'link'))).toBe('conf');
});
