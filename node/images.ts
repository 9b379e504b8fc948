// A PC's OCI images: pulled with skopeo into one OCI layout (a layer shared by images is stored once), unpacked with
// umoci once per image, and held as content: a container created from an image starts from a copy of its rootfs,
// and the image's files serve moves to this PC like a remnant's (a first move of a container from an image this PC
// holds sends none of the image's bytes).
import execa from 'execa';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { decodeManifest, Manifest, manifestParts } from '../domain/manifest';
import { ImageConfig, ImageRef, ImageRefError, skopeoRef } from '../domain/oci-image';
import { ExecutorError } from './executor-config';
import { refuseDeviceNodes } from './rootfs-source';
import { ChunkLocations, locationsOf, scanDirectory } from './scan';
import { writeAtomic } from './store-files';

export interface PulledImage {
  /** The image manifest's digest (sha256:...): what a container records, and the name of its unpacked copy. */
  digest: string;
  /** The unpacked rootfs (never written: containers get copies). */
  rootfs: string;
  config: ImageConfig;
  /** Whether this call brought the image here (false: this PC held it already, nothing was fetched). */
  fetched: boolean;
}

interface ImageRecord {
  ref: string;
  digest: string;
  config: ImageConfig;
  pulledAt: string;
}

export interface ImageCacheOptions {
  nodeId: string;
  /** Registries (host[:port]) reached without TLS verification (a campus registry with a self-signed certificate). */
  insecureRegistries?: string[];
}

/** An image no container uses stays this long after its pull. */
export const IMAGE_MIN_AGE_MS = 3_600_000;

const hexOf = (digest: string): string => {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw new ExecutorError(`image digest ${digest} is not a sha256 digest`);
  return m[1]!;
};

