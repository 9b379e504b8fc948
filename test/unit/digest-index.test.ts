// Chunk hashes held packed, and the index that numbers them (what receiving images and offers look pages up in).
import { createHash } from 'node:crypto';
import {
  digestAt,
  DigestIndex,
  digestCount,
  digestHex,
  digestsEqual,
  listHex,
  packHex,
  sliceList,
  unpackHex,
} from '../../domain/digest-index';

const digest = (s: string) => createHash('sha256').update(s).digest();

describe('DigestIndex', () => {
  it('numbers distinct digests densely in first-added order and finds them again after growing', () => {
    const list = Buffer.concat(Array.from({ length: 5000 }, (_, i) => digest(`page-${i % 3000}`)));
    const index = new DigestIndex(); // starts small: grows many times
    const numbers = Array.from({ length: digestCount(list) }, (_, i) => index.add(list, i));
    expect(index.size).toBe(3000);
    expect(numbers.slice(0, 3)).toEqual([0, 1, 2]);
    expect(numbers[3000 + 7]).toBe(7); // a repeat gets the number of its first occurrence
    for (const i of [0, 1234, 2999, 4999]) expect(index.find(list, i)).toBe(i % 3000);
    expect(index.digest(42).equals(digest('page-42'))).toBe(true);
    expect(index.find(digest('never added'))).toBe(-1);
  });

  it('can read its digests from where the caller keeps them instead of copying them', () => {
    const list = Buffer.concat(Array.from({ length: 2000 }, (_, i) => digest(`page-${i % 700}`)));
    const firstAt: number[] = [];
    const index = new DigestIndex(4, { list: () => list, index: (n) => firstAt[n]! }); // grows many times
    for (let i = 0; i < digestCount(list); i++) {
      const fresh = index.size;
      if (index.add(list, i) === fresh) firstAt[fresh] = i;
    }
    expect(index.size).toBe(700);
    expect(index.find(list, 1400 + 5)).toBe(5);
    expect(index.digest(5).equals(digest('page-5'))).toBe(true);
    expect(index.find(digest('page-700'))).toBe(-1);
  });

  it('tells apart digests that differ only in their last byte, or share every word but one', () => {
    const index = new DigestIndex(4);
    const a = Buffer.alloc(32, 7);
    const b = Buffer.from(a);
    b[31] = 8;
    const c = Buffer.from(a);
    c.writeUInt32LE(0xdeadbeef, 12);
    expect([index.add(a), index.add(b), index.add(c), index.add(Buffer.from(b))]).toEqual([0, 1, 2, 1]);
    expect(index.find(Buffer.alloc(32, 7))).toBe(0);
  });
});

describe('packed digests', () => {
  it('round-trips hex, compares in place and refuses what is not a sha256 in hex', () => {
    const hexes = ['a', 'b', 'a'].map((s) => digest(s).toString('hex'));
    const packed = packHex(hexes);
    expect(packed.length).toBe(96);
    expect(unpackHex(packed)).toEqual(hexes);
    expect(digestHex(packed, 1)).toBe(hexes[1]);
    expect(digestsEqual(packed, 0, packed, 2)).toBe(true);
    expect(digestsEqual(packed, 0, packed, 1)).toBe(false);
    expect(() => packHex(['zz'])).toThrow(/not a hex sha256 digest/);
    expect(() => packHex([hexes[0]!.slice(2)])).toThrow(/not a hex sha256 digest/);
  });

  it('slices a list of chunks to send without copying it, clamped to its end', () => {
    const packed = packHex(['a', 'b', 'c', 'd'].map((s) => digest(s).toString('hex')));
    const list = { count: 4, hash: (k: number) => digestAt(packed, k) };
    expect(listHex(sliceList(list, 1, 3))).toEqual([digestHex(packed, 1), digestHex(packed, 2)]);
    expect(sliceList(list, 3, 10).count).toBe(1);
    expect(sliceList(list, 5).count).toBe(0);
  });
});
