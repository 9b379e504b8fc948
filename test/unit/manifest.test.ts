import { createHash } from 'node:crypto';
import { listHex, packHex } from '../../domain/digest-index';
import {
  checkRelativePath,
  decodeManifest,
  encodeManifest,
  manifestBase,
  manifestDigest,
  Manifest,
  manifestStats,
  missingChunks,
  manifestHeaderBytes,
  manifestHeaderLength,
  missingPositions,
  readMissingPositions,
  resolveInside,
  validateManifest,
} from '../../domain/manifest';

const h = (s: string) => createHash('sha256').update(s).digest('hex');

const checkpoint: Manifest = {
  kind: 'checkpoint',
  containerId: 'c1',
  generation: 2,
  entries: [
    {
      path: 'pages-1.img',
      type: 'file',
      mode: 0o644,
      size: 3 * 4096,
      chunkSize: 4096,
      chunks: packHex([h('a'), h('b'), h('a')]),
    },
    { path: 'core-1.img', type: 'file', mode: 0o644, size: 10, chunkSize: 1 << 20, chunks: packHex([h('core')]) },
  ],
};

describe('manifest paths', () => {
  it.each(['../etc/passwd', 'a/../../b', '/abs', '', 'a//b', './a', 'a\\b', 'a\0b'])('refuses %j', (p) => {
    expect(() => checkRelativePath(p)).toThrow(/manifest path/);
  });

  it('accepts plain relative paths and resolves them inside the root', () => {
    expect(resolveInside('/store/img', 'pages-1.img')).toBe('/store/img/pages-1.img');
    expect(resolveInside('/r', 'usr/bin/x')).toBe('/r/usr/bin/x');
  });
});

describe('manifest validation', () => {
  it('accepts a well-formed checkpoint manifest', () => {
    expect(validateManifest(checkpoint)).toBe(checkpoint);
  });

  it.each([
    [
      'a path with ..',
      { path: '../x', type: 'file', mode: 0o644, size: 1, chunkSize: 1 << 20, chunks: packHex([h('x')]) },
      /segment/,
    ],
    [
      'a nested path in a checkpoint',
      { path: 'a/b.img', type: 'file', mode: 0o644, size: 1, chunkSize: 1 << 20, chunks: packHex([h('x')]) },
      /top of the image/,
    ],
    [
      'a wrong chunk count',
      { path: 'x.img', type: 'file', mode: 0o644, size: 5 << 20, chunkSize: 1 << 20, chunks: packHex([h('x')]) },
      /1 chunks for/,
    ],
    [
      'a wrong page size',
      { path: 'pages-2.img', type: 'file', mode: 0o644, size: 4096, chunkSize: 1 << 20, chunks: packHex([h('x')]) },
      /chunk size/,
    ],
    [
      'a chunk list that is not whole digests',
      { path: 'x.img', type: 'file', mode: 0o644, size: 1, chunkSize: 1 << 20, chunks: Buffer.alloc(33) },
      /invalid size, chunk size or chunk list/,
    ],
    [
      'a chunk list that is not packed digests',
      { path: 'x.img', type: 'file', mode: 0o644, size: 1, chunkSize: 1 << 20, chunks: [h('x')] },
      /invalid size, chunk size or chunk list/,
    ],
    [
      'a bad mode',
      { path: 'x.img', type: 'file', mode: 0o17777, size: 1, chunkSize: 1 << 20, chunks: packHex([h('x')]) },
      /invalid mode/,
    ],
  ])('refuses %s', (_what, entry, message) => {
    expect(() => validateManifest({ ...checkpoint, entries: [entry as unknown as Manifest['entries'][0]] })).toThrow(
      message,
    );
  });

  it('refuses a duplicate path and an invalid container id', () => {
    expect(() =>
      validateManifest({ ...checkpoint, entries: [checkpoint.entries[1]!, checkpoint.entries[1]!] }),
    ).toThrow(/twice/);
    expect(() => validateManifest({ ...checkpoint, containerId: '../c' })).toThrow(/invalid container id/);
  });
});

describe('manifest encoding', () => {
  it('round-trips, storing each hash as 32 raw bytes', () => {
    const buf = encodeManifest(checkpoint);
    expect(decodeManifest(buf)).toEqual(checkpoint);
    const headerLength = buf.readUInt32BE(0);
    expect(buf.length - 4 - headerLength).toBe(4 * 32);
  });

  it('refuses truncated or padded input', () => {
    const buf = encodeManifest(checkpoint);
    expect(() => decodeManifest(buf.subarray(0, buf.length - 1))).toThrow(/bad chunk count/);
    expect(() => decodeManifest(Buffer.concat([buf, Buffer.from([0])]))).toThrow(/trailing bytes/);
    expect(() => decodeManifest(Buffer.from([0, 0]))).toThrow(/truncated/);
  });
});

