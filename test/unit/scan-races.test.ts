// A running container can swap its own files for symlinks while its rootfs is scanned (a live sync). These tests
// make the swap happen at the worst moment, right after the scan's lstat of the entry, and check that nothing of
// the host's files gets into the manifest.
import fsPromises from 'node:fs/promises';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { unpackHex } from '../../domain/digest-index';
import { sha256, scanDirectory } from '../../node/scan';

const secret = Buffer.from('host secret: root password hash $6$abcdefgh\n');
let dir = '';
let rootfs = '';
let hostDir = '';

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'zanshin-scan-race-'));
  rootfs = path.join(dir, 'rootfs');
  hostDir = path.join(dir, 'host-etc');
  mkdirSync(path.join(rootfs, 'data'), { recursive: true });
  mkdirSync(hostDir);
  writeFileSync(path.join(hostDir, 'shadow'), secret);
  writeFileSync(path.join(rootfs, 'data', 'shadow'), 'a file of the container\n');
  writeFileSync(path.join(rootfs, 'plain'), 'another file of the container\n');
});
afterEach(() => {
  jest.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `swap` once, right after the scan's lstat of an entry named `name`. */
function swapAfterLstatOf(name: string, swap: () => void): void {
  const real = fsPromises.lstat.bind(fsPromises);
  let done = false;
  jest.spyOn(fsPromises, 'lstat').mockImplementation((async (p: string, opts?: unknown) => {
    const st = await real(p, opts as never);
    if (!done && path.basename(String(p)) === name) {
      done = true;
      swap();
    }
    return st;
  }) as typeof fsPromises.lstat);
}

const hashesIn = (m: Awaited<ReturnType<typeof scanDirectory>>['manifest']): string[] =>
  m.entries.flatMap((e) => (e.chunks ? unpackHex(e.chunks) : []));

describe('a live rootfs scan raced by the container', () => {
  it('does not read a host file through a file swapped for a symlink after its lstat', async () => {
    swapAfterLstatOf('plain', () => {
      rmSync(path.join(rootfs, 'plain'));
      symlinkSync(path.join(hostDir, 'shadow'), path.join(rootfs, 'plain'));
    });
    const { manifest, skipped } = await scanDirectory(rootfs, 'bundle', 'victim', undefined, { live: true });
    expect(hashesIn(manifest)).not.toContain(sha256(secret));
    expect(manifest.entries.find((e) => e.path === 'plain')).toBeUndefined();
    expect(skipped).toContain('plain');
  });

  it('does not walk into a host directory through a directory swapped for a symlink after its lstat', async () => {
    swapAfterLstatOf('data', () => {
      renameSync(path.join(rootfs, 'data'), path.join(rootfs, 'data.old'));
      symlinkSync(hostDir, path.join(rootfs, 'data'));
    });
    const { manifest } = await scanDirectory(rootfs, 'bundle', 'victim', undefined, { live: true });
    expect(hashesIn(manifest)).not.toContain(sha256(secret));
    expect(manifest.entries.map((e) => e.path)).not.toContain('data/shadow');
  });

  it('does not follow a parent swapped after the scan entered it', async () => {
    // The scan has opened data/ and looks at data/shadow; now data/ becomes a link to the host's directory.
    swapAfterLstatOf('shadow', () => {
      renameSync(path.join(rootfs, 'data'), path.join(rootfs, 'data.old'));
      symlinkSync(hostDir, path.join(rootfs, 'data'));
    });
    const { manifest } = await scanDirectory(rootfs, 'bundle', 'victim', undefined, { live: true });
    expect(hashesIn(manifest)).not.toContain(sha256(secret));
    // What it read is the container's own file, in the directory it had opened.
    expect(hashesIn(manifest)).toContain(sha256(Buffer.from('a file of the container\n')));
  });

  it('refuses, rather than skips, a change under a scan that must be exact (a frozen container)', async () => {
    swapAfterLstatOf('plain', () => {
      rmSync(path.join(rootfs, 'plain'));
      symlinkSync(path.join(hostDir, 'shadow'), path.join(rootfs, 'plain'));
    });
    await expect(scanDirectory(rootfs, 'bundle', 'victim')).rejects.toThrow(/ELOOP|changed/);
  });
});
