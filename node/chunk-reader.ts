import { open, FileHandle } from 'node:fs/promises';
import { ChunkLocation, ChunkLocations, sha256 } from './scan';

export class ChunkUnavailableError extends Error {
  override name = 'ChunkUnavailableError';
}

/**
 * Reads chunks from wherever this node holds them, verifying each against its hash. A location whose bytes
 * no longer match (a file changed since its manifest) is skipped for the next one.
 */
export class ChunkReader {
  private readonly handles = new Map<string, Promise<FileHandle>>();
  /** Bytes read from disk, for reports. */
  bytesRead = 0;

  constructor(private readonly sources: ((hash: string) => ChunkLocation[] | undefined)[]) {}

  static fromLocations(...maps: ChunkLocations[]): ChunkReader {
    return new ChunkReader(maps.map((m) => (h: string) => m.get(h)));
  }

  candidates(hash: string): ChunkLocation[] {
    return this.sources.flatMap((s) => s(hash) ?? []);
  }

  has(hash: string): boolean {
    return this.candidates(hash).length > 0;
  }

  async readAt(loc: ChunkLocation, into?: Buffer): Promise<Buffer> {
    let handle = this.handles.get(loc.file);
    if (!handle) {
      handle = open(loc.file, 'r');
      this.handles.set(loc.file, handle);
      handle.catch(() => this.handles.delete(loc.file));
    }
    const buf = into ?? Buffer.allocUnsafe(loc.length);
    const { bytesRead } = await (await handle).read(buf, 0, loc.length, loc.offset);
    this.bytesRead += bytesRead;
    return bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
  }

  /** One chunk, verified; throws naming the hash when no location holds the right bytes. */
  async read(hash: string): Promise<Buffer> {
    for (const loc of this.candidates(hash)) {
      const data = await this.readAt(loc).catch(() => null);
      if (data && data.length === loc.length && sha256(data) === hash) return data;
    }
    throw new ChunkUnavailableError(`chunk ${hash} is not held intact on this node`);
  }

  async close(): Promise<void> {
    const handles = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(handles.map(async (h) => (await h.catch(() => null))?.close()));
  }
}
