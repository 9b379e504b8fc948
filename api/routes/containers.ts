import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { createWorkflowId } from '../../common/names';
import type { PlacementPolicy } from '../../domain/placement';
import type { createContainer } from '../../workflows';
import { replyError, requireAdmin } from '../http-errors';
import type { AddressPool } from '../../domain/container-network';
import {
  AddressPoolFullError,
  deleteContainer,
  findContainer,
  insertContainer,
  listContainers,
  setLocation,
} from '../../state/containers';
import { remnantsOfContainer } from '../../state/nodes';
import { placementFor } from '../../state/placement';
import { containerIdSchema, nodeIdSchema, params } from '../schemas';

export interface ContainerRoutesOptions {
  db: Pool;
  controlTaskQueue: string;
  temporal: Client;
  policy: PlacementPolicy;
  /** Where containers' LAN addresses come from (null: loopback only). */
  addressPool: AddressPool | null;
}

const idParams = params({ containerId: containerIdSchema });

/** Containers: registered here, started on a PC through the createContainer workflow, placed by the policy. */
export function containerRoutes(
  app: FastifyInstance,
  { db, temporal, policy, controlTaskQueue, addressPool }: ContainerRoutesOptions,
): void {
  app.post<{
    Body: { id: string; args: string[]; env?: string[]; memoryMiB: number; rootfs: { dir?: string; tarball?: string } };
  }>(
    '/v1/containers',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'args', 'memoryMiB', 'rootfs'],
          properties: {
            id: containerIdSchema,
            args: {
              type: 'array',
              minItems: 1,
              maxItems: 256,
              // An empty argument is a normal argument (redis-server --save ""); only the program must be named.
              items: { type: 'string', maxLength: 4096 },
            },
            env: { type: 'array', maxItems: 256, items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*=' } },
            memoryMiB: { type: 'integer', minimum: 1, maximum: 1_048_576 },
            rootfs: {
              type: 'object',
              additionalProperties: false,
              minProperties: 1,
              maxProperties: 1,
              properties: { dir: { type: 'string', pattern: '^/' }, tarball: { type: 'string', pattern: '^/' } },
            },
          },
        },
      },
    },
    async (request, reply) => {
      if (!requireAdmin(request.role, reply)) return reply;
      const b = request.body;
      if (!b.args[0])
        return replyError(reply, 400, 'args[0] must name the program to run (an absolute path inside the rootfs)');
      let created;
      try {
        created = await insertContainer(
          db,
          {
            id: b.id,
            args: b.args,
            env: b.env ?? [],
            memoryMiB: b.memoryMiB,
            rootfs: b.rootfs,
          },
          addressPool,
        );
      } catch (err) {
        if (err instanceof AddressPoolFullError) return replyError(reply, 409, err.message);
        throw err;
      }
      if (!created) return replyError(reply, 409, `container ${b.id} already exists`);
      return reply.code(201).send(created);
    },
  );

  app.get('/v1/containers', async () => {
    return { containers: await listContainers(db) };
  });

  app.get<{ Params: { containerId: string } }>(
    '/v1/containers/:containerId',
    { schema: { params: idParams } },
    async (request, reply) => {
      const c = await findContainer(db, request.params.containerId);
      if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
      return { ...c, remnants: await remnantsOfContainer(db, c.id) };
    },
  );

  app.get<{ Params: { containerId: string } }>(
    '/v1/containers/:containerId/placement',
    { schema: { params: idParams } },
    async (request, reply) => {
      const c = await findContainer(db, request.params.containerId);
      if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
      return placementFor(db, c, policy);
    },
  );

  app.post<{ Params: { containerId: string }; Body: { nodeId?: string } | undefined }>(
    '/v1/containers/:containerId/start',
    {
      schema: {
        params: idParams,
        body: { type: ['object', 'null'], additionalProperties: false, properties: { nodeId: nodeIdSchema } },
      },
    },
    async (request, reply) => {
      if (!requireAdmin(request.role, reply)) return reply;
      const c = await findContainer(db, request.params.containerId);
      if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
      if (c.state !== 'created' && c.state !== 'stopped')
        return replyError(reply, 409, `container ${c.id} is ${c.state}${c.nodeId ? ` on ${c.nodeId}` : ''}`);
      let nodeId = request.body?.nodeId;
      let decision = null;
      if (!nodeId) {
        decision = await placementFor(db, c, policy);
        if (!decision.chosen)
          return reply.code(422).send({ error: 'Unprocessable Entity', message: decision.explanation, decision });
        nodeId = decision.chosen;
      }
      try {
        const state = await temporal.workflow.execute<typeof createContainer>('createContainer', {
          taskQueue: controlTaskQueue,
          workflowId: createWorkflowId(c.id, Date.now()),
          workflowExecutionTimeout: '5m',
          args: [
            {
              nodeId,
              containerId: c.id,
              rootfs: c.rootfs,
              args: c.args,
              env: c.env,
              memoryMiB: c.memoryMiB,
              ...(c.network ? { network: c.network } : {}),
            },
          ],
        });
        await setLocation(db, c.id, nodeId, 'running');
        return { ...(await findContainer(db, c.id)), pid: state.pid, decision };
      } catch (err) {
        const cause = (err as { cause?: Error }).cause;
        return replyError(
          reply,
          422,
          `starting ${c.id} on ${nodeId} failed: ${cause?.message ?? (err as Error).message}`,
        );
      }
    },
  );

  app.delete<{ Params: { containerId: string } }>(
    '/v1/containers/:containerId',
    { schema: { params: idParams } },
    async (request, reply) => {
      if (!requireAdmin(request.role, reply)) return reply;
      const c = await findContainer(db, request.params.containerId);
      if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
      if (c.state === 'running' || c.state === 'migrating')
        return replyError(reply, 409, `container ${c.id} is ${c.state}: stop it first`);
      await deleteContainer(db, c.id);
      return reply.code(204).send();
    },
  );
}
