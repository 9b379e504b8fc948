import { hash } from 'node:crypto';
import { constants as fsConstants, Stats } from 'node:fs';
import { FileHandle, lstat, open, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { chunkDigest, digestCount, digestHex } from '../domain/digest-index';
import { chunkSizeFor, Manifest, ManifestEntry, ManifestError } from '../domain/manifest';
import { hashPool, HashPool } from './hash-pool';

/** Where a chunk's bytes are on this node. */
export interface ChunkLocation {
  file: string;
  offset: number;
  length: number;
}

/** Where chunks lie, by hex hash: for rootfs chunks (1 MiB each); pages are found by their place in a manifest. */
export type ChunkLocations = Map<string, ChunkLocation[]>;

export function addLocation(map: ChunkLocations, hash: string, loc: ChunkLocation): void {
  const list = map.get(hash);
  if (list) list.push(loc);
  else map.set(hash, [loc]);
}

/** One-shot native hash: about 20 % faster per 4-KiB page than createHash().update().digest() (bench/hash-pages). */
export function sha256(data: Buffer): string {
  return hash('sha256', data, 'hex');
}

/** The raw 32-byte sha256 of `data`. */
export function sha256Digest(data: Buffer): Buffer {
  return hash('sha256', data, 'buffer');
}

/** Bytes read and hashed at once: each hash worker keeps a buffer this large (2 MiB hashes as fast as 8). */
const READ_BLOCK = 2 << 20;

/**
 * Hashes a file chunk by chunk, reading large blocks (one native hash call per chunk). Large files are hashed by
 * the worker pool, a few blocks per worker in flight; results keep the file's order.
 */
export async function hashFileChunks(file: string | FileHandle, size: number, chunkSize: number): Promise<Buffer> {
  const blockSize = Math.max(chunkSize, READ_BLOCK - (READ_BLOCK % chunkSize));
  const pool = size > blockSize ? hashPool() : null;
  // Pool workers open the file themselves: an open one by its descriptor's /proc link (the same file, whatever its
  // path has become since).
  const name = typeof file === 'string' ? file : `/proc/self/fd/${file.fd}`;
  if (pool) return hashRangesWithPool(pool, name, 0, size, chunkSize, blockSize);
  const handle = typeof file === 'string' ? await open(file, 'r') : file;
  const block = Buffer.allocUnsafe(Math.min(blockSize, Math.max(size, 1)));
  const hashes = Buffer.allocUnsafe(Math.ceil(size / chunkSize) * 32);
  let n = 0;
  try {
    for (let offset = 0; offset < size;) {
      const want = Math.min(block.length, size - offset);
      const { bytesRead } = await handle.read(block, 0, want, offset);
      if (bytesRead !== want) throw new Error(`${name} shrank while being read (changed during a scan?)`);
      for (let at = 0; at < bytesRead; at += chunkSize)
        chunkDigest(block.subarray(at, Math.min(at + chunkSize, bytesRead))).copy(hashes, 32 * n++);
      offset += bytesRead;
    }
  } finally {
    if (handle !== file) await handle.close();
  }
  return hashes;
}

/** Raw digests of [offset, offset+length) of a file, block by block on the pool, at most 2 blocks per worker in flight. */
export async function hashRangesWithPool(
  pool: HashPool,
  file: string,
  offset: number,
  length: number,
  chunkSize: number,
  blockSize = READ_BLOCK - (READ_BLOCK % chunkSize),
  lanes = pool.size * 2,
): Promise<Buffer> {
  const blocks: { at: number; len: number }[] = [];
  for (let at = offset; at < offset + length; at += blockSize)
    blocks.push({ at, len: Math.min(blockSize, offset + length - at) });
  const results = new Array<Buffer>(blocks.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < blocks.length) {
      const i = next++;
      results[i] = await pool.hashRange(file, blocks[i]!.at, blocks[i]!.len, chunkSize);
    }
  };
  await Promise.all(Array.from({ length: Math.min(blocks.length, lanes) }, lane));
  return Buffer.concat(results);
}

/**
 * How long a file must have been left alone for its hashes to be kept. A write through a shared mapping to a page
 * already dirty changes no timestamp; once written back (within ~35 s: dirty_expire + the writeback interval) the
 * page is write-protected again and the next write stamps the file. Five minutes leaves room for a busy disk.
 */
export const STAT_CACHE_MIN_AGE_MS = 5 * 60_000;

/**
 * What a live scan learnt of a rootfs's files, by path: their hashes and the stat they had. A scan after the freeze
 * hashes again only what changed since (issue 29: the frozen sync re-read the whole rootfs in the downtime).
 */
export class StatCache extends Map<string, { stat: FileStat; chunkSize: number; chunks: Buffer }> {
  /** @param minAgeMs how long a file must have been left alone for its hashes to be kept (tests shorten it) */
  constructor(readonly minAgeMs = STAT_CACHE_MIN_AGE_MS) {
    super();
  }
}

