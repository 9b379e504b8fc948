import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeManifest, encodeManifest, Manifest } from '../../domain/manifest';
import { ChunkReader } from '../chunk-reader';
import { StagingPack } from '../staging';
import { RemnantStore } from '../store';

export type ManifestKind = Manifest['kind'];

interface TransferRecord {
  transferId: string;
  containerId: string;
  /** sha256 of the token: the token itself is never stored. */
  tokenSha256: string;
  createdAt: string;
}

/** One incoming transfer on the target: its token, staged chunks and the manifests offered so far. */
export class Transfer {
  /** Hashes named by the offered manifests: the only chunks this transfer accepts. */
  private readonly wanted = new Set<string>();

  constructor(
    readonly record: TransferRecord,
    readonly dir: string,
    readonly pack: StagingPack,
    readonly manifests: Partial<Record<ManifestKind, Manifest>>,
    readonly held: ChunkReader,
  ) {
    for (const m of Object.values(manifests)) this.want(m);
  }

  checkToken(token: string): boolean {
    const given = createHash('sha256').update(token).digest();
    return timingSafeEqual(given, Buffer.from(this.record.tokenSha256, 'hex'));
  }

  private want(m: Manifest): void {
    for (const e of m.entries) for (const h of e.chunks ?? []) this.wanted.add(h);
  }

  isWanted(hash: string): boolean {
    return this.wanted.has(hash);
  }

  /** Present here already: staged for this transfer, or held by the node's store. */
  has(hash: string): boolean {
    return this.pack.has(hash) || this.held.has(hash);
  }

  async offer(m: Manifest): Promise<void> {
    await writeFile(path.join(this.dir, `${m.kind}.manifest`), encodeManifest(m));
    this.manifests[m.kind] = m;
    this.want(m);
  }

  /** Reads chunks from the staging pack first, then from the node's store. */
  reader(): ChunkReader {
    return new ChunkReader([
      (h) => {
        const l = this.pack.location(h);
        return l ? [l] : undefined;
      },
      (h) => this.held.candidates(h),
    ]);
  }
}

export class UnknownTransferError extends Error {
  override name = 'UnknownTransferError';
}

const TRANSFER_ID = /^[A-Za-z0-9_-]{1,80}$/;

/** Transfers a node is receiving. State lives on disk, so a restarted worker resumes them. */
export class TransferRegistry {
  private readonly open = new Map<string, Promise<Transfer>>();

  constructor(private readonly store: RemnantStore) {}

  private dir(transferId: string): string {
    if (!TRANSFER_ID.test(transferId))
      throw new UnknownTransferError(`malformed transfer id ${JSON.stringify(transferId)}`);
    return path.join(this.store.stagingRoot(), transferId);
  }

  /** Opens a transfer for a container and returns its token (handed to the source by the workflow only). */
  async register(
    containerId: string,
    transferId: string = randomUUID(),
  ): Promise<{ transferId: string; token: string }> {
    const dir = this.dir(transferId);
    const token = randomBytes(32).toString('base64url');
    await mkdir(dir, { recursive: true });
    const record: TransferRecord = {
      transferId,
      containerId,
      tokenSha256: createHash('sha256').update(token).digest('hex'),
      createdAt: new Date().toISOString(),
    };
    await writeFile(path.join(dir, 'transfer.json'), JSON.stringify(record, null, 2), { mode: 0o600 });
    this.open.delete(transferId);
    return { transferId, token };
  }

  async get(transferId: string): Promise<Transfer> {
    let t = this.open.get(transferId);
    if (!t) {
      t = this.load(transferId);
      this.open.set(transferId, t);
      t.catch(() => this.open.delete(transferId));
    }
    return t;
  }

  private async load(transferId: string): Promise<Transfer> {
    const dir = this.dir(transferId);
    const raw = await readFile(path.join(dir, 'transfer.json'), 'utf8').catch(() => null);
    if (!raw)
      throw new UnknownTransferError(`no transfer ${transferId} on this node (never prepared, or already finished)`);
    const record = JSON.parse(raw) as TransferRecord;
    const manifests: Partial<Record<ManifestKind, Manifest>> = {};
    for (const kind of ['bundle', 'checkpoint'] as const) {
      const file = path.join(dir, `${kind}.manifest`);
      if (
        await stat(file).then(
          () => true,
          () => false,
        )
      )
        manifests[kind] = decodeManifest(await readFile(file));
    }
    const held = ChunkReader.fromLocations(await this.store.heldChunks());
    return new Transfer(record, dir, await StagingPack.open(path.join(dir, 'chunks')), manifests, held);
  }

  private async release(transferId: string): Promise<void> {
    const t = this.open.get(transferId);
    this.open.delete(transferId);
    const transfer = t && (await t.catch(() => null));
    await transfer?.pack.close();
    await transfer?.held.close();
  }

  /** Ends a transfer: its staged chunks are dropped (what was needed is in the store by then). */
  async finish(transferId: string): Promise<void> {
    await this.release(transferId);
    await rm(this.dir(transferId), { recursive: true, force: true });
  }

  /** Closes every open transfer's files (they stay on disk, to be resumed). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.open.keys()].map((id) => this.release(id)));
  }
}
