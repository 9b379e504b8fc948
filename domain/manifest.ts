/**
 * Manifests: what a checkpoint image or a bundle consists of, as content-addressed chunks. A node holding a
 * chunk anywhere (any older generation, any bundle) never receives it again. Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { isValidContainerId } from '../common/names';
import { ErrorType } from '../common/errors';
import {
  ChunkList,
  DIGEST_BYTES,
  DigestIndex,
  digestAt,
  digestCount,
  digestsEqual,
  listHex,
  zeroDigest,
} from './digest-index';

/** Memory pages are hashed one by one: CRIU's pages-*.img is a sequence of 4-KiB pages. */
export const PAGE_SIZE = 4096;
/** Every other file (image metadata, rootfs files) is cut into chunks of at most 1 MiB. */
export const FILE_CHUNK_SIZE = 1 << 20;
export const HASH_BYTES = DIGEST_BYTES;

/**
 * 'fifo': a named pipe, made anew where it arrives (it holds no data of its own). 'hardlink': another name of a
 * file listed earlier (`target`, its path in the same manifest), linked again where it arrives.
 */
export type EntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'hardlink';

export interface ManifestEntry {
  /** Relative path inside the image or rootfs directory, '/'-separated, never escaping it. */
  path: string;
  type: EntryType;
  mode: number;
  /** Owner and group (numeric, as inside the container); absent: 0 (root). A program running as another user keeps its files. */
  uid?: number;
  gid?: number;
  /** Files only. */
  size?: number;
  /** Files only: the size of each chunk but the last. */
  chunkSize?: number;
  /** Files only: the raw sha256 of each chunk, packed (domain/digest-index.ts). */
  chunks?: Buffer;
  /** Symlinks: what the link says. Hard links: the path of the file entry, earlier in the manifest, it names too. */
  target?: string;
}

export interface Manifest {
  kind: 'checkpoint' | 'bundle';
  containerId: string;
  /** Checkpoints only: 1, 2, ... per container. */
  generation?: number;
  entries: ManifestEntry[];
}

export class ManifestError extends Error {
  override name = ErrorType.Manifest;
}

/** CRIU names memory page files pages-<n>.img; they are chunked per page. */
export function isPagesFile(name: string): boolean {
  return /^pages-\d+\.img$/.test(name);
}

export function chunkSizeFor(kind: Manifest['kind'], relPath: string): number {
  return kind === 'checkpoint' && isPagesFile(relPath) ? PAGE_SIZE : FILE_CHUNK_SIZE;
}

/**
 * Rejects a path that could leave its directory: absolute, empty, '.'/'..' segments, backslashes or NULs.
 * Every path from a manifest passes here before it is joined to a directory.
 */
export function checkRelativePath(p: string): string {
  if (typeof p !== 'string' || p === '' || p.includes('\0') || p.includes('\\') || p.startsWith('/')) {
    throw new ManifestError(`manifest path ${JSON.stringify(p)} is not a plain relative path`);
  }
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') {
      throw new ManifestError(
        `manifest path ${JSON.stringify(p)} has a "${seg}" segment: paths must stay inside their directory`,
      );
    }
  }
  return p;
}

/** Joins a manifest path to its root, re-checking that the result stays inside the root. */
export function resolveInside(root: string, rel: string): string {
  const full = path.resolve(root, checkRelativePath(rel));
  if (!full.startsWith(path.resolve(root) + path.sep))
    throw new ManifestError(`manifest path ${JSON.stringify(rel)} escapes ${root}`);
  return full;
}

/** The number of chunks of a file entry (0 for others). */
export const chunkCountOf = (e: ManifestEntry): number => (e.chunks ? digestCount(e.chunks) : 0);

