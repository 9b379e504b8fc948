// The transfers a PC is receiving, on disk under its store's staging directory (a restarted worker resumes them).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeManifest, Manifest } from '../../domain/manifest';
import { ChunkReader } from '../chunk-reader';
import { StagingPack } from '../staging';
import type { RemnantStore } from '../store';
import type { ChunkLocations } from '../scan';
import { ManifestKind, Transfer, TransferRecord } from './transfer';

export { Transfer } from './transfer';
export type { ManifestKind, TransferRecord } from './transfer';

export class UnknownTransferError extends Error {
  override name = 'UnknownTransferError';
}

const TRANSFER_ID = /^[A-Za-z0-9_-]{1,80}$/;

/** Transfers a node is receiving. State lives on disk, so a restarted worker resumes them. */
export class TransferRegistry {
  private readonly open = new Map<string, Promise<Transfer>>();

  /** `alsoHeld`: more content this PC holds for moves here (its unpacked images' files). */
  constructor(
    private readonly store: RemnantStore,
    private readonly alsoHeld: (into: ChunkLocations) => Promise<ChunkLocations> = (into) => Promise.resolve(into),
  ) {}

  private dir(transferId: string): string {
    if (!TRANSFER_ID.test(transferId))
      throw new UnknownTransferError(`malformed transfer id ${JSON.stringify(transferId)}`);
    return path.join(this.store.stagingRoot(), transferId);
  }

  /** Transfers prepared on this node since `since` and not finished: their containers' held data is promised. */
  async openSince(since: Date): Promise<TransferRecord[]> {
    const out: TransferRecord[] = [];
    for (const id of await readdir(this.store.stagingRoot()).catch(() => [] as string[])) {
      const raw = await readFile(path.join(this.store.stagingRoot(), id, 'transfer.json'), 'utf8').catch(() => null);
      if (!raw) continue;
      const record = JSON.parse(raw) as TransferRecord;
      if (Date.parse(record.createdAt) >= since.getTime()) out.push(record);
    }
    return out;
  }

  /** Opens a transfer for a container and returns its token (handed to the source by the workflow only). */
  async register(
    containerId: string,
    transferId: string = randomUUID(),
    seed?: { generation: number; imageDir: string },
  ): Promise<{ transferId: string; token: string }> {
    const dir = this.dir(transferId);
    const token = randomBytes(32).toString('base64url');
    const record: TransferRecord = {
      transferId,
      containerId,
      tokenSha256: createHash('sha256').update(token).digest('hex'),
      createdAt: new Date().toISOString(),
    };
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'transfer.json'), JSON.stringify(record, null, 2), { mode: 0o600 });
    } catch (err) {
      // A transfer that could not be opened (a full store, say) leaves no staging behind (found by the soak).
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    this.open.delete(transferId);
    if (seed) (await this.get(transferId)).seed(seed);
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
    const held = ChunkReader.fromLocations(await this.alsoHeld(await this.store.heldChunks()));
    const heldGeneration = (n: number) =>
      this.store.readGeneration(record.containerId, n).then(
        (g) => g.manifest,
        () => null,
      );
    const ownRootfs = async () => {
      const manifest = await this.store.readBundleManifest(record.containerId);
      return manifest ? { dir: this.store.rootfsDir(record.containerId), manifest } : null;
    };
    return new Transfer(
      record,
      dir,
      await StagingPack.open(path.join(dir, 'chunks')),
      manifests,
      held,
      heldGeneration,
      ownRootfs,
    );
  }

  private async release(transferId: string, keep: boolean): Promise<void> {
    const t = this.open.get(transferId);
    this.open.delete(transferId);
    const transfer = t && (await t.catch(() => null));
    await transfer?.settled(keep);
    await transfer?.pack.close();
    await transfer?.held.close();
  }

  /** Ends a transfer: its staged chunks are dropped (what was needed is in the store by then). */
  async finish(transferId: string): Promise<void> {
    await this.release(transferId, false);
    await rm(this.dir(transferId), { recursive: true, force: true });
  }

  /** Closes every open transfer's files (they stay on disk, to be resumed). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.open.keys()].map((id) => this.release(id, true)));
  }
}
