import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { FrameError } from '../../domain/chunk-frames';
import { decodeManifest, ManifestError, manifestBase, manifestDigest } from '../../domain/manifest';
import { ChunkRejectedError } from '../staging';
import { ChunkStreamError, receiveChunkStream, StreamTooLargeError } from './chunk-stream';
import { DataPlaneLimits, DEFAULT_DATA_PLANE_LIMITS } from '../../common/data-plane-limits';
import { Transfer, TransferRegistry, UnknownTransferError } from './transfers';
import { checkNodeInput, InvalidInput } from '../../domain/node-input';
import type { ContainerSpec, GenerationMeta } from '../../domain/reports';
import { LeaseRefused, ProtectionHolder } from '../protection-holder';

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
 * and stream those chunks, zstd-compressed. Every request carries the transfer's bearer token, checked before a
 * byte of its body is read; bodies are capped (`limits`), and so are open connections.
 */
export function buildDataPlane(
  registry: TransferRegistry,
  limits: DataPlaneLimits = DEFAULT_DATA_PLANE_LIMITS,
  /** Speak TLS with this pair (PEM). @default plain HTTP */
  tls: { cert: string; key: string } | null = null,
  /** Keeps other PCs' protected containers' checkpoints (continuous protection); absent: no protection routes. */
  holder: ProtectionHolder | null = null,
): FastifyInstance {
  const mib = (n: number) => `${Math.round(n / 2 ** 20)} MiB`;
  const app = Fastify({
    logger: false,
    bodyLimit: limits.maxManifestBytes,
    ...(tls ? { https: { ...tls, minVersion: 'TLSv1.3' as const } } : {}),
  }) as FastifyInstance; // the same routes over HTTP and HTTPS
  app.server.maxConnections = limits.maxConnections;
  app.decorateRequest('transfer', null as unknown as Transfer);
  app.addHook('onClose', () => registry.closeAll());
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: limits.maxManifestBytes },
    (_req, body, done) => done(null, body),
  );
  // Chunk streams are consumed as they arrive, never buffered whole.
  app.addContentTypeParser('application/zstd', (_req, payload, done) => done(null, payload));
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, _request, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return fail(
        reply,
        413,
        'Payload Too Large',
        `a manifest may take at most ${mib(limits.maxManifestBytes)} here (ZANSHIN_DATAPLANE_MAX_MANIFEST_MIB on this PC)`,
      );
    return fail(reply, err.statusCode ?? 500, 'Error', err.message);
  });

  // onRequest runs before the body is read: a request without the transfer's token costs its headers, no more.
  app.addHook('onRequest', async (request: FastifyRequest<{ Params: { transferId?: string } }>, reply) => {
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
        const baseManifest = base === null ? undefined : await transfer.baseManifest(base.generation);
        if (baseManifest === null)
          return fail(
            reply,
            409,
            'Unknown Base',
            `generation ${base!.generation} is not held here: send the whole manifest`,
          );
        // Held under that number but another checkpoint (taken by another copy of the container): not that base.
        if (baseManifest && manifestDigest(baseManifest) !== base!.digest)
          return fail(
            reply,
            409,
            'Unknown Base',
            `generation ${base!.generation} held here is another checkpoint than the base named: send the whole manifest`,
          );
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
        stored = await transfer.exclusive(() =>
          receiveChunkStream(request.body, (frames) => transfer.store(frames), { maxBytes: limits.maxStreamBytes }),
        );
      } catch (err) {
        if (err instanceof ChunkRejectedError || err instanceof FrameError)
          return fail(reply, 422, 'Chunk Rejected', err.message);
        if (err instanceof StreamTooLargeError) return fail(reply, 413, 'Payload Too Large', err.message);
        if (err instanceof ChunkStreamError) return fail(reply, 400, 'Bad Stream', err.message);
        throw err;
      }
      return { stored, missing: await transfer.missing() };
    },
  );

  if (holder) protectionRoutes(app, holder);
  return app;
}

/**
 * Continuous protection, holder side: under a lease the control plane opened here, the source opens a transfer (the
 * usual manifest and chunk routes then carry it), and has its checkpoint kept or dropped. The lease's token is
 * checked before anything else.
 */
function protectionRoutes(app: FastifyInstance, holder: ProtectionHolder): void {
  const lease = (request: FastifyRequest<{ Params: { leaseId: string } }>): string => {
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    holder.authorize(request.params.leaseId, token);
    return request.params.leaseId;
  };
  const answer = async (reply: FastifyReply, work: () => Promise<unknown>): Promise<FastifyReply> => {
    try {
      return reply.send(await work());
    } catch (err) {
      if (err instanceof LeaseRefused) return fail(reply, err.status, 'Refused', err.message);
      if (err instanceof InvalidInput) return fail(reply, 400, 'Bad Request', err.message);
      return fail(reply, 500, 'Error', err instanceof Error ? err.message : String(err));
    }
  };
  app.post<{ Params: { leaseId: string } }>('/v1/protection/:leaseId/transfers', (request, reply) =>
    answer(reply, () => holder.begin(lease(request))),
  );
  app.post<{ Params: { leaseId: string }; Body: { transferId: string; spec: ContainerSpec; meta: GenerationMeta } }>(
    '/v1/protection/:leaseId/keep',
    (request, reply) =>
      answer(reply, () => {
        const id = lease(request);
        checkNodeInput('storeFromTransfer', request.body);
        return holder.keep(id, request.body);
      }),
  );
  app.post<{ Params: { leaseId: string }; Body: { transferId: string } }>(
    '/v1/protection/:leaseId/abort',
    (request, reply) =>
      answer(reply, async () => {
        const id = lease(request);
        checkNodeInput('abortReceive', request.body);
        await holder.abort(id, request.body.transferId);
        return { aborted: request.body.transferId };
      }),
  );
}