/** Validates a manifest received from elsewhere: paths, types and chunk counts. */
export function validateManifest(m: Manifest): Manifest {
  if (m.kind !== 'checkpoint' && m.kind !== 'bundle')
    throw new ManifestError(`unknown manifest kind ${JSON.stringify(m.kind)}`);
  if (typeof m.containerId !== 'string' || !isValidContainerId(m.containerId)) {
    throw new ManifestError(`invalid container id ${JSON.stringify(m.containerId)}`);
  }
  const seen = new Set<string>();
  const files = new Set<string>();
  const dirs = new Set<string>();
  for (const e of m.entries) {
    checkRelativePath(e.path);
    if (seen.has(e.path)) throw new ManifestError(`manifest lists ${e.path} twice`);
    // Parents first, and only directories as parents: an entry under a symlink listed before it would be written
    // (or read, when the target claims chunks it holds) wherever that link points.
    const slash = e.path.lastIndexOf('/');
    if (m.kind === 'bundle' && slash > 0 && !dirs.has(e.path.slice(0, slash))) {
      const parent = e.path.slice(0, slash);
      throw new ManifestError(
        seen.has(parent)
          ? `manifest places ${e.path} under ${parent}, which is not a directory`
          : `manifest lists ${e.path} before its directory ${parent} (parents must come first)`,
      );
    }
    seen.add(e.path);
    if (e.type === 'dir') dirs.add(e.path);
    if (m.kind === 'checkpoint' && (e.type !== 'file' || e.path.includes('/'))) {
      throw new ManifestError(`checkpoint entry ${e.path} must be a plain file at the top of the image directory`);
    }
    if (!Number.isInteger(e.mode) || e.mode < 0 || e.mode > 0o7777)
      throw new ManifestError(`entry ${e.path} has invalid mode ${e.mode}`);
    for (const id of [e.uid, e.gid])
      if (id !== undefined && (!Number.isInteger(id) || id < 0 || id >= 2 ** 32 - 1))
        throw new ManifestError(`entry ${e.path} has an invalid owner or group ${id}`);
    if (e.type === 'file') {
      const { size, chunkSize, chunks } = e;
      if (
        !Number.isSafeInteger(size) ||
        size! < 0 ||
        !chunkSize ||
        chunkSize !== chunkSizeFor(m.kind, e.path) ||
        !Buffer.isBuffer(chunks) ||
        chunks.length % HASH_BYTES !== 0
      ) {
        throw new ManifestError(`file entry ${e.path} has an invalid size, chunk size or chunk list`);
      }
      if (digestCount(chunks) !== Math.ceil(size! / chunkSize))
        throw new ManifestError(`file entry ${e.path}: ${digestCount(chunks)} chunks for ${size} bytes`);
      files.add(e.path);
    } else if (e.type === 'symlink') {
      if (typeof e.target !== 'string' || e.target === '' || e.target.includes('\0'))
        throw new ManifestError(`symlink ${e.path} has no valid target`);
    } else if (e.type === 'hardlink') {
      if (typeof e.target !== 'string' || !files.has(e.target))
        throw new ManifestError(
          `hard link ${e.path} must name a file listed before it, not ${JSON.stringify(e.target)}`,
        );
    } else if (e.type !== 'dir' && e.type !== 'fifo') {
      throw new ManifestError(`entry ${e.path} has unknown type ${JSON.stringify(e.type)}`);
    }
  }
  return m;
}

/** Whether chunk i of a file entry is all zeros (by its hash): a hole where the file is written. */
export function isZeroChunk(entry: ManifestEntry): (i: number) => boolean {
  const cs = entry.chunkSize!;
  const last = Math.ceil(entry.size! / cs) - 1;
  const full = zeroDigest(cs);
  const tail = zeroDigest(entry.size! - last * cs || cs);
  return (i) => digestsEqual(i === last ? tail : full, 0, entry.chunks!, i);
}

/** Disk a rootfs takes once written out: file bytes outside holes (chunks of zeros are left as holes). */
export function diskBytesOf(m: Manifest): number {
  let bytes = 0;
  for (const e of m.entries) {
    if (e.type !== 'file') continue;
    const zeros = isZeroChunk(e);
    for (let i = 0; i < chunkCountOf(e); i++)
      if (!zeros(i)) bytes += Math.min(e.chunkSize!, e.size! - i * e.chunkSize!);
  }
  return bytes;
}

export class DiskQuotaError extends Error {
  override name = ErrorType.DiskQuota;
}

