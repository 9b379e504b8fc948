import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { FastifyReply } from 'fastify';
import { ErrorType, rootCause } from '../../common/errors';
import { createWorkflowId, migrationWorkflowId } from '../../common/names';
import type { PlacementPolicy } from '../../domain/placement';
import type { createContainer } from '../../workflows';
import { parseImageRef } from '../../domain/oci-image';
import { RESTART_POLICIES, RestartPolicy } from '../../domain/restart-policy';
import { replyError } from '../http-errors';
import { requireAdminOrOwner, viewerOf, visibleContainer } from '../access';
import { maySee, ownerRootfsRefusal } from '../../domain/ownership';
import type { AddressPool } from '../../domain/container-network';
import { ContainerUser, DEFAULT_DISK_MIB, DEFAULT_LIMITS } from '../../domain/reports';
import {
  AddressPoolFullError,
  findContainer,
  insertContainer,
  listContainers,
  OwnerQuotaError,
  setLocation,
} from '../../state/containers';
import { deleteContainerWithHistory } from '../../state/migration-records';
import { protectionOf, remnantsOfContainer, remnantsOfContainers } from '../../state/nodes';
import { placementFor } from '../../state/placement';
import { containerIdSchema, containerUserSchema, nodeIdSchema, params } from '../schemas';

export interface ContainerRoutesOptions {
  db: Pool;
  controlTaskQueue: string;
  temporal: Client;
  policy: PlacementPolicy;
  /** Where containers' LAN addresses come from (null: loopback only). */
  addressPool: AddressPool | null;
}

const idParams = params({ containerId: containerIdSchema });

/** Bounds of exec: a command's arguments and how long it may run. */
const execBody = {
  type: 'object',
  additionalProperties: false,
  required: ['args'],
  properties: {
    args: { type: 'array', minItems: 1, maxItems: 256, items: { type: 'string', maxLength: 4096 } },
    timeoutSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 60 },
  },
} as const;

