// The image a target builds in place: what it asks for after planning an offer, and where it finds the rest.
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FrameBatch } from '../../domain/chunk-frames';
import { digestAt } from '../../domain/digest-index';
import { missingPositions, PAGE_SIZE } from '../../domain/manifest';
import { ChunkReader } from '../../node/chunk-reader';
import { ReceivingImage } from '../../node/receiving-image';
import { scanDirectory } from '../../node/scan';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-ri-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const pages = (...ps: Buffer[]) => Buffer.concat(ps);

it('asks for each missing chunk once, at its first place, and copies pages it already holds elsewhere in the image', async () => {
  const page = () => randomBytes(PAGE_SIZE);
  const [a, b, c, d, e] = [page(), page(), page(), page(), page()];
  const zero = Buffer.alloc(PAGE_SIZE);
  // Held before: a b c. Offered: a b c (kept), d d (new, repeated), zero (a hole), e (new), c a (copies of kept).
  const seed = path.join(tmp, 'seed');
  const receiving = path.join(tmp, 'receiving');
  const offered = path.join(tmp, 'offered');
  for (const dir of [seed, offered]) mkdirSync(dir);
  writeFileSync(path.join(seed, 'pages-1.img'), pages(a, b, c));
  const wanted = pages(a, b, c, d, d, zero, e, c, a);
  writeFileSync(path.join(offered, 'pages-1.img'), wanted);
  const { manifest } = await scanDirectory(offered, 'checkpoint', 'c1', 2);

  const image = await ReceivingImage.open(receiving);
  await image.seedFrom(seed);
  await image.plan(manifest, new ChunkReader([]));

  // d and e only; d at its first place (chunk 3), e at chunk 6. The same answer as reading the whole manifest.
  const answer = image.missingPositions();
  expect(Array.from({ length: answer.length / 4 }, (_, j) => answer.readUInt32BE(j * 4))).toEqual([0, 3, 0, 6]);
  expect(answer.equals(missingPositions(manifest, (list, i) => !image.wants(digestAt(list, i))))).toBe(true);

  const hashes = manifest.entries[0]!.chunks!;
  expect(await image.write(FrameBatch.of([{ hash: digestAt(hashes, 3), data: d }]))).toBe(1);
  expect(await image.write(FrameBatch.of([{ hash: digestAt(hashes, 6), data: e }]))).toBe(1);
  expect(image.missingCount).toBe(0);
  expect(image.missingPositions().length).toBe(0);
  expect(readFileSync(path.join(receiving, 'pages-1.img')).equals(wanted)).toBe(true);
});

it("finds a previous image's pages by digest in files the new one does not name, then removes those files", async () => {
  // A live pre-copy round names its pages files by process id (pages-4242.img); CRIU's final dump by page-file id
  // (pages-1.img), in another order. Found by the 1 GiB bench: the final transfer sent the whole image again.
  const page = () => randomBytes(PAGE_SIZE);
  const [a, b, c, d] = [page(), page(), page(), page()];
  const seed = path.join(tmp, 'seed');
  const receiving = path.join(tmp, 'receiving');
  const offered = path.join(tmp, 'offered');
  for (const dir of [seed, offered]) mkdirSync(dir);
  writeFileSync(path.join(seed, 'pages-4242.img'), pages(a, b, c));
  const wanted = pages(d, c, a, b);
  writeFileSync(path.join(offered, 'pages-1.img'), wanted);
  const { manifest } = await scanDirectory(offered, 'checkpoint', 'c1', 2);

  const image = await ReceivingImage.open(receiving);
  await image.seedFrom(seed);
  await image.plan(manifest, new ChunkReader([]));

  // Only d travels; a, b and c came from the live round's file, which is gone now.
  expect(image.missingCount).toBe(1);
  const hashes = manifest.entries[0]!.chunks!;
  expect(await image.write(FrameBatch.of([{ hash: digestAt(hashes, 0), data: d }]))).toBe(1);
  expect(image.missingCount).toBe(0);
  expect(readFileSync(path.join(receiving, 'pages-1.img')).equals(wanted)).toBe(true);
  expect(existsSync(path.join(receiving, 'pages-4242.img'))).toBe(false);
});

