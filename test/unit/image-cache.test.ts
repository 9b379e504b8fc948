import execa from 'execa';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseImageRef } from '../../domain/oci-image';
import { ImageCache } from '../../node/images';

/** A small OCI image made with umoci: two files, a link, an entrypoint and a working directory. */
async function makeImage(dir: string): Promise<string> {
  const layout = path.join(dir, 'layout');
  await execa('umoci', ['init', '--layout', layout]);
  await execa('umoci', ['new', '--image', `${layout}:base`]);
  const bundle = path.join(dir, 'bundle');
  await execa('umoci', ['unpack', '--image', `${layout}:base`, bundle]);
  await mkdir(path.join(bundle, 'rootfs', 'etc'), { recursive: true });
  await writeFile(
    path.join(bundle, 'rootfs', 'etc', 'passwd'),
    'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n',
  );
  await writeFile(path.join(bundle, 'rootfs', 'data.bin'), Buffer.alloc(300_000, 7));
  await symlink('data.bin', path.join(bundle, 'rootfs', 'link'));
  await execa('umoci', ['repack', '--image', `${layout}:base`, bundle]);
  await execa('umoci', [
    'config',
    ...['--image', `${layout}:base`, '--tag', 'app'],
    ...['--config.entrypoint', '/bin/app', '--config.cmd', '--serve', '--config.workingdir', '/srv'],
    ...['--config.env', 'MODE=image', '--config.exposedports', '8080/tcp', '--config.user', 'app'],
  ]);
  return `oci:${layout}:app`;
}

describe('a PC image cache (skopeo and umoci)', () => {
  let dir: string;
  let ref: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'zanshin-images-'));
    ref = await makeImage(dir);
  }, 30_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('pulls and unpacks an image once, gives its config, offers its files, and collects it when unused', async () => {
    const cache = new ImageCache(path.join(dir, 'cache'), { nodeId: 'pc1' });
    const first = await cache.pull(parseImageRef(ref));
    expect(first.fetched).toBe(true);
    expect(first.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(first.config).toMatchObject({
      Entrypoint: ['/bin/app'],
      Cmd: ['--serve'],
      WorkingDir: '/srv',
      User: 'app',
      ExposedPorts: { '8080/tcp': {} },
    });
    expect(first.config.Env).toContain('MODE=image');
    expect(await readFile(path.join(first.rootfs, 'data.bin'))).toEqual(Buffer.alloc(300_000, 7));

    // A second container from it: nothing fetched, the same unpacked copy.
    const again = await cache.pull(parseImageRef(ref));
    expect(again).toMatchObject({ fetched: false, digest: first.digest, rootfs: first.rootfs });

    // Its files are content this PC holds: a move here need not send them.
    const held = await cache.heldChunks();
    const located = [...held.values()].flat().map((l) => path.relative(first.rootfs, l.file));
    expect(located).toContain('data.bin');
    expect(located).toContain(path.join('etc', 'passwd'));

    // In use, or pulled a moment ago: kept. Unused and old enough: removed, blobs too.
    expect(await cache.collect(new Set([first.digest]), 0)).toEqual([]);
    expect(await cache.collect(new Set())).toEqual([]); // pulled under an hour ago
    expect(await cache.collect(new Set(), 0)).toEqual([first.digest]);
    expect(await cache.held()).toEqual([]);
    expect((await cache.heldChunks()).size).toBe(0);
    const blobs = await execa('find', [path.join(dir, 'cache', 'layout', 'blobs'), '-type', 'f']);
    expect(blobs.stdout.trim()).toBe('');
  }, 60_000);

  it('names the image and what skopeo said when it cannot be read', async () => {
    const cache = new ImageCache(path.join(dir, 'cache2'), { nodeId: 'pc1' });
    await expect(cache.pull(parseImageRef(`oci:${dir}/nowhere:app`))).rejects.toThrow(
      new RegExp(`reading image oci:${dir}/nowhere:app on pc1 failed: .+`),
    );
  });
});
