// The worker pool runs only from the build (jest runs sources), so it is checked in a child process on dist/.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import execa from 'execa';
import { dist } from '../../infra/cluster/cluster';
import { sha256 } from '../../node/scan';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-hash-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it.each([[4096], [1 << 20]])(
  'hashes %i-byte chunks of a large file on the worker pool exactly as in-thread, and lets its process exit',
  async (chunkSize) => {
    const data = randomBytes((20 << 20) + 100); // several blocks, and a last chunk that is short
    const file = path.join(dir, `f-${chunkSize}`);
    writeFileSync(file, data);
    const expected: string[] = [];
    for (let at = 0; at < data.length; at += chunkSize)
      expected.push(sha256(data.subarray(at, Math.min(at + chunkSize, data.length))));
    const script = `const s = require(${JSON.stringify(dist('node', 'scan.js'))}); const p = require(${JSON.stringify(dist('node', 'hash-pool.js'))});
    if (!p.hashPool()) { console.error('no hash pool in the build'); process.exit(2); }
    s.hashFileChunks(process.argv[1], ${data.length}, ${chunkSize}).then((h) => console.log(h.toString('hex')));`;
    const { stdout } = await execa(process.execPath, ['-e', script, file], { timeout: 30_000 });
    expect(stdout.trim()).toBe(expected.join(''));
  },
);

it('hashes a page file while it grows (as CRIU appends a dump) exactly as hashing it afterwards', async () => {
  const data = randomBytes((24 << 20) + 3 * 4096 + 100); // many steps, and a short last page
  const file = path.join(dir, 'pages-1.img');
  const expected: string[] = [];
  for (let at = 0; at < data.length; at += 4096)
    expected.push(sha256(data.subarray(at, Math.min(at + 4096, data.length))));
  // The child appends the data in uneven pieces over ~0.5 s while the follower hashes what is there.
  const script = `const fs = require('fs'); const { DumpFollower } = require(${JSON.stringify(dist('node', 'dump-follower.js'))});
  const data = fs.readFileSync(process.argv[2]); const file = process.argv[1];
  const f = DumpFollower.start(require('path').dirname(file));
  if (!f) { console.error('no hash pool in the build'); process.exit(2); }
  (async () => {
    const fd = fs.openSync(file, 'a');
    for (let at = 0; at < data.length; ) { const n = Math.min(data.length - at, 1000000 + (at % 7) * 12345); fs.writeSync(fd, data, at, n); at += n; await new Promise((r) => setTimeout(r, 20)); }
    fs.closeSync(fd);
    const hashes = await f.finish();
    console.log(hashes.get('pages-1.img').toString('hex'));
  })();`;
  const src = path.join(dir, 'source.bin');
  writeFileSync(src, data);
  const { stdout } = await execa(process.execPath, ['-e', script, file, src], { timeout: 30_000 });
  expect(stdout.trim()).toBe(expected.join(''));
});
