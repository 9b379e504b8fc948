import Fastify, { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { authenticate, Role, Tokens } from './auth';
import { nodeRoutes } from './routes/nodes';

declare module 'fastify' {
  interface FastifyRequest {
    role: Role;
  }
}

export interface ApiDeps extends Tokens {
  db: Pool;
  /** Log requests (off in tests). @default false */
  logger?: boolean;
  /** Load samples kept for this long. @default 24 h */
  loadRetentionMs?: number;
}

/** Body of every error reply: a short name and a message that says what to do. */
const errorSchema = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

/** Builds migration-api: every route needs a bearer token (admin or node). */
export function buildApi(deps: ApiDeps): FastifyInstance {
  // allErrors off (the default) is deliberate: the first bad field is named, and validation stays cheap.
  // Unknown fields are refused, not silently dropped (Fastify's default), so a typo never goes unnoticed.
  const app = Fastify({ logger: deps.logger ?? false, ajv: { customOptions: { removeAdditional: false } } });
  app.setErrorHandler((err: { validation?: unknown; statusCode?: number; message: string }, _request, reply) => {
    if (err.validation) return reply.code(400).send({ error: 'Bad Request', message: err.message });
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(code).send({ error: code === 500 ? 'Internal Server Error' : 'Bad Request', message: err.message });
  });
  app.decorateRequest('role', 'node');

  app.addHook('onRequest', async (request, reply) => {
    const result = authenticate(request.headers.authorization, deps);
    if ('error' in result) {
      return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'Unauthorized', message: result.error });
    }
    request.role = result.role;
  });

  app.get(
    '/health',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['status', 'database'],
            properties: {
              status: { type: 'string' },
              database: {
                type: 'object',
                properties: { serverVersion: { type: 'string' }, now: { type: 'string' } },
              },
            },
          },
          503: errorSchema,
        },
      },
    },
    async (_request, reply) => {
      try {
        const { rows } = await deps.db.query<{ version: string; now: Date }>(
          "SELECT current_setting('server_version') AS version, now() AS now",
        );
        return { status: 'ok', database: { serverVersion: rows[0]!.version, now: rows[0]!.now.toISOString() } };
      } catch (err) {
        return reply.code(503).send({ error: 'Service Unavailable', message: `database query failed: ${(err as Error).message}` });
      }
    },
  );
  nodeRoutes(app, { db: deps.db, loadRetentionMs: deps.loadRetentionMs ?? 24 * 3_600_000 });
  return app;
}
