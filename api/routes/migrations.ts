import { Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { migrationWorkflowId } from '../../common/names';
import { type PlacementPolicy, recordedDecision } from '../../domain/placement';
import type { migrateContainer } from '../../workflows';
import { replyError } from '../http-errors';
import { requireAdminOrOwner, visibleContainer } from '../access';
import { syncMigration } from '../migration-sync';
import { claimForMigration, releaseClaim } from '../../state/containers';
import { findMigration, insertMigration, listMigrations } from '../../state/migrations';
import { placementFor } from '../../state/placement';
import { containerIdSchema, nodeIdSchema, params } from '../schemas';

export interface MigrationRoutesOptions {
  db: Pool;
  controlTaskQueue: string;
  temporal: Client;
  policy: PlacementPolicy;
}

const QUERY_TIMEOUT_MS = 2_000;

export function migrationRoutes(
  app: FastifyInstance,
  { db, temporal, policy, controlTaskQueue }: MigrationRoutesOptions,
): void {
  app.post<{ Body: { containerId: string; to?: string; reason?: string } }>(
    '/v1/migrations',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['containerId'],
          properties: { containerId: containerIdSchema, to: nodeIdSchema, reason: { type: 'string', maxLength: 200 } },
        },
      },
    },
    async (request, reply) => {
      if (!requireAdminOrOwner(request, reply)) return reply;
      const byWhom = request.role === 'owner' ? `its owner ${request.ownerId}` : 'an administrator';
      const { containerId, to: given, reason = `requested by ${byWhom}` } = request.body;
      const c = await visibleContainer(db, request, containerId);
      if (!c) return replyError(reply, 404, `no container ${containerId}`);
      if (c.state === 'migrating')
        return replyError(
          reply,
          409,
          `container ${containerId} is already migrating (see GET /v1/migrations?containerId=${containerId})`,
        );
      if (c.state !== 'running' || !c.nodeId)
        return replyError(reply, 409, `container ${containerId} is ${c.state}, not running anywhere: start it first`);
      if (given === c.nodeId) return replyError(reply, 400, `container ${containerId} already runs on ${given}`);
      const full = given ? null : await placementFor(db, c, policy);
      // Workflows and the history keep the decision's head (domain/placement.ts recordedDecision).
      const decision = full && recordedDecision(full);
      const to = given ?? decision?.chosen;
      if (!to)
        return reply.code(422).send({ error: 'Unprocessable Entity', message: full!.explanation, decision: full });
      // Claim the container first: a concurrent request sees "migrating" and is refused.
      if (!(await claimForMigration(db, c.id, c.nodeId)))
        return replyError(reply, 409, `container ${containerId} changed meanwhile; try again`);
      const now = new Date();
      const id = `${c.id}-${now.getTime()}`;
      try {
        const handle = await temporal.workflow.start<typeof migrateContainer>('migrateContainer', {
          taskQueue: controlTaskQueue,
          workflowId: migrationWorkflowId(c.id),
          workflowIdConflictPolicy: 'FAIL',
          args: [{ containerId: c.id, to, reason, migrationId: id, ...(decision ? { decision } : {}) }],
        });
        await insertMigration(
          db,
          {
            id,
            workflowId: handle.workflowId,
            runId: handle.firstExecutionRunId,
            containerId: c.id,
            from: c.nodeId,
            to,
            reason,
            decision,
          },
          now,
        );
        return reply
          .code(202)
          .send({ id, workflowId: handle.workflowId, containerId: c.id, from: c.nodeId, to, decision });
      } catch (err) {
        await releaseClaim(db, c.id);
        if (err instanceof WorkflowExecutionAlreadyStartedError)
          return replyError(reply, 409, `a migration of ${containerId} is already running`);
        return replyError(
          reply,
          503,
          `could not start the migration workflow (is Temporal up?): ${(err as Error).message}`,
        );
      }
    },
  );

  app.get<{ Querystring: { containerId?: string; limit?: number } }>(
    '/v1/migrations',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            containerId: containerIdSchema,
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
          },
        },
      },
    },
    async (request) => {
      const rows = await listMigrations(db, {
        limit: request.query.limit ?? 50,
        ...(request.query.containerId ? { containerId: request.query.containerId } : {}),
        ...(request.role === 'owner' ? { owner: request.ownerId! } : {}),
      });
      return { migrations: await Promise.all(rows.map((r) => syncMigration(db, temporal, r))) };
    },
  );

  app.get<{ Params: { migrationId: string } }>(
    '/v1/migrations/:migrationId',
    {
      schema: { params: params({ migrationId: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,200}$' } }) },
    },
    async (request, reply) => {
      const found = await findMigration(db, request.params.migrationId);
      // Another owner's migration is as absent as their container.
      const visible = found && (request.role !== 'owner' || (await visibleContainer(db, request, found.containerId)));
      if (!visible) return replyError(reply, 404, `no migration ${request.params.migrationId}`);
      const row = await syncMigration(db, temporal, found);
      // While it runs, the workflow answers with the steps done so far. A query waits for a worker, so it has a
      // deadline (which also cancels its retries): with the control worker down the API answers at once (progress: null).
      const progress =
        row.status === 'running'
          ? await temporal
              .withDeadline(Date.now() + QUERY_TIMEOUT_MS, () =>
                temporal.workflow.getHandle(row.workflowId, row.runId).query<unknown>('progress'),
              )
              .catch(() => null)
          : null;
      return { ...row, progress };
    },
  );
}
