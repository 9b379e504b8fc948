// The codec server of the Temporal Web UI and CLI: they send it payloads as JSON (base64 bytes) and show what it
// answers, so administrators read encrypted inputs and results. It holds the cluster key, so it listens on the
// control host's loopback only (whoever has a shell there is an administrator) and answers the Web UI's origin.
import Fastify, { FastifyInstance } from 'fastify';
import type { Payload } from '@temporalio/common';
import type { ClusterKeyCodec } from '../../common/payload-codec';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

// Temporal's JSON omits an empty list: a query without arguments arrives as `{}`.
const payloadsSchema = {
  type: 'object',
  properties: {
    payloads: {
      type: 'array',
      default: [],
      maxItems: 10_000,
      items: {
        type: 'object',
        properties: {
          metadata: { type: 'object', additionalProperties: { type: 'string' } },
          data: { type: 'string' },
        },
      },
    },
  },
} as const;

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/** `uiOrigin`: the Web UI's own origin (http://127.0.0.1:<ui port>), the only one a browser may call from. */
export function buildCodecServer(codec: ClusterKeyCodec, uiOrigin: string): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 << 20 });
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (origin && origin !== uiOrigin)
      return reply.code(403).send({ error: 'Forbidden', message: `origin ${origin} is not this cluster's Web UI` });
    if (origin) {
      void reply.header('access-control-allow-origin', origin);
      void reply.header('access-control-allow-credentials', 'true');
      void reply.header('access-control-allow-headers', 'content-type,x-namespace,authorization');
      void reply.header('access-control-allow-methods', 'POST,OPTIONS');
    }
  });
  app.options('/*', async (_request, reply) => reply.code(204).send());
  for (const op of ['encode', 'decode'] as const) {
    app.post<{ Body: { payloads?: JsonPayload[] } }>(
      `/${op}`,
      { schema: { body: payloadsSchema } },
      async (request) => {
        const out = await codec[op]((request.body.payloads ?? []).map(fromJson));
        return { payloads: out.map(toJson) };
      },
    );
  }
  return app;
}
