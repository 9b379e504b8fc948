import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { CONTROL_TASK_QUEUE } from '../../common/names';
import type { PlacementPolicy } from '../../domain/placement';
import type { createContainer } from '../../workflows';
import { replyError, requireAdmin } from '../http-errors';
import { CONTAINER_COLUMNS, findContainer, placementFor } from '../../state/placement';
import { containerIdSchema, nodeIdSchema, params } from '../schemas';

export interface ContainerRoutesOptions {
  db: Pool;
  temporal: Client;
  policy: PlacementPolicy;
}

const idParams = params({ containerId: containerIdSchema });

/** Containers: registered here, started on a PC through the createContainer workflow, placed by the policy. */
export function containerRoutes(app: FastifyInstance, { db, temporal, policy }: ContainerRoutesOptions): void {
  app.post<{ Body: { id: string; args: string[]; env?: string[]; memoryMiB: number; rootfs: { dir?: string; tarball?: string } } }>('/v1/containers', {
    schema: {
      body: {
        type: 'object', additionalProperties: false, required: ['id', 'args', 'memoryMiB', 'rootfs'],
        properties: {
          id: containerIdSchema,
          args: { type: 'array', minItems: 1, maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 4096 } },
          env: { type: 'array', maxItems: 256, items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*=' } },
          memoryMiB: { type: 'integer', minimum: 1, maximum: 1_048_576 },
          rootfs: {
            type: 'object', additionalProperties: false, minProperties: 1, maxProperties: 1,
            properties: { dir: { type: 'string', pattern: '^/' }, tarball: { type: 'string', pattern: '^/' } },
          },
        },
      },
    },
  }, async (request, reply) => {
    if (!requireAdmin(request.role, reply)) return reply;
    const b = request.body;
    const { rows } = await db.query(
      `INSERT INTO containers (id, args, env, memory_mib, rootfs, state) VALUES ($1, $2, $3, $4, $5, 'created')
       ON CONFLICT (id) DO NOTHING RETURNING ${CONTAINER_COLUMNS}`, [b.id, b.args, b.env ?? [], b.memoryMiB, b.rootfs]);
    if (!rows.length) return replyError(reply, 409, `container ${b.id} already exists`);
    return reply.code(201).send(rows[0]);
  });

  app.get('/v1/containers', async () => {
    const { rows } = await db.query(`SELECT ${CONTAINER_COLUMNS} FROM containers ORDER BY id`);
    return { containers: rows };
  });

  app.get<{ Params: { containerId: string } }>('/v1/containers/:containerId', { schema: { params: idParams } }, async (request, reply) => {
    const c = await findContainer(db, request.params.containerId);
    if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
    const remnants = await db.query(
      `SELECT node_id AS "nodeId", has_bundle AS "hasBundle", generations, image_bytes::float8 AS "imageBytes", left_at AS "leftAt", expires_at AS "expiresAt"
       FROM remnants WHERE container_id = $1 ORDER BY node_id`, [c.id]);
    return { ...c, remnants: remnants.rows };
  });

  app.get<{ Params: { containerId: string } }>('/v1/containers/:containerId/placement', { schema: { params: idParams } }, async (request, reply) => {
    const c = await findContainer(db, request.params.containerId);
    if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
    return placementFor(db, c, policy);
  });

  app.post<{ Params: { containerId: string }; Body: { nodeId?: string } | undefined }>('/v1/containers/:containerId/start', {
    schema: { params: idParams, body: { type: ['object', 'null'], additionalProperties: false, properties: { nodeId: nodeIdSchema } } },
  }, async (request, reply) => {
    if (!requireAdmin(request.role, reply)) return reply;
    const c = await findContainer(db, request.params.containerId);
    if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
    if (c.state !== 'created' && c.state !== 'stopped') return replyError(reply, 409, `container ${c.id} is ${c.state}${c.nodeId ? ` on ${c.nodeId}` : ''}`);
    let nodeId = request.body?.nodeId;
    let decision = null;
    if (!nodeId) {
      decision = await placementFor(db, c, policy);
      if (!decision.chosen) return reply.code(422).send({ error: 'Unprocessable Entity', message: decision.explanation, decision });
      nodeId = decision.chosen;
    }
    try {
      const state = await temporal.workflow.execute<typeof createContainer>('createContainer', {
        taskQueue: CONTROL_TASK_QUEUE, workflowId: `create-${c.id}-${Date.now()}`, workflowExecutionTimeout: '5m',
        args: [{ nodeId, containerId: c.id, rootfs: c.rootfs, args: c.args, env: c.env, memoryMiB: c.memoryMiB }],
      });
      await db.query("UPDATE containers SET node_id = $2, state = 'running', updated_at = now() WHERE id = $1", [c.id, nodeId]);
      return { ...(await findContainer(db, c.id)), pid: state.pid, decision };
    } catch (err) {
      const cause = (err as { cause?: Error }).cause;
      return replyError(reply, 422, `starting ${c.id} on ${nodeId} failed: ${cause?.message ?? (err as Error).message}`);
    }
  });

  app.delete<{ Params: { containerId: string } }>('/v1/containers/:containerId', { schema: { params: idParams } }, async (request, reply) => {
    if (!requireAdmin(request.role, reply)) return reply;
    const { rows } = await db.query<{ state: string }>('SELECT state FROM containers WHERE id = $1', [request.params.containerId]);
    if (!rows.length) return replyError(reply, 404, `no container ${request.params.containerId}`);
    if (rows[0]!.state === 'running' || rows[0]!.state === 'migrating') return replyError(reply, 409, `container ${request.params.containerId} is ${rows[0]!.state}: stop it first`);
    await db.query('DELETE FROM migrations WHERE container_id = $1', [request.params.containerId]);
    await db.query('DELETE FROM containers WHERE id = $1', [request.params.containerId]);
    return reply.code(204).send();
  });
}
