import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { FrameError } from '../../domain/chunk-frames';
import { decodeManifest, ManifestError, manifestBase } from '../../domain/manifest';
import { ChunkRejectedError } from '../staging';
import { ChunkStreamError, receiveChunkStream } from './chunk-stream';
import { Transfer, TransferRegistry, UnknownTransferError } from './transfers';

/** A manifest of a 16 GiB image is 128 MiB; nothing legitimate is larger. */
const MAX_MANIFEST_BYTES = 128 << 20;

declare module 'fastify' {
  interface FastifyRequest {
    transfer: Transfer;
  }
}

function fail(reply: FastifyReply, code: number, error: string, message: string): FastifyReply {
  return reply.code(code).send({ error, message });
}

/**
 * The target side of the data plane: sources offer manifests (answered with the chunk hashes this node lacks)
 * and stream those chunks, zstd-compressed. Every request carries the transfer's bearer token.
 */
export function buildDataPlane(registry: TransferRegistry): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: MAX_MANIFEST_BYTES });
  app.decorateRequest('transfer', null as unknown as Transfer);
  app.addHook('onClose', () => registry.closeAll());
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: MAX_MANIFEST_BYTES },
    (_req, body, done) => done(null, body),
  );
  // Chunk streams are consumed as they arrive, never buffered whole.
  app.addContentTypeParser('application/zstd', (_req, payload, done) => done(null, payload));

  app.addHook('preHandler', async (request: FastifyRequest<{ Params: { transferId?: string } }>, reply) => {
    const id = request.params.transferId;
    if (!id) return;
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    if (!match) return fail(reply, 401, 'Unauthorized', 'send "Authorization: Bearer <transfer token>"');
    try {
      request.transfer = await registry.get(id);
    } catch (err) {
      if (err instanceof UnknownTransferError) return fail(reply, 404, 'Not Found', err.message);
      throw err;
    }
    if (!request.transfer.checkToken(match[1]!)) return fail(reply, 403, 'Forbidden', `wrong token for transfer ${id}`);
  });

  app.post<{ Params: { transferId: string; kind: string }; Body: Buffer }>(
    '/v1/transfers/:transferId/manifests/:kind',
    async (request, reply) => {
      const { transfer } = request;
      let manifest;
      try {
        const base = manifestBase(request.body);
        const baseManifest = base === null ? undefined : await transfer.baseManifest(base);
        if (baseManifest === null)
          return fail(reply, 409, 'Unknown Base', `generation ${base} is not held here: send the whole manifest`);
        manifest = decodeManifest(request.body, baseManifest);
      } catch (err) {
        if (err instanceof ManifestError) return fail(reply, 400, 'Bad Manifest', err.message);
        throw err;
      }
      if (manifest.kind !== request.params.kind)
        return fail(reply, 400, 'Bad Manifest', `manifest kind ${manifest.kind} sent to /${request.params.kind}`);
      if (manifest.containerId !== transfer.record.containerId) {
        return fail(
          reply,
          400,
          'Bad Manifest',
          `manifest of container ${manifest.containerId} offered to a transfer of ${transfer.record.containerId}`,
        );
      }
      if (manifest.kind === 'checkpoint' && !(Number.isInteger(manifest.generation) && manifest.generation! > 0)) {
        return fail(reply, 400, 'Bad Manifest', 'a checkpoint manifest needs a positive generation number');
      }
      const missing = await transfer.exclusive(() => transfer.offer(manifest));
      return reply.type('application/octet-stream').send(missing);
    },
  );

  app.post<{ Params: { transferId: string }; Body: Readable }>(
    '/v1/transfers/:transferId/chunks',
    async (request, reply) => {
      const { transfer } = request;
      if (!(request.body instanceof Readable))
        return fail(reply, 415, 'Unsupported Media Type', 'send chunks as application/zstd');
      let stored: number;
      try {
        stored = await transfer.exclusive(() => receiveChunkStream(request.body, (frames) => transfer.store(frames)));
      } catch (err) {
        if (err instanceof ChunkRejectedError || err instanceof FrameError)
          return fail(reply, 422, 'Chunk Rejected', err.message);
        if (err instanceof ChunkStreamError) return fail(reply, 400, 'Bad Stream', err.message);
        throw err;
      }
      return { stored, missing: await transfer.missing() };
    },
  );

  return app;
}
