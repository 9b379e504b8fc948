// A running container can swap its own files and directories for symlinks while its rootfs is scanned (a live
// sync). These tests make the swap happen at the worst moments: right before the scan opens the entry (after it
// listed its directory), and right after it listed a directory it is inside. Nothing of the host may get into the
// manifest. (The scan this replaced read a host file in each case: it looked at a path, then opened the path.)
import fsPromises from 'node:fs/promises';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { unpackHex } from '../../domain/digest-index';
import type { Manifest } from '../../domain/manifest';
import { sha256, scanDirectory } from '../../node/scan';

const secret = Buffer.from('host secret: root password hash $6$abcdefgh\n');
const own = Buffer.from('a file of the container\n');
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
  writeFileSync(path.join(rootfs, 'data', 'shadow'), own);
  writeFileSync(path.join(rootfs, 'plain'), 'another file of the container\n');
});
afterEach(() => {
  jest.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `swap` once, when the scan calls `fn` on an entry named `name`: before the call, or after it returned. */
function swapAround(fn: 'open' | 'readdir', name: string, when: 'before' | 'after', swap: () => void): void {
  const real = fsPromises[fn].bind(fsPromises) as (...args: unknown[]) => Promise<unknown>;
  let done = false;
  const hit = (p: unknown) => !done && path.basename(String(p)) === name && (done = true);
  jest.spyOn(fsPromises, fn).mockImplementation((async (p: unknown, ...rest: unknown[]) => {
    const now = hit(p);
    if (now && when === 'before') swap();
    const result = await real(p, ...rest);
    if (now && when === 'after') swap();
    return result;
  }) as never);
}

const hashesIn = (m: Manifest): string[] => m.entries.flatMap((e) => (e.chunks ? unpackHex(e.chunks) : []));
const fileSwappedForLink = () => {
  rmSync(path.join(rootfs, 'plain'));
  symlinkSync(path.join(hostDir, 'shadow'), path.join(rootfs, 'plain'));
};
const dirSwappedForLink = () => {
  renameSync(path.join(rootfs, 'data'), path.join(rootfs, 'data.old'));
  symlinkSync(hostDir, path.join(rootfs, 'data'));
};

describe('a live rootfs scan raced by the container', () => {
  it('records a file swapped for a symlink just before its open as that symlink, never reading the host file', async () => {
    swapAround('open', 'plain', 'before', fileSwappedForLink);
    const { manifest } = await scanDirectory(rootfs, 'bundle', 'victim', undefined, { live: true });
    expect(hashesIn(manifest)).not.toContain(sha256(secret));
    expect(manifest.entries.find((e) => e.path === 'plain')).toMatchObject({ type: 'symlink' });
  });

  it('does not walk into a host directory through a directory swapped for a symlink just before its open', async () => {
    swapAround('open', 'data', 'before', dirSwappedForLink);
    const { manifest } = await scanDirectory(rootfs, 'bundle', 'victim', undefined, { live: true });
    expect(hashesIn(manifest)).not.toContain(sha256(secret));
    expect(manifest.entries.map((e) => e.path)).not.toContain('data/shadow');
    expect(manifest.entries.find((e) => e.path === 'data')).toMatchObject({ type: 'symlink', target: hostDir });
  });

  it('reads the directory it opened when that directory is swapped for a symlink after it was listed', async () => {
    // The scan has opened data/ and listed it; now data/ becomes a link to the host's directory.
    swapAround('readdir', 'data', 'after', dirSwappedForLink);
    const { manifest } = await scanDirectory(rootfs, 'bundle', 'victim', undefined, { live: true });
    expect(hashesIn(manifest)).not.toContain(sha256(secret));
    expect(hashesIn(manifest)).toContain(sha256(own));
  });
});