it("takes over, by renaming, the live round's file whose pages lie where the final dump puts them", async () => {
  // A live round lays its pages out as CRIU does (live-copy.test.ts): pages-1.img of the final dump differs from the
  // round's pages-4242.img only where pages were written since. Found by the 1 GiB bench: the whole image was copied
  // into pages-1.img inside the freeze (7.2 s of downtime against 3.7 s before the live copy).
  const page = () => randomBytes(PAGE_SIZE);
  const [a, b, c, d, e, f] = [page(), page(), page(), page(), page(), page()];
  const seed = path.join(tmp, 'seed');
  const receiving = path.join(tmp, 'receiving');
  const offered = path.join(tmp, 'offered');
  for (const dir of [seed, offered]) mkdirSync(dir);
  writeFileSync(path.join(seed, 'pages-4242.img'), pages(a, b, c, d)); // the round, as held
  writeFileSync(path.join(seed, 'pages-77.img'), pages(f, f)); // another process's round: not this file's
  const wanted = pages(a, e, c, d, d); // b rewritten since (e); one page more
  writeFileSync(path.join(offered, 'pages-1.img'), wanted);
  const { manifest } = await scanDirectory(offered, 'checkpoint', 'c1', 2);

  const image = await ReceivingImage.open(receiving);
  await image.seedFrom(seed);
  const { ino } = statSync(path.join(receiving, 'pages-4242.img'));
  await image.plan(manifest, new ChunkReader([]));

  expect(statSync(path.join(receiving, 'pages-1.img')).ino).toBe(ino); // the same file: nothing copied into it
  expect(existsSync(path.join(receiving, 'pages-4242.img'))).toBe(false);
  expect(existsSync(path.join(receiving, 'pages-77.img'))).toBe(false); // dropped, as before
  expect(image.missingCount).toBe(1); // e only (the extra d is copied from its neighbour)
  const hashes = manifest.entries[0]!.chunks!;
  expect(await image.write(FrameBatch.of([{ hash: digestAt(hashes, 1), data: e }]))).toBe(1);
  expect(readFileSync(path.join(receiving, 'pages-1.img')).equals(wanted)).toBe(true);
});

it("shifts the round's file into the final layout when the program gained and freed pages since (no copy)", async () => {
  // Found by the 1 GiB redis bench: a writer's new keys added pages between the live round and the final dump, every
  // page after them sat a few places off, and the whole image was copied into place inside the freeze (14.5 s).
  const held = Array.from({ length: 64 }, () => randomBytes(PAGE_SIZE));
  const gained = [randomBytes(PAGE_SIZE), randomBytes(PAGE_SIZE), randomBytes(PAGE_SIZE)];
  const wanted = [...held.slice(0, 10), ...gained, ...held.slice(10, 40), ...held.slice(45)]; // 40..44 freed
  const seed = path.join(tmp, 'seed');
  const receiving = path.join(tmp, 'receiving');
  const offered = path.join(tmp, 'offered');
  for (const dir of [seed, offered]) mkdirSync(dir);
  writeFileSync(path.join(seed, 'pages-4242.img'), pages(...held));
  writeFileSync(path.join(offered, 'pages-1.img'), pages(...wanted));
  const { manifest } = await scanDirectory(offered, 'checkpoint', 'c1', 2);

  const image = await ReceivingImage.open(receiving);
  await image.seedFrom(seed);
  const { ino } = statSync(path.join(receiving, 'pages-4242.img'));
  const copies = jest.spyOn(image, 'write');
  await image.plan(manifest, new ChunkReader([]));

  expect(statSync(path.join(receiving, 'pages-1.img')).ino).toBe(ino);
  expect(copies).not.toHaveBeenCalled();
  expect(image.missingCount).toBe(3); // the gained pages only
  const hashes = manifest.entries[0]!.chunks!;
  const sent = gained.map((data, k) => ({ hash: digestAt(hashes, 10 + k), data }));
  expect(await image.write(FrameBatch.of(sent))).toBe(3);
  expect(readFileSync(path.join(receiving, 'pages-1.img')).equals(pages(...wanted))).toBe(true);
  expect(readdirSync(receiving)).toEqual(['pages-1.img']); // the pages set aside are gone too
});

it('shifts back into place a held file of the same name whose pages sit off their places (a move back)', async () => {
  const held = Array.from({ length: 64 }, () => randomBytes(PAGE_SIZE));
  const gained = [randomBytes(PAGE_SIZE), randomBytes(PAGE_SIZE)];
  const wanted = [...held.slice(0, 5), ...gained, ...held.slice(5, 30), ...held.slice(33)]; // 30..32 freed
  const seed = path.join(tmp, 'seed');
  const receiving = path.join(tmp, 'receiving');
  const offered = path.join(tmp, 'offered');
  for (const dir of [seed, offered]) mkdirSync(dir);
  writeFileSync(path.join(seed, 'pages-1.img'), pages(...held)); // the remnant's image
  writeFileSync(path.join(offered, 'pages-1.img'), pages(...wanted));
  const { manifest } = await scanDirectory(offered, 'checkpoint', 'c1', 2);

  const image = await ReceivingImage.open(receiving);
  await image.seedFrom(seed);
  const copies = jest.spyOn(image, 'write'); // how the plan puts held pages it found elsewhere in place
  await image.plan(manifest, new ChunkReader([]));

  expect(copies).not.toHaveBeenCalled(); // shifted into place: nothing copied
  expect(image.missingCount).toBe(2);
  const hashes = manifest.entries[0]!.chunks!;
  expect(await image.write(FrameBatch.of(gained.map((data, k) => ({ hash: digestAt(hashes, 5 + k), data }))))).toBe(2);
  expect(readFileSync(path.join(receiving, 'pages-1.img')).equals(pages(...wanted))).toBe(true);
  expect(readdirSync(receiving)).toEqual(['pages-1.img']);
});
