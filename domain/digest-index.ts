/**
 * Chunk hashes in memory: raw 32-byte sha256 digests packed one after another in a Buffer (32 bytes a page, where a
 * hex string in V8 took ~90), and an index that numbers distinct digests 0, 1, 2, ... so that what callers keep per
 * digest lives in typed arrays. A 1 GiB image is 262,144 pages: no string, object or Map entry per page. Pure: no I/O.
 */
import { hash, randomInt } from 'node:crypto';

export const DIGEST_BYTES = 32;

/** How many digests a packed list holds. */
export const digestCount = (list: Buffer): number => list.length / DIGEST_BYTES;

/** The i-th digest of a packed list (a view, not a copy). */
export const digestAt = (list: Buffer, i: number): Buffer => list.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);

/** The i-th digest of a packed list as hex (for messages and the few string-keyed maps of rootfs chunks). */
export const digestHex = (list: Buffer, i = 0): string =>
  list.toString('hex', i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);

const zeroDigests = new Map<number, Buffer>();
/** The raw sha256 of `length` zero bytes (a hole in a sparse file, an untouched page). */
export function zeroDigest(length: number): Buffer {
  let h = zeroDigests.get(length);
  if (!h) zeroDigests.set(length, (h = hash('sha256', Buffer.alloc(length), 'buffer')));
  return h;
}

let zeros = Buffer.alloc(0);
/**
 * The raw sha256 of a chunk. A chunk of zeros (a hole of a sparse file, an untouched page) is recognized by
 * comparison, which runs at memory speed where hashing does not: a 2 GiB `truncate -s` file costs a read, not 2 GiB
 * of hashing. Any other chunk differs from zeros within its first bytes, so the check costs it nothing.
 */
export function chunkDigest(data: Buffer): Buffer {
  if (zeros.length < data.length) zeros = Buffer.alloc(Math.max(data.length, 1 << 20));
  if (data.length && data[0] === 0 && data.equals(zeros.subarray(0, data.length))) return zeroDigest(data.length);
  return hash('sha256', data, 'buffer');
}

/** Whether digest i of `a` equals digest j of `b` (no views allocated). */
export const digestsEqual = (a: Buffer, i: number, b: Buffer, j: number): boolean =>
  a.compare(b, j * DIGEST_BYTES, (j + 1) * DIGEST_BYTES, i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES) === 0;

/** Chunks to send, in order: how many, and the hash of the k-th (a view into wherever the caller keeps it). */
export interface ChunkList {
  count: number;
  hash(k: number): Buffer;
}

/** Chunks [from, to) of a list. */
export function sliceList(list: ChunkList, from: number, to = list.count): ChunkList {
  const end = Math.min(to, list.count);
  return { count: Math.max(0, end - from), hash: (k) => list.hash(from + k) };
}

/** The hashes of a list, as hex. */
export function listHex(list: ChunkList): string[] {
  return Array.from({ length: list.count }, (_, k) => list.hash(k).toString('hex'));
}

/** Packs hex digests (tests, and lists that are small anyway). */
export function packHex(hexes: readonly string[]): Buffer {
  const out = Buffer.alloc(hexes.length * DIGEST_BYTES);
  hexes.forEach((h, i) => {
    if (out.write(h, i * DIGEST_BYTES, DIGEST_BYTES, 'hex') !== DIGEST_BYTES || h.length !== 2 * DIGEST_BYTES)
      throw new Error(`${JSON.stringify(h)} is not a hex sha256 digest`);
  });
  return out;
}

/** The digests of a packed list as hex strings. */
export function unpackHex(list: Buffer): string[] {
  return Array.from({ length: digestCount(list) }, (_, i) => digestHex(list, i));
}

/*
 * Bucket of a digest: a sum of its eight 32-bit words times random odd multipliers, top bits taken (multiply-shift).
 * Digests come from other PCs' manifests, which may list any bytes they like: with multipliers they cannot know, they
 * cannot pile their entries into one bucket.
 */