/** Containers: registered here, started on a PC through the createContainer workflow, placed by the policy. */
export function containerRoutes(
  app: FastifyInstance,
  { db, temporal, policy, controlTaskQueue, addressPool }: ContainerRoutesOptions,
): void {
  app.post<{
    Body: {
      id: string;
      args?: string[];
      env?: string[];
      memoryMiB: number;
      diskMiB?: number;
      cpus?: number;
      pids?: number;
      user?: ContainerUser;
      rootfs: { dir?: string; tarball?: string; image?: string };
      restart?: RestartPolicy;
    };
  }>(
    '/v1/containers',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'memoryMiB', 'rootfs'],
          properties: {
            id: containerIdSchema,
            args: {
              type: 'array',
              maxItems: 256,
              description:
                "the program and its arguments; from an image: they replace its command (absent: the image's)",
              // An empty argument is a normal argument (redis-server --save ""); only the program must be named.
              items: { type: 'string', maxLength: 4096 },
            },
            env: { type: 'array', maxItems: 256, items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*=' } },
            memoryMiB: { type: 'integer', minimum: 1, maximum: 1_048_576 },
            diskMiB: { type: 'integer', minimum: 1, maximum: 1 << 30 },
            cpus: { type: 'number', minimum: 0.01, maximum: 1024 },
            pids: { type: 'integer', minimum: 8, maximum: 1 << 22 },
            user: containerUserSchema,
            rootfs: {
              type: 'object',
              additionalProperties: false,
              minProperties: 1,
              maxProperties: 1,
              properties: {
                dir: { type: 'string', pattern: '^/' },
                tarball: { type: 'string', pattern: '^/' },
                image: {
                  type: 'string',
                  maxLength: 1024,
                  pattern: '^(oci|oci-archive|docker-archive):/|^docker://',
                  description:
                    'an OCI image as skopeo names it: oci:/DIR:TAG, oci-archive:/FILE, docker://HOST/NAME:TAG',
                },
              },
            },
            restart: {
              type: 'string',
              enum: [...RESTART_POLICIES],
              description: 'when its program ends: no (default), on-failure, always; a restart is a fresh start',
            },
          },
        },
      },
    },
    async (request, reply) => {
      if (!requireAdminOrOwner(request, reply)) return reply;
      const b = request.body;
      const owner = request.role === 'owner' ? request.ownerId : null;
      const refused = owner ? ownerRootfsRefusal(b.rootfs) : null;
      if (refused) return replyError(reply, 403, refused);
      if (b.rootfs.image) {
        try {
          parseImageRef(b.rootfs.image);
        } catch (err) {
          return replyError(reply, 400, (err as Error).message);
        }
      } else if (!b.args?.[0])
        return replyError(reply, 400, 'args[0] must name the program to run (an absolute path inside the rootfs)');
      let created;
      try {
        created = await insertContainer(
          db,
          {
            id: b.id,
            args: b.args ?? [],
            env: b.env ?? [],
            memoryMiB: b.memoryMiB,
            diskMiB: b.diskMiB ?? DEFAULT_DISK_MIB,
            cpus: b.cpus ?? DEFAULT_LIMITS.cpus,
            pids: b.pids ?? DEFAULT_LIMITS.pids,
            user: b.user ?? null,
            rootfs: b.rootfs,
            restartPolicy: b.restart ?? 'no',
            owner,
          },
          addressPool,
        );
      } catch (err) {
        if (err instanceof AddressPoolFullError || err instanceof OwnerQuotaError)
          return replyError(reply, 409, err.message);
        throw err;
      }
      if (!created) return replyError(reply, 409, `container ${b.id} already exists`);
      return reply.code(201).send(created);
    },
  );

  // Each with what PCs hold of it (its remnants, and the images of the PC it runs on): the web view's table.
  app.get('/v1/containers', async (request) => {
    const viewer = viewerOf(request);
    const visible = (await listContainers(db)).filter((c) => maySee(viewer, c.owner));
    const held = await remnantsOfContainers(
      db,
      visible.map((c) => c.id),
    );
    return { containers: visible.map((c) => ({ ...c, remnants: held.get(c.id) ?? [] })) };
  });

  app.get<{ Params: { containerId: string } }>(
    '/v1/containers/:containerId',
    { schema: { params: idParams } },
    async (request, reply) => {
      const c = await visibleContainer(db, request, request.params.containerId);
      if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
      return { ...c, remnants: await remnantsOfContainer(db, c.id), protection: await protectionOf(db, c.id) };
    },
  );

  app.get<{ Params: { containerId: string } }>(
    '/v1/containers/:containerId/placement',
    { schema: { params: idParams } },
    async (request, reply) => {
      const c = await visibleContainer(db, request, request.params.containerId);
      if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
      return placementFor(db, c, policy);
    },
  );

  /**
   * Runs a short container command workflow (stop, start again, exec, logs) as migrate-<container> or a one-off id,
   * answering with the workflow's result, or the reason it failed (a 409 while a migration holds the container).
   */
  const runCommand = async <T = Record<string, unknown>>(
    reply: FastifyReply,
    workflow: string,
    containerId: string,
    args: unknown[],
    exclusive = true,
  ): Promise<T | null> => {
    try {
      return await temporal.workflow.execute<(...a: unknown[]) => Promise<T>>(workflow, {
        taskQueue: controlTaskQueue,
        workflowId: exclusive ? migrationWorkflowId(containerId) : `${workflow}-${containerId}-${Date.now()}`,
        workflowIdConflictPolicy: 'FAIL',
        workflowExecutionTimeout: '10m',
        args,
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        replyError(reply, 409, `a migration or another command of ${containerId} is running: try again when it ends`);
        return null;
      }
      const cause = rootCause(err);
      replyError(reply, cause.type === ErrorType.InvalidInput ? 409 : 422, cause.message);
      return null;
    }
  };

  app.post<{ Params: { containerId: string } }>(
    '/v1/containers/:containerId/stop',
    { schema: { params: idParams } },
    async (request, reply) => {
      if (!requireAdminOrOwner(request, reply)) return reply;
      const c = await visibleContainer(db, request, request.params.containerId);
      if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
      if (c.state !== 'running') return replyError(reply, 409, `container ${c.id} is ${c.state}, not running`);
      const r = await runCommand<{ generation: number }>(reply, 'stopContainer', c.id, [{ containerId: c.id }]);
      if (!r) return reply;
      return { ...(await findContainer(db, c.id)), generation: r.generation };
    },
  );

  app.post<{ Params: { containerId: string }; Body: { args: string[]; timeoutSeconds?: number } }>(
    '/v1/containers/:containerId/exec',
    { schema: { params: idParams, body: execBody } },
    async (request, reply) => {
      if (!requireAdminOrOwner(request, reply)) return reply;
      const c = await visibleContainer(db, request, request.params.containerId);
      if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
      if (!request.body.args[0]) return replyError(reply, 400, 'args[0] must name the program to run');
      if (c.state !== 'running') return replyError(reply, 409, `container ${c.id} is ${c.state}, not running`);
      const args = [{ containerId: c.id, args: request.body.args, timeoutSeconds: request.body.timeoutSeconds ?? 60 }];
      return (await runCommand(reply, 'execInContainer', c.id, args, false)) ?? reply;
    },
  );

  app.get<{ Params: { containerId: string }; Querystring: { stream?: 'stdout' | 'stderr'; tailBytes?: number } }>(
    '/v1/containers/:containerId/logs',
    {
      schema: {
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            stream: { type: 'string', enum: ['stdout', 'stderr'], default: 'stdout' },
            tailBytes: { type: 'integer', minimum: 1, maximum: 8 << 20, default: 65536 },
          },
        },
      },
    },
    async (request, reply) => {
      const c = await visibleContainer(db, request, request.params.containerId);
      if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
      if (!c.nodeId) return replyError(reply, 409, `container ${c.id} has not run anywhere yet`);
      const q = {
        containerId: c.id,
        stream: request.query.stream ?? 'stdout',
        tailBytes: request.query.tailBytes ?? 65536,
      };
      return (await runCommand(reply, 'containerLogs', c.id, [q], false)) ?? reply;
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
      if (!requireAdminOrOwner(request, reply)) return reply;
      const c = await visibleContainer(db, request, request.params.containerId);
      if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
      if (c.state !== 'created' && c.state !== 'stopped')
        return replyError(reply, 409, `container ${c.id} is ${c.state}${c.nodeId ? ` on ${c.nodeId}` : ''}`);
      // A container stopped with a final checkpoint starts again where it left off, on the PC that keeps it.
      if (c.state === 'stopped' && c.stoppedGeneration !== null && c.nodeId) {
        if (request.body?.nodeId && request.body.nodeId !== c.nodeId)
          return replyError(
            reply,
            409,
            `container ${c.id} was stopped on ${c.nodeId} and starts there (migrate it afterwards)`,
          );
        const r = await runCommand(reply, 'startStoppedContainer', c.id, [{ containerId: c.id }]);
        if (!r) return reply;
        return { ...(await findContainer(db, c.id)), generation: r.generation };
      }
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
              diskMiB: c.diskMiB,
              cpus: c.cpus,
              pids: c.pids,
              ...(c.network ? { network: c.network } : {}),
              ...(c.user ? { user: c.user } : {}),
            },
          ],
        });
        await setLocation(db, c.id, nodeId, 'running');
        return { ...(await findContainer(db, c.id)), pid: state.pid, decision };
      } catch (err) {
        const cause = rootCause(err);
        return replyError(
          reply,
          cause.type === ErrorType.InvalidInput ? 409 : 422,
          `starting ${c.id} on ${nodeId} failed: ${cause.message}`,
        );
      }
    },
  );

  app.delete<{ Params: { containerId: string } }>(
    '/v1/containers/:containerId',
    { schema: { params: idParams } },
    async (request, reply) => {
      if (!requireAdminOrOwner(request, reply)) return reply;
      const c = await visibleContainer(db, request, request.params.containerId);
      if (!c) return replyError(reply, 404, `no container ${request.params.containerId}`);
      if (c.state === 'running' || c.state === 'migrating')
        return replyError(reply, 409, `container ${c.id} is ${c.state}: stop it first`);
      await deleteContainerWithHistory(db, c.id);
      return reply.code(204).send();
    },
  );
}