/** Refuses a container's rootfs larger than its disk quota (`diskMiB` at registration), before anything is sent. */
export function checkDiskQuota(m: Manifest, diskMiB: number): void {
  const bytes = diskBytesOf(m);
  if (bytes > diskMiB * 2 ** 20)
    throw new DiskQuotaError(
      `container ${m.containerId}'s rootfs holds ${(bytes / 2 ** 20).toFixed(1)} MiB, over its disk quota of ` +
        `${diskMiB} MiB (diskMiB at registration): free space inside the container or register it with a larger quota`,
    );
}

export interface ManifestStats {
  files: number;
  bytes: number;
  chunks: number;
  uniqueChunks: number;
}

/** Stats of manifests already counted: a move asks for them twice (checkpoint, then transfer report). */
const statsOf = new WeakMap<Manifest, ManifestStats>();

export function manifestStats(m: Manifest): ManifestStats {
  let stats = statsOf.get(m);
  if (!stats) statsOf.set(m, (stats = countManifest(m)));
  return stats;
}

function countManifest(m: Manifest): ManifestStats {
  const files = m.entries.filter((e) => e.type === 'file');
  const chunks = files.reduce((n, e) => n + chunkCountOf(e), 0);
  // Where each distinct hash first occurs: the index reads hashes there instead of copying them.
  const fileOf = new Int32Array(chunks);
  const indexOf = new Int32Array(chunks);
  const unique = new DigestIndex(chunks, { list: (n) => files[fileOf[n]!]!.chunks!, index: (n) => indexOf[n]! });
  files.forEach((e, f) => {
    for (let i = 0; i < chunkCountOf(e); i++) {
      const fresh = unique.size;
      if (unique.add(e.chunks!, i) === fresh) [fileOf[fresh], indexOf[fresh]] = [f, i];
    }
  });
  return { files: files.length, bytes: files.reduce((n, e) => n + e.size!, 0), chunks, uniqueChunks: unique.size };
}

/**
 * The answer to an offer: where in the offered manifest each missing chunk first occurs, as [u32 entry][u32 chunk]
 * pairs (8 bytes each, in first-use order). The source takes hash and place from its own manifest: no second copy
 * of hundreds of thousands of hashes, no lookup table from hash to place.
 */
export function missingPositions(m: Manifest, has: (list: Buffer, i: number) => boolean): Buffer {
  const seen = new DigestIndex();
  const out: number[] = [];
  m.entries.forEach((e, k) => {
    for (let i = 0; i < chunkCountOf(e); i++) {
      const before = seen.size;
      seen.add(e.chunks!, i);
      if (seen.size > before && !has(e.chunks!, i)) out.push(k, i);
    }
  });
  const buf = Buffer.allocUnsafe(out.length * 4);
  out.forEach((n, j) => buf.writeUInt32BE(n, j * 4));
  return buf;
}

/**
 * Reads an offer's answer against the manifest offered: the missing chunks (their hashes read from the manifest, not
 * copied) and their places.
 */
export function readMissingPositions(m: Manifest, buf: Buffer): { hashes: ChunkList; positions: Uint32Array } {
  if (buf.length % 8 !== 0)
    throw new ManifestError(`an offer's answer of ${buf.length} bytes is not a list of positions`);
  const count = buf.length / 8;
  const positions = new Uint32Array(count * 2);
  for (let j = 0; j < count; j++) {
    const k = buf.readUInt32BE(j * 8);
    const i = buf.readUInt32BE(j * 8 + 4);
    const e = m.entries[k];
    if (!e || i >= chunkCountOf(e))
      throw new ManifestError(`an offer's answer names chunk ${i} of entry ${k}, which the manifest lacks`);
    positions[2 * j] = k;
    positions[2 * j + 1] = i;
  }
  const hash = (k: number) => digestAt(m.entries[positions[2 * k]!]!.chunks!, positions[2 * k + 1]!);
  return { hashes: { count, hash }, positions };
}

/** The distinct chunk hashes (hex) of a manifest that `has` says are not held, in first-use order. */
export function missingChunks(m: Manifest, has: (list: Buffer, i: number) => boolean): string[] {
  return listHex(readMissingPositions(m, missingPositions(m, has)).hashes);
}

