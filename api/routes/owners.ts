import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { DEFAULT_OWNER_QUOTA, OWNER_ID_PATTERN } from '../../domain/ownership';
import { findOwner, issueOwnerToken, listOwners, revokeOwnerToken } from '../../state/owners';
import { replyError, requireAdmin } from '../http-errors';
import { params } from '../schemas';

const ownerParam = params({ ownerId: { type: 'string', pattern: OWNER_ID_PATTERN.source } });

/** Owners: an administrator issues each one a token (shown once) with quotas, and revokes it to cut them off. */
export function ownerRoutes(app: FastifyInstance, { db }: { db: Pool }): void {
  app.post<{ Params: { ownerId: string }; Body: { containers?: number; memoryMiB?: number; diskMiB?: number } }>(
    '/v1/owners/:ownerId/token',
    {
      schema: {
        params: ownerParam,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            containers: { type: 'integer', minimum: 0, maximum: 10_000, description: 'containers at once' },
            memoryMiB: { type: 'integer', minimum: 0, maximum: 1 << 30, description: 'sum of their memory limits' },
            diskMiB: { type: 'integer', minimum: 0, maximum: 1 << 30, description: 'sum of their disk quotas' },
          },
        },
      },
    },
    async (request, reply) => {
      if (!requireAdmin(request.role, reply)) return reply;
      const b = request.body ?? {};
      // Issued again, an owner keeps the quotas not given (their containers stay theirs).
      const previous = (await findOwner(db, request.params.ownerId))?.quota ?? DEFAULT_OWNER_QUOTA;
      const quota = {
        containers: b.containers ?? previous.containers,
        memoryMiB: b.memoryMiB ?? previous.memoryMiB,
        diskMiB: b.diskMiB ?? previous.diskMiB,
      };
      const token = await issueOwnerToken(db, request.params.ownerId, quota);
      return reply.code(201).send({ ownerId: request.params.ownerId, token, quota });
    },
  );

  app.delete<{ Params: { ownerId: string } }>(
    '/v1/owners/:ownerId/token',
    { schema: { params: ownerParam } },
    async (request, reply) => {
      if (!requireAdmin(request.role, reply)) return reply;
      if (!(await revokeOwnerToken(db, request.params.ownerId)))
        return replyError(reply, 404, `owner ${request.params.ownerId} has no live token`);
      return reply.code(204).send();
    },
  );

  app.get('/v1/owners', async (request, reply) => {
    if (!requireAdmin(request.role, reply)) return reply;
    return { owners: await listOwners(db) };
  });

  // An owner sees their own record (quota and usage); an administrator anyone's.
  app.get<{ Params: { ownerId: string } }>(
    '/v1/owners/:ownerId',
    { schema: { params: ownerParam } },
    async (request, reply) => {
      const mine = request.role === 'owner' && request.ownerId === request.params.ownerId;
      if (!mine && !requireAdmin(request.role, reply)) return reply;
      const owner = await findOwner(db, request.params.ownerId);
      if (!owner) return replyError(reply, 404, `no owner ${request.params.ownerId}`);
      return owner;
    },
  );
}