describe('manifest deltas', () => {
  const pages = (n: number, tag: string, changed: number[] = []): string[] =>
    Array.from({ length: n }, (_, i) => h(changed.includes(i) ? `${tag}-${i}` : `page-${i}`));
  const image = (generation: number, chunks: string[]): Manifest => ({
    kind: 'checkpoint',
    containerId: 'c1',
    generation,
    entries: [
      {
        path: 'pages-1.img',
        type: 'file',
        mode: 0o644,
        size: chunks.length * 4096,
        chunkSize: 4096,
        chunks: packHex(chunks),
      },
      {
        path: 'core-1.img',
        type: 'file',
        mode: 0o644,
        size: 10,
        chunkSize: 1 << 20,
        chunks: packHex([h(`core-${generation}`)]),
      },
    ],
  });

  it('carries only the positions that differ from a base the receiver holds, and rebuilds the whole manifest', () => {
    const base = image(1, pages(1000, 'g1'));
    const next = image(2, pages(1002, 'g2', [3, 500, 1000, 1001])); // two pages changed, two added
    const full = encodeManifest(next);
    const delta = encodeManifest(next, base);
    expect(manifestBase(delta)).toEqual({ generation: 1, digest: manifestDigest(base) });
    expect(manifestBase(full)).toBeNull();
    expect(decodeManifest(delta, base)).toEqual(next);
    // Another checkpoint under the same number is not that base (issue 28, hazard 1).
    const impostor = image(1, pages(1000, 'other', [5]));
    expect(manifestDigest(impostor)).not.toBe(manifestDigest(base));
    expect(() => decodeManifest(delta, impostor)).toThrow(/another generation 1 than the one given/);
    // 4 changed pages and the core file: 5 records of 36 bytes instead of 1003 hashes of 32.
    expect(delta.length - 4 - delta.readUInt32BE(0)).toBe(5 * 36);
    expect(full.length - 4 - full.readUInt32BE(0)).toBe(1003 * 32);
  });

  it('shrinks with the image, and refuses a delta without its base or with a change past the end', () => {
    const base = image(1, pages(1000, 'g1'));
    const smaller = image(2, pages(10, 'g2', [0]));
    expect(decodeManifest(encodeManifest(smaller, base), base)).toEqual(smaller);
    const delta = encodeManifest(image(2, pages(1000, 'g2', [7])), base);
    expect(() => decodeManifest(delta)).toThrow(/relative to generation 1/);
    expect(() => decodeManifest(delta, image(3, pages(1000, 'g3')))).toThrow(/relative to generation 1/);
    // A grown file whose new positions are not all listed cannot be rebuilt.
    const tampered = Buffer.from(delta);
    const header = JSON.parse(tampered.subarray(4, 4 + tampered.readUInt32BE(0)).toString()) as {
      entries: { chunkCount: number }[];
    };
    header.entries[0]!.chunkCount = 1001;
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(json.length);
    const grown = Buffer.concat([len, json, tampered.subarray(4 + tampered.readUInt32BE(0))]);
    expect(() => decodeManifest(grown, base)).toThrow(/grew without listing/);
  });
});

describe('missing chunks', () => {
  it('lists each distinct chunk the holder lacks once', () => {
    const isB = (list: Buffer, i: number) => list.toString('hex', 32 * i, 32 * i + 32) === h('b');
    expect(missingChunks(checkpoint, isB)).toEqual([h('a'), h('core')]);
    expect(manifestStats(checkpoint)).toEqual({ files: 2, bytes: 3 * 4096 + 10, chunks: 4, uniqueChunks: 3 });
  });

  it('answers an offer with the first place of each missing chunk, which the source reads back from its manifest', () => {
    const answer = missingPositions(checkpoint, (list, i) => list.toString('hex', 32 * i, 32 * i + 32) === h('b'));
    expect(answer.length).toBe(2 * 8); // a: entry 0 chunk 0 (not again at chunk 2); core: entry 1 chunk 0
    const { hashes, positions } = readMissingPositions(checkpoint, answer);
    expect(listHex(hashes)).toEqual([h('a'), h('core')]);
    expect([...positions]).toEqual([0, 0, 1, 0]);
  });

  it('sizes an image from the header alone, without its chunk lists', () => {
    const encoded = encodeManifest(checkpoint);
    const header = encoded.subarray(0, manifestHeaderLength(encoded.subarray(0, 4)));
    expect(header.length).toBeLessThan(encoded.length - 4 * 32 + 1);
    expect(manifestHeaderBytes(header)).toBe(manifestStats(checkpoint).bytes);
  });

  it('refuses an answer naming a place the manifest does not have', () => {
    const bad = Buffer.alloc(8);
    bad.writeUInt32BE(0, 0);
    bad.writeUInt32BE(3, 4); // pages-1.img has chunks 0-2
    expect(() => readMissingPositions(checkpoint, bad)).toThrow(/chunk 3 of entry 0/);
    expect(() => readMissingPositions(checkpoint, Buffer.alloc(5))).toThrow(/not a list of positions/);
  });
});

describe('bundle manifest order', () => {
  const file = (p: string) => ({
    path: p,
    type: 'file' as const,
    mode: 0o644,
    size: 1,
    chunkSize: 1 << 20,
    chunks: packHex([h('x')]),
  });
  const dir = (p: string) => ({ path: p, type: 'dir' as const, mode: 0o755 });
  const bundle = (entries: Manifest['entries']): Manifest => ({ kind: 'bundle', containerId: 'c1', entries });

  it('accepts parents before their children', () => {
    const m = bundle([dir('a'), dir('a/b'), file('a/b/c'), file('top')]);
    expect(validateManifest(m)).toBe(m);
  });

  it('refuses an entry under a symlink listed before it (it would land wherever the link points)', () => {
    const m = bundle([{ path: 'a', type: 'symlink', mode: 0o777, target: '/host-etc' }, file('a/b')]);
    expect(() => validateManifest(m)).toThrow('manifest places a/b under a, which is not a directory');
  });

  it('refuses an entry listed before its directory, and one under a file', () => {
    expect(() => validateManifest(bundle([file('a/b'), dir('a')]))).toThrow(
      'manifest lists a/b before its directory a (parents must come first)',
    );
    expect(() => validateManifest(bundle([file('a'), file('a/b')]))).toThrow(/under a, which is not a directory/);
  });
});