const MULTIPLIERS = Int32Array.from({ length: 8 }, () => randomInt(0, 2 ** 31) * 2 + 1);

/**
 * Where the digests an index numbers lie, when the caller keeps them anyway (a manifest's lists): digest n is digest
 * `index(n)` of `list(n)`. The index then copies none (8 MiB saved per GiB of pages).
 */
export interface DigestSource {
  list(n: number): Buffer;
  index(n: number): number;
}

/** Numbers distinct digests densely in first-added order; open addressing over an Int32Array. */
export class DigestIndex {
  private keys: Buffer;
  private slots: Int32Array;
  private bits: number;
  size = 0;

  /**
   * With a `source`, the index keeps no copy of the digests: after each `add` that returns a new number, the caller
   * makes `source` resolve that number before calling the index again.
   */
  constructor(
    expected = 16,
    private readonly source?: DigestSource,
  ) {
    this.bits = Math.max(4, Math.ceil(Math.log2(expected * 2)));
    this.slots = new Int32Array(1 << this.bits).fill(-1);
    this.keys = Buffer.allocUnsafe(source ? 0 : Math.max(1, expected) * DIGEST_BYTES);
  }

  private equalsKey(n: number, list: Buffer, at: number): boolean {
    const [keys, k] = this.source ? [this.source.list(n), this.source.index(n)] : [this.keys, n];
    return keys.compare(list, at, at + DIGEST_BYTES, k * DIGEST_BYTES, (k + 1) * DIGEST_BYTES) === 0;
  }

  private bucket(list: Buffer, at: number): number {
    let h = 0;
    for (let w = 0; w < 8; w++) h = (h + Math.imul(list.readInt32LE(at + 4 * w), MULTIPLIERS[w]!)) | 0;
    return h >>> (32 - this.bits);
  }

  /** Number of digest i of `list`, or -1 if it was never added. */
  find(list: Buffer, i = 0): number {
    return this.findAt(list, i * DIGEST_BYTES);
  }

  /** Number of the digest at byte `at` of `buf`, or -1 if it was never added. */
  findAt(buf: Buffer, at: number): number {
    const list = buf;
    const mask = this.slots.length - 1;
    for (let s = this.bucket(list, at); ; s = (s + 1) & mask) {
      const n = this.slots[s]!;
      if (n < 0) return -1;
      if (this.equalsKey(n, list, at)) return n;
    }
  }

  /** Number of digest i of `list`: its existing one, or the next free one (then `size` grows by one). */
  add(list: Buffer, i = 0): number {
    const found = this.find(list, i);
    if (found >= 0) return found;
    if (2 * (this.size + 1) > this.slots.length) this.grow();
    const n = this.size++;
    if (!this.source) {
      if (this.keys.length < this.size * DIGEST_BYTES) {
        const keys = Buffer.allocUnsafe(Math.max(DIGEST_BYTES, this.keys.length * 2));
        this.keys.copy(keys);
        this.keys = keys;
      }
      list.copy(this.keys, n * DIGEST_BYTES, i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
    }
    this.place(n, list, i);
    return n;
  }

  /** Digest number n (a view: into the caller's list, or into the index, valid until the next `add`). */
  digest(n: number): Buffer {
    return this.source ? digestAt(this.source.list(n), this.source.index(n)) : digestAt(this.keys, n);
  }

  private place(n: number, list: Buffer, i: number): void {
    const mask = this.slots.length - 1;
    let s = this.bucket(list, i * DIGEST_BYTES);
    while (this.slots[s]! >= 0) s = (s + 1) & mask;
    this.slots[s] = n;
  }

  private grow(): void {
    this.bits++;
    this.slots = new Int32Array(1 << this.bits).fill(-1);
    for (let n = 0; n < this.size; n++)
      if (this.source) this.place(n, this.source.list(n), this.source.index(n));
      else this.place(n, this.keys, n);
  }
}