/*
 * Wire and disk encoding: [u32 header length][header JSON without chunk lists][chunk lists in entry order].
 * A full entry's list is its raw 32-byte hashes (32 bytes per 4-KiB page, 0.8 % of an image; hex JSON would double
 * that). With a base (a checkpoint manifest the receiver holds, named by its generation), an entry whose path the base
 * has lists only the positions that differ from it: [u32 index][32-byte hash] each, so a return move that changed 1 %
 * of the pages carries about 1 % of the manifest.
 */
type WireEntry = Omit<ManifestEntry, 'chunks'> & { chunkCount: number; changes?: number };
type WireHeader = Omit<Manifest, 'entries'> & { entries: WireEntry[]; base?: number; baseDigest?: string };

const digests = new WeakMap<Manifest, string>();

/**
 * What a manifest describes, as one sha256 (hex): its entries' paths, types, sizes and chunk lists. Two checkpoints
 * that happen to share a number (taken by two copies of a container) have different digests, so a delta names its
 * base by number and digest, and a receiver holding another image under that number refuses it. Remembered per
 * manifest object (8 MiB of chunk lists per GiB of image: about 8 ms).
 */
export function manifestDigest(m: Manifest): string {
  let d = digests.get(m);
  if (!d) {
    const h = createHash('sha256');
    for (const e of m.entries) {
      h.update(`${e.path}\0${e.type}\0${e.size ?? ''}\0${e.target ?? ''}\0`);
      if (e.chunks) h.update(e.chunks);
    }
    d = h.digest('hex');
    digests.set(m, d);
  }
  return d;
}

const DELTA_RECORD = 4 + HASH_BYTES;

export function encodeManifest(m: Manifest, base?: Manifest): Buffer {
  return Buffer.concat(manifestParts(m, base));
}

/** The encoding in pieces, for writing to a file without first copying the chunk lists into one buffer. */
export function manifestParts(m: Manifest, base?: Manifest): Buffer[] {
  const baseChunks = new Map((base?.entries ?? []).map((e) => [e.path, e.chunks]));
  const lists: Buffer[] = [];
  const entries: WireEntry[] = m.entries.map(({ chunks, ...rest }) => {
    const list = chunks ?? Buffer.alloc(0);
    const count = digestCount(list);
    const old = rest.type === 'file' ? baseChunks.get(rest.path) : undefined;
    if (old) {
      const oldCount = digestCount(old);
      const changed: number[] = [];
      for (let i = 0; i < count; i++) if (i >= oldCount || !digestsEqual(list, i, old, i)) changed.push(i);
      const out = Buffer.allocUnsafe(changed.length * DELTA_RECORD);
      changed.forEach((i, k) => {
        out.writeUInt32BE(i, k * DELTA_RECORD);
        list.copy(out, k * DELTA_RECORD + 4, i * HASH_BYTES, (i + 1) * HASH_BYTES);
      });
      lists.push(out);
      return { ...rest, chunkCount: count, changes: changed.length };
    }
    lists.push(list);
    return { ...rest, chunkCount: count };
  });
  const header: WireHeader = {
    ...m,
    entries,
    ...(base ? { base: base.generation!, baseDigest: manifestDigest(base) } : {}),
  };
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(json.length, 0);
  return [len, json, ...lists];
}

function readHeader(buf: Buffer): { header: WireHeader; at: number } {
  if (buf.length < 4) throw new ManifestError('manifest is truncated');
  const len = buf.readUInt32BE(0);
  if (4 + len > buf.length) throw new ManifestError('manifest header is truncated');
  let header: WireHeader;
  try {
    header = JSON.parse(buf.subarray(4, 4 + len).toString('utf8')) as WireHeader;
  } catch {
    throw new ManifestError('manifest header is not valid JSON');
  }
  if (!header || !Array.isArray(header.entries)) throw new ManifestError('manifest has no entry list');
  return { header, at: 4 + len };
}

/**
 * Bytes of the files a manifest lists, read from its header alone (`buf` may stop after the header): summaries
 * never decode the chunk lists, 262,144 hashes per GiB of memory.
 */
export function manifestHeaderBytes(buf: Buffer): number {
  const { header } = readHeader(buf);
  return header.entries.reduce((n, e) => n + (e.type === 'file' && Number.isSafeInteger(e.size) ? e.size! : 0), 0);
}