export class ImageCache {
  /** One pull at a time: two containers from one image must not unpack it twice side by side. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly root: string,
    private readonly options: ImageCacheOptions,
  ) {}

  private get layout(): string {
    return path.join(this.root, 'layout');
  }

  private dirOf(digest: string): string {
    return path.join(this.root, 'unpacked', hexOf(digest));
  }

  /** Brings an image here (unless held) and unpacks it; throws naming the reference and skopeo's or umoci's words. */
  pull(ref: ImageRef): Promise<PulledImage> {
    const run = this.queue.then(() => this.pullNow(ref));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private skopeoFlags(ref: ImageRef, direction: 'src' | 'dest' | 'inspect'): string[] {
    if (ref.transport !== 'docker') return [];
    const host = ref.reference!.split('/')[0]!;
    if (!(this.options.insecureRegistries ?? []).includes(host)) return [];
    return [direction === 'inspect' ? '--tls-verify=false' : `--${direction}-tls-verify=false`];
  }

  private async skopeo(args: string[], what: string): Promise<string> {
    const r = await execa('skopeo', args, { reject: false, timeout: 30 * 60_000 });
    if (r.exitCode !== 0)
      throw new ExecutorError(
        `${what} on ${this.options.nodeId} failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`,
      );
    return r.stdout;
  }

  private async pullNow(ref: ImageRef): Promise<PulledImage> {
    const name = skopeoRef(ref);
    const inspected = JSON.parse(
      await this.skopeo(['inspect', ...this.skopeoFlags(ref, 'inspect'), name], `reading image ${name}`),
    ) as { Digest?: string };
    if (!inspected.Digest) throw new ExecutorError(`image ${name}: skopeo gave no digest`);
    const digest = inspected.Digest;
    const dir = this.dirOf(digest);
    const held = await this.record(digest);
    if (held) return { digest, rootfs: path.join(dir, 'rootfs'), config: held.config, fetched: false };
    await mkdir(this.root, { recursive: true });
    const tag = hexOf(digest);
    // Into the shared layout: blobs it holds already (layers of another image) are not fetched again.
    await this.skopeo(
      ['copy', '--quiet', ...this.skopeoFlags(ref, 'src'), name, `oci:${this.layout}:${tag}`],
      `fetching image ${name}`,
    );
    const config = await this.configInLayout(tag);
    const partial = `${dir}.partial`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(path.dirname(dir), { recursive: true });
    const unpacked = await execa('umoci', ['unpack', '--image', `${this.layout}:${tag}`, partial], { reject: false });
    if (unpacked.exitCode !== 0) {
      await rm(partial, { recursive: true, force: true });
      throw new ExecutorError(`unpacking image ${name} on ${this.options.nodeId} failed: ${unpacked.stderr.trim()}`);
    }
    await refuseDeviceNodes(path.join(partial, 'rootfs'), name).catch(async (err: unknown) => {
      await rm(partial, { recursive: true, force: true });
      throw err;
    });
    // Its files as content this PC holds (what a move here need not send).
    const { manifest } = await scanDirectory(
      path.join(partial, 'rootfs'),
      'bundle',
      `image-${tag.slice(0, 12)}`,
      undefined,
      {
        withLocations: false,
      },
    );
    await writeAtomic(path.join(partial, 'rootfs.manifest'), manifestParts(manifest));
    const record: ImageRecord = { ref: name, digest, config, pulledAt: new Date().toISOString() };
    await writeAtomic(path.join(partial, 'image.json'), JSON.stringify(record, null, 2));
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
    return { digest, rootfs: path.join(dir, 'rootfs'), config, fetched: true };
  }

  /** An image's config as its manifest in the layout names it (index.json -> manifest -> config blob). */
  private async configInLayout(tag: string): Promise<ImageConfig> {
    const blob = async (digest: string) =>
      JSON.parse(await readFile(path.join(this.layout, 'blobs', 'sha256', hexOf(digest)), 'utf8')) as Record<
        string,
        unknown
      >;
    const index = JSON.parse(await readFile(path.join(this.layout, 'index.json'), 'utf8')) as {
      manifests: { digest: string; annotations?: Record<string, string> }[];
    };
    const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
    if (!entry) throw new ExecutorError(`image ${tag} is missing from ${this.layout} after skopeo copied it`);
    const manifest = (await blob(entry.digest)) as { config?: { digest: string } };
    if (!manifest.config) throw new ImageRefError(`image ${tag} has no config (not an OCI image manifest)`);
    return (await blob(manifest.config.digest)).config ?? {};
  }

  private async record(digest: string): Promise<ImageRecord | null> {
    const dir = this.dirOf(digest);
    const text = await readFile(path.join(dir, 'image.json'), 'utf8').catch(() => null);
    if (text === null || !(await stat(path.join(dir, 'rootfs')).catch(() => null))) return null;
    return JSON.parse(text) as ImageRecord;
  }

  /** Digests of the images unpacked here. */
  async held(): Promise<string[]> {
    const out: string[] = [];
    for (const name of await readdir(path.join(this.root, 'unpacked')).catch(() => [] as string[]))
      if (/^[a-f0-9]{64}$/.test(name) && (await this.record(`sha256:${name}`))) out.push(`sha256:${name}`);
    return out;
  }

  /** The chunks of every unpacked image's files, where they lie. */
  async heldChunks(into: ChunkLocations = new Map()): Promise<ChunkLocations> {
    for (const digest of await this.held()) {
      const dir = this.dirOf(digest);
      const bytes = await readFile(path.join(dir, 'rootfs.manifest')).catch(() => null);
      if (!bytes) continue;
      let manifest: Manifest;
      try {
        manifest = decodeManifest(bytes);
      } catch (err) {
        // Its files are not offered (collect() removes it once unused).
        console.error(
          `image ${digest} on ${this.options.nodeId}: its files' record is unreadable: ${(err as Error).message}`,
        );
        continue;
      }
      locationsOf(manifest, path.join(dir, 'rootfs'), into);
    }
    return into;
  }

  /**
   * Removes the images no container here uses, pulled over `minAgeMs` ago (one pulled for a container being created
   * is not in use yet), then the layout's blobs no image refers to. Returns their digests.
   */
  async collect(inUse: Set<string>, minAgeMs = IMAGE_MIN_AGE_MS, now = Date.now()): Promise<string[]> {
    const run = this.queue.then(async () => {
      const removed: string[] = [];
      for (const digest of await this.held()) {
        if (inUse.has(digest)) continue;
        const pulledAt = Date.parse((await this.record(digest))?.pulledAt ?? '');
        if (!(now - pulledAt > minAgeMs)) continue;
        await rm(this.dirOf(digest), { recursive: true, force: true });
        await execa('umoci', ['rm', '--image', `${this.layout}:${hexOf(digest)}`], { reject: false });
        removed.push(digest);
      }
      if (removed.length) await execa('umoci', ['gc', '--layout', this.layout], { reject: false });
      return removed;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}