/** A file's identity and last change, to the nanosecond. */
interface FileStat {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

const fileStat = async (handle: FileHandle): Promise<FileStat> => {
  const st = await handle.stat({ bigint: true });
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
};
const sameStat = (a: FileStat, b: FileStat): boolean =>
  a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;

export interface ScanResult {
  manifest: Manifest;
  /** Where each chunk lies (empty when the scan was asked for the manifest alone). */
  locations: ChunkLocations;
  /** Entries left out: sockets (CRIU binds a container's listening ones again), and what vanished under a live scan. */
  skipped: string[];
}

const vanished = (err: unknown): boolean =>
  ['ENOENT', 'ELOOP', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '') ||
  (err as Error).message?.includes('shrank') ||
  err instanceof ChangedUnderScan;

/** An entry whose type changed between its lstat and its open (a container racing the scan). */
class ChangedUnderScan extends Error {}

/**
 * A path to `name` inside the directory open as `dir`, through /proc/self/fd: the kernel looks `name` up in that
 * very directory, so a parent swapped for a symlink after it was opened cannot steer the lookup elsewhere.
 */
const inOpenDir = (dir: FileHandle, name: string): string => `/proc/self/fd/${dir.fd}/${name}`;

const { O_RDONLY, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK, O_NOCTTY } = fsConstants;

/** An entry's owner and group, recorded only when not root's (most of a rootfs is root's). */
const ownerOf = (st: { uid: number; gid: number }): Pick<ManifestEntry, 'uid' | 'gid'> => ({
  ...(st.uid ? { uid: st.uid } : {}),
  ...(st.gid ? { gid: st.gid } : {}),
});

/**
 * Describes a directory as a manifest: a CRIU image directory (flat) or a rootfs (recursive; symlinks are
 * recorded, never followed). Entries are sorted so parents precede their children. With `live`, the directory
 * may change while it is read (a running container's rootfs): entries that vanish or shrink meanwhile are skipped.
 *
 * A running container can swap any of its files or directories for a symlink at any moment, so nothing is read
 * by a path that could be followed out of `root`: each entry is opened first, without following a last symlink
 * (O_NOFOLLOW), relative to its already open parent, and typed by what was opened (fstat), never by an earlier
 * look at its path.
 */
export async function scanDirectory(
  root: string,
  kind: Manifest['kind'],
  containerId: string,
  generation?: number,
  {
    live = false,
    prehashed,
    withLocations = true,
    statCache,
  }: {
    live?: boolean;
    prehashed?: Map<string, Buffer>;
    withLocations?: boolean;
    /** A live scan fills it; a frozen scan of the same rootfs reuses the hashes of files unchanged since. */
    statCache?: StatCache;
  } = {},
): Promise<ScanResult> {
  const entries: ManifestEntry[] = [];
  const locations: ChunkLocations = new Map();
  const skipped: string[] = [];
  /** Files with several names: the first name the scan met, by device and inode. */
  const firstNames = new Map<string, string>();
  const walk = async (dir: FileHandle, rel: string): Promise<void> => {
    const names = (
      await readdir(`/proc/self/fd/${dir.fd}`).catch((err: unknown) => {
        if (live && vanished(err)) return [] as string[];
        throw err;
      })
    ).sort();
    for (const name of names) {
      const relPath = rel ? `${rel}/${name}` : name;
      try {
        await visit(dir, name, relPath);
      } catch (err) {
        if (!live || !vanished(err)) throw err;
        skipped.push(relPath);
      }
    }
  };
  const visit = async (dir: FileHandle, name: string, relPath: string): Promise<void> => {
    const at = inOpenDir(dir, name);
    // Opened first, typed after: what is read is what was opened, whatever the path has become. O_NONBLOCK: a FIFO
    // must not hang the open; O_NOCTTY: a terminal must not become ours.
    let handle: FileHandle;
    try {
      handle = await open(at, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') return symlinkEntry(at, relPath); // O_NOFOLLOW met a symlink
      // What cannot be opened at all: a socket (ENXIO), a device without its driver (ENXIO, ENODEV).
      const st = await lstat(at).catch(() => null);
      if (st?.isSocket()) {
        skipped.push(relPath); // CRIU binds a container's listening sockets again on restore
        return;
      }
      if (st?.isCharacterDevice() || st?.isBlockDevice()) throw deviceRefused(relPath, st);
      throw err;
    }
    try {
      const st = await handle.stat();
      const mode = st.mode & 0o7777;
      const owner = kind === 'bundle' ? ownerOf(st) : {};
      if (kind === 'checkpoint' && !st.isFile()) {
        skipped.push(relPath); // an image directory holds files only
      } else if (st.isDirectory()) {
        entries.push({ path: relPath, type: 'dir', mode, ...owner });
        await walk(handle, relPath);
      } else if (st.isFile() && kind === 'bundle' && st.nlink > 1 && firstNames.has(`${st.dev}:${st.ino}`)) {
        // Another name of a file already listed: linked again on the target, not copied.
        const target = firstNames.get(`${st.dev}:${st.ino}`)!;
        entries.push({ path: relPath, type: 'hardlink', mode, ...owner, target });
      } else if (st.isFile()) {
        if (kind === 'bundle' && st.nlink > 1) firstNames.set(`${st.dev}:${st.ino}`, relPath);
        const chunkSize = chunkSizeFor(kind, relPath);
        // Hashes taken while the file was written (a dump's pages) are used when they cover it exactly.
        const known = prehashed?.get(relPath);
        const chunks =
          known && digestCount(known) === Math.ceil(st.size / chunkSize)
            ? known
            : statCache
              ? await hashWithCache(statCache, handle, relPath, chunkSize)
              : await hashFileChunks(handle, st.size, chunkSize);
        // Entries are pushed only once fully read, so a skipped file leaves no trace in the manifest. Chunks are
        // later read back by path; the reader checks each against its hash, so a path steered elsewhere since
        // yields nothing but a missing chunk.
        if (withLocations) {
          const full = path.join(root, relPath);
          for (let i = 0; i < digestCount(chunks); i++)
            addLocation(locations, digestHex(chunks, i), {
              file: full,
              offset: i * chunkSize,
              length: Math.min(chunkSize, st.size - i * chunkSize),
            });
        }
        entries.push({ path: relPath, type: 'file', mode, ...owner, size: st.size, chunkSize, chunks });
      } else if (st.isFIFO()) {
        entries.push({ path: relPath, type: 'fifo', mode, ...owner });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        throw deviceRefused(relPath, st);
      } else {
        skipped.push(relPath);
      }
    } finally {
      await handle.close();
    }
  };
  const deviceRefused = (relPath: string, st: Stats): ManifestError =>
    new ManifestError(
      `the rootfs of ${containerId} holds a device node, ${relPath} (${st.isBlockDevice() ? 'block' : 'character'} ` +
        `${st.rdev >> 8}:${st.rdev & 0xff}): devices are not carried between PCs (runc gives a container its own); ` +
        `remove it from the container`,
    );
  const symlinkEntry = async (at: string, relPath: string): Promise<void> => {
    if (kind === 'checkpoint') {
      skipped.push(relPath);
      return;
    }
    // Read in the directory the scan holds open; a link replaced meanwhile by something else fails (EINVAL).
    const [st, target] = await Promise.all([lstat(at), readlink(at)]).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'EINVAL' ? new ChangedUnderScan(`${relPath} changed type while it was scanned`) : err;
    });
    entries.push({ path: relPath, type: 'symlink', mode: st.mode & 0o7777, ...ownerOf(st), target });
  };
  const top = await open(root, O_RDONLY | O_DIRECTORY);
  try {
    await walk(top, '');
  } finally {
    await top.close();
  }
  const manifest: Manifest = { kind, containerId, entries };
  if (generation !== undefined) manifest.generation = generation;
  return { manifest, locations, skipped };
}