/** Length of a manifest's header, from its first 4 bytes: what to read for `manifestHeaderBytes`. */
export function manifestHeaderLength(first4: Buffer): number {
  if (first4.length < 4) throw new ManifestError('manifest is truncated');
  return 4 + first4.readUInt32BE(0);
}

/**
 * The generation a delta-encoded manifest is relative to (the receiver must hold that very checkpoint: same number,
 * same digest), or null for a full one. A base without a digest is named as unknown (""): the receiver asks for the
 * whole manifest.
 */
export function manifestBase(buf: Buffer): { generation: number; digest: string } | null {
  const { header } = readHeader(buf);
  if (header.base === undefined) return null;
  if (!Number.isInteger(header.base) || header.base < 1)
    throw new ManifestError('manifest names an invalid base generation');
  const digest =
    typeof header.baseDigest === 'string' && /^[0-9a-f]{64}$/.test(header.baseDigest) ? header.baseDigest : '';
  return { generation: header.base, digest };
}

export function decodeManifest(buf: Buffer, base?: Manifest): Manifest {
  const { header, at: start } = readHeader(buf);
  let at = start;
  if (header.base !== undefined && base?.generation !== header.base)
    throw new ManifestError(`manifest is relative to generation ${header.base}, which was not given to decode it`);
  if (header.base !== undefined && header.baseDigest !== manifestDigest(base!))
    throw new ManifestError(
      `manifest is relative to another generation ${header.base} than the one given to decode it`,
    );
  const baseChunks = new Map((base?.entries ?? []).map((e) => [e.path, e.chunks ?? Buffer.alloc(0)]));
  const rest: Omit<WireHeader, 'base'> = { ...header };
  delete (rest as WireHeader).base;
  delete (rest as WireHeader).baseDigest;
  const entries = header.entries.map(({ chunkCount, changes, ...e }: WireEntry) => {
    if (!Number.isSafeInteger(chunkCount) || chunkCount < 0)
      throw new ManifestError(`manifest entry ${JSON.stringify(e.path)} has a bad chunk count`);
    const entry: ManifestEntry = { ...e };
    if (changes !== undefined) {
      const old = baseChunks.get(e.path);
      if (!old || !Number.isSafeInteger(changes) || changes < 0 || at + changes * DELTA_RECORD > buf.length)
        throw new ManifestError(`manifest entry ${JSON.stringify(e.path)} has a bad list of changes`);
      const chunks = Buffer.allocUnsafe(chunkCount * HASH_BYTES);
      const kept = Math.min(chunkCount, digestCount(old));
      old.copy(chunks, 0, 0, kept * HASH_BYTES);
      // Positions past the base's end must each be listed: count the distinct ones.
      const grown = new Uint8Array(chunkCount - kept);
      let listed = 0;
      for (let k = 0; k < changes; k++, at += DELTA_RECORD) {
        const i = buf.readUInt32BE(at);
        if (i >= chunkCount)
          throw new ManifestError(`manifest entry ${JSON.stringify(e.path)} changes chunk ${i} of ${chunkCount}`);
        buf.copy(chunks, i * HASH_BYTES, at + 4, at + DELTA_RECORD);
        if (i >= kept && !grown[i - kept]) {
          grown[i - kept] = 1;
          listed++;
        }
      }
      if (listed !== grown.length)
        throw new ManifestError(`manifest entry ${JSON.stringify(e.path)} grew without listing its new chunks`);
      entry.chunks = chunks;
    } else if (e.type === 'file') {
      if (at + chunkCount * HASH_BYTES > buf.length)
        throw new ManifestError(`manifest entry ${JSON.stringify(e.path)} has a bad chunk count`);
      // A view: the chunk lists are nearly all of the buffer, which no one else holds or changes.
      entry.chunks = buf.subarray(at, (at += chunkCount * HASH_BYTES));
    } else if (chunkCount !== 0) {
      throw new ManifestError(`manifest entry ${JSON.stringify(e.path)} has a bad chunk count`);
    }
    return entry;
  });
  if (at !== buf.length) throw new ManifestError('manifest has trailing bytes');
  return validateManifest({ ...rest, entries });
}
