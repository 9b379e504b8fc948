// The data plane under abuse (issue 14), over real HTTP on 127.0.0.1 with small limits: what a sender without the
// token, or with it and ill intent, can make a PC read, decompress, keep or hold open.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { compress } from 'zstd-napi';
import { encodeManifest } from '../../domain/manifest';
import { buildDataPlane } from '../../node/dataplane/server';
import { TransferRegistry } from '../../node/dataplane/transfers';
import { scanDirectory } from '../../node/scan';
import { RemnantStore } from '../../node/store';

const LIMITS = { maxManifestBytes: 1 << 20, maxStreamBytes: 8 << 20, maxConnections: 4 };
let tmp: string;
let registry: TransferRegistry;
let server: FastifyInstance;
let port: number;

beforeEach(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-dp-limits-'));
  registry = new TransferRegistry(new RemnantStore(path.join(tmp, 'target')));
  server = buildDataPlane(registry, LIMITS);
  port = Number(new URL(await server.listen({ host: '127.0.0.1', port: 0 })).port);
});

afterEach(async () => {
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** One chunk frame: its hash, its length, its bytes (the wire format of a chunk stream before zstd). */
const frame = (data: Buffer): Buffer => {
  const header = Buffer.alloc(36);
  createHash('sha256').update(data).digest().copy(header);
  header.writeUInt32BE(data.length, 32);
  return Buffer.concat([header, data]);
};

/** POSTs `body`; resolves with the answer, and how much of the body had been sent when it came. */
function post(
  route: string,
  headers: Record<string, string | number>,
  body: Buffer | { declared: number; sendFirst: number },
): Promise<{ status: number; json: { error?: string; message?: string; stored?: number }; sentBeforeAnswer: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: route, headers }, (res) => {
      const answeredAfter = sent;
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => {
        req.destroy();
        resolve({
          status: res.statusCode ?? 0,
          json: String(res.headers['content-type']).startsWith('application/json')
            ? (JSON.parse(Buffer.concat(parts).toString()) as { message?: string })
            : {},
          sentBeforeAnswer: answeredAfter,
        });
      });
    });
    req.on('error', (err) => (sent > 0 ? undefined : reject(err)));
    if (Buffer.isBuffer(body)) {
      sent = body.length;
      req.end(body);
    } else {
      // Announce a large body, send a little of it, and hold the rest back: only an early answer ends this.
      const first = Buffer.alloc(body.sendFirst);
      sent = first.length;
      req.write(first);
    }
  });
}

describe('data plane limits', () => {
  it('answers a request without the right token before reading its body', async () => {
    const { transferId } = await registry.register('c1');
    const big = { declared: 512 << 20, sendFirst: 64 << 10 };
    const headers = { 'content-type': 'application/zstd', 'content-length': big.declared };
    const none = await post(`/v1/transfers/${transferId}/chunks`, headers, big);
    expect(none.status).toBe(401);
    expect(none.sentBeforeAnswer).toBe(64 << 10); // answered with 512 MiB announced and 64 KiB sent
    const wrong = await post(
      `/v1/transfers/${transferId}/manifests/checkpoint`,
      { ...headers, 'content-type': 'application/octet-stream', authorization: 'Bearer not-the-token' },
      big,
    );
    expect(wrong.status).toBe(403);
    expect(wrong.sentBeforeAnswer).toBe(64 << 10);
  });

  it('refuses a manifest over its cap, naming the setting, and keeps nothing of it', async () => {
    const { transferId, token } = await registry.register('c1');
    const r = await post(
      `/v1/transfers/${transferId}/manifests/checkpoint`,
      { 'content-type': 'application/octet-stream', authorization: `Bearer ${token}` },
      randomBytes(2 << 20),
    );
    expect(r.status).toBe(413);
    expect(r.json.message).toMatch(/at most 1 MiB here \(ZANSHIN_DATAPLANE_MAX_MANIFEST_MIB/);
    expect((await registry.get(transferId)).manifests).toEqual({});
  });

  it('stops decompressing a chunk stream past its cap (a zstd bomb), naming the setting', async () => {
    const { transferId, token } = await registry.register('c1');
    // 64 frames of 1 MiB of zeros: 64 MiB once decompressed, a few KiB on the wire.
    const bomb = compress(Buffer.concat(Array.from({ length: 64 }, () => frame(Buffer.alloc(1 << 20)))));
    expect(bomb.length).toBeLessThan(64 << 10);
    const t0 = process.hrtime.bigint();
    const r = await post(
      `/v1/transfers/${transferId}/chunks`,
      { 'content-type': 'application/zstd', authorization: `Bearer ${token}` },
      bomb,
    );
    expect(r.status).toBe(413);
    expect(r.json.message).toMatch(/decompresses to more than 8 MiB, all this PC takes per request/);
    // Well short of decompressing 64 MiB and parsing it (a generous bound; the point is that it stopped).
    expect(Number(process.hrtime.bigint() - t0) / 1e6).toBeLessThan(5_000);
  });

  it('takes a chunk repeated in one stream once', async () => {
    const src = path.join(tmp, 'rootfs');
    mkdirSync(src);
    const data = randomBytes(100_000);
    writeFileSync(path.join(src, 'file'), data);
    const { manifest } = await scanDirectory(src, 'bundle', 'c1');
    const { transferId, token } = await registry.register('c1');
    const offered = await post(
      `/v1/transfers/${transferId}/manifests/bundle`,
      { 'content-type': 'application/octet-stream', authorization: `Bearer ${token}` },
      encodeManifest(manifest),
    );
    expect(offered.status).toBe(200);
    const r = await post(
      `/v1/transfers/${transferId}/chunks`,
      { 'content-type': 'application/zstd', authorization: `Bearer ${token}` },
      compress(Buffer.concat([frame(data), frame(data), frame(data)])),
    );
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ stored: 1, missing: { bundle: 0 } });
  });

  it('closes connections past its cap, and serves again once they are gone', async () => {
    const open: net.Socket[] = [];
    try {
      for (let i = 0; i < LIMITS.maxConnections; i++) {
        const s = net.connect(port, '127.0.0.1');
        await new Promise((r) => s.once('connect', r));
        open.push(s);
      }
      const extra = net.connect(port, '127.0.0.1');
      const closed = await new Promise<boolean>((resolve) => {
        extra.once('close', () => resolve(true));
        extra.once('data', () => resolve(false));
        extra.once('connect', () => extra.write('GET /v1/x HTTP/1.1\r\nhost: x\r\n\r\n'));
      });
      expect(closed).toBe(true);
    } finally {
      for (const s of open) s.destroy();
    }
    await new Promise((r) => setTimeout(r, 100));
    const again = await post('/v1/transfers/x/chunks', { 'content-type': 'application/zstd' }, Buffer.alloc(0));
    expect(again.status).toBe(401);
  });
});