/**
 * A file's chunk hashes: from the cache when its stat is the one cached, else read; kept for the next scan when the
 * file did not change while it was read and was last changed long enough ago (the cache's minAgeMs).
 */
async function hashWithCache(
  cache: StatCache,
  handle: FileHandle,
  relPath: string,
  chunkSize: number,
): Promise<Buffer> {
  const before = await fileStat(handle);
  const cached = cache.get(relPath);
  if (cached && cached.chunkSize === chunkSize && sameStat(cached.stat, before)) return cached.chunks;
  const readAt = Date.now();
  const chunks = await hashFileChunks(handle, Number(before.size), chunkSize);
  const after = await fileStat(handle);
  if (sameStat(before, after) && Number(after.ctimeNs / 1_000_000n) < readAt - cache.minAgeMs)
    cache.set(relPath, { stat: after, chunkSize, chunks });
  else cache.delete(relPath);
  return chunks;
}

/** Where the k-th chunk of a list of [entry, chunk] pairs of a manifest lies under `root` (an offer's answer). */
export function positionLocator(
  manifest: Manifest,
  root: string,
  positions: Uint32Array,
): (k: number) => ChunkLocation {
  const files = manifest.entries.map((e) => path.join(root, e.path));
  return (k) => {
    const entry = positions[2 * k]!;
    const e = manifest.entries[entry]!;
    const offset = positions[2 * k + 1]! * e.chunkSize!;
    return { file: files[entry]!, offset, length: Math.min(e.chunkSize!, e.size! - offset) };
  };
}

/** Chunk locations of a manifest whose files lie under `root` (no reading: the manifest says where). */
export function locationsOf(manifest: Manifest, root: string, into: ChunkLocations = new Map()): ChunkLocations {
  for (const e of manifest.entries) {
    if (e.type !== 'file') continue;
    const file = path.join(root, e.path);
    for (let i = 0; i < digestCount(e.chunks!); i++)
      addLocation(into, digestHex(e.chunks!, i), {
        file,
        offset: i * e.chunkSize!,
        length: Math.min(e.chunkSize!, e.size! - i * e.chunkSize!),
      });
  }
  return into;
}
