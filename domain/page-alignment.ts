/**
 * How to shift a held pages file so that its pages lie where a new image of the same process wants them (issue 29).
 * A live pre-copy round lays a process's pages out as CRIU does, but a program that runs on between the round and the
 * final dump gains pages (a writer's new keys) and loses some: every page after the first such change sits a few
 * places off, and matching by position found none of them (a 1 GiB redis: 14.5 s of downtime, the image copied into
 * place inside the freeze). A few inserted holes and removed ranges (fallocate's insert and collapse, which move no
 * data on ext4 or XFS) put the rest back in place. Pure: digests in, operations out.
 */
import { DIGEST_BYTES, DigestIndex, digestCount, digestsEqual } from './digest-index';

/** One edit of the file, in pages, at a place in the file as the edits before it left it. */
export interface PageShift {
  kind: 'insert' | 'collapse';
  at: number;
  pages: number;
}

export interface Alignment {
  shifts: PageShift[];
  /** Positions of the new image that hold their page once the shifts are made. */
  inPlace: number;
}

/** Pages a shift must be confirmed by (what follows it matches too): a lone equal page proves nothing. */
const CONFIRM = 4;

/** First position of each distinct digest of a list. */
class Positions {
  private readonly first: Int32Array;
  private readonly index: DigestIndex;

  constructor(list: Buffer) {
    const count = digestCount(list);
    this.first = new Int32Array(count);
    this.index = new DigestIndex(count, { list: () => list, index: (n) => this.first[n]! });
    for (let i = 0; i < count; i++) {
      const before = this.index.size;
      this.first[before] = i; // read by the index only if this digest is new
      this.index.add(list, i);
    }
  }

  /** Where digest i of `other` first lies in this list, or -1. */
  of(other: Buffer, i: number): number {
    const n = this.index.find(other, i);
    return n < 0 ? -1 : this.first[n]!;
  }
}

/**
 * The shifts that align `held` (the digests of the file as it is) with `wanted` (the new image's), walking both once:
 * an equal page, or a changed one followed by equal ones, stays; otherwise the nearer of "pages were added here" (the
 * held page reappears later in `wanted`) and "pages went" (the wanted page lies later in `held`) becomes a shift.
 * Null when more than `maxShifts` would be needed (then copying is as cheap).
 */
export function alignPages(held: Buffer, wanted: Buffer, maxShifts = 64): Alignment | null {
  const m = digestCount(held);
  const n = digestCount(wanted);
  const eq = (i: number, j: number) => i < n && j < m && digestsEqual(wanted, i, held, j);
  const confirmed = (i: number, j: number) => {
    for (let r = 0; r < CONFIRM && i + r < n && j + r < m; r++) if (!eq(i + r, j + r)) return false;
    return true;
  };
  let inWanted: Positions | null = null;
  let inHeld: Positions | null = null;
  const shifts: PageShift[] = [];
  let inPlace = 0;
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (eq(i, j)) {
      inPlace++;
      i++;
      j++;
      continue;
    }
    // A page written since (the common case): what follows is still in place. Only then are the indexes built.
    if (i + 1 >= n || j + 1 >= m || eq(i + 1, j + 1)) {
      i++;
      j++;
      continue;
    }
    inWanted ??= new Positions(wanted);
    inHeld ??= new Positions(held);
    const added = inWanted.of(held, j);
    const gone = inHeld.of(wanted, i);
    const insertOk = added > i && confirmed(added, j);
    const collapseOk = gone > j && confirmed(i, gone);
    if (insertOk && (!collapseOk || added - i <= gone - j)) {
      shifts.push({ kind: 'insert', at: i, pages: added - i });
      i = added;
    } else if (collapseOk) {
      shifts.push({ kind: 'collapse', at: i, pages: gone - j });
      j = gone;
    } else {
      i++;
      j++;
    }
    if (shifts.length > maxShifts) return null;
  }
  return { shifts, inPlace };
}

/** Where each page of the file comes from after the shifts: its place before them, or -1 for an inserted hole. */
export function shiftedOrder(pages: number, shifts: readonly PageShift[]): Int32Array {
  let order = Int32Array.from({ length: pages }, (_, k) => k);
  for (const s of shifts) {
    if (s.kind === 'insert') {
      const at = Math.min(s.at, order.length);
      const next = new Int32Array(order.length + s.pages).fill(-1);
      next.set(order.subarray(0, at), 0);
      next.set(order.subarray(at), at + s.pages);
      order = next;
    } else {
      const end = Math.min(s.at + s.pages, order.length);
      const next = new Int32Array(order.length - (end - s.at));
      next.set(order.subarray(0, s.at), 0);
      next.set(order.subarray(end), s.at);
      order = next;
    }
  }
  return order;
}

/**
 * What the first `pages` places of the file hold after the shifts (`order`): the digests and known flags of the
 * pages moved there; an inserted hole is unknown here (the caller's plan checks it against the zero page).
 */
export function shiftedContent(
  held: Buffer,
  known: Uint8Array,
  order: Int32Array,
  pages: number,
): { digests: Buffer; known: Uint8Array } {
  const count = Math.min(pages, order.length);
  const digests = Buffer.alloc(count * DIGEST_BYTES);
  const k = new Uint8Array(count);
  for (let p = 0; p < count; p++) {
    const from = order[p]!;
    if (from < 0) continue;
    held.copy(digests, p * DIGEST_BYTES, from * DIGEST_BYTES, (from + 1) * DIGEST_BYTES);
    k[p] = known[from]!;
  }
  return { digests, known: k };
}

/** The places (before the shifts) of held pages that the shifts push out of the first `pages` places, or drop. */
export function pagesLeftOut(known: Uint8Array, order: Int32Array, pages: number): number[] {
  const stays = new Uint8Array(known.length);
  for (let p = 0; p < Math.min(pages, order.length); p++) if (order[p]! >= 0) stays[order[p]!] = 1;
  const out: number[] = [];
  for (let k = 0; k < known.length; k++) if (known[k] && !stays[k]) out.push(k);
  return out;
}
