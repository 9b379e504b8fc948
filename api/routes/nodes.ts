import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { migrationWorkflowId, NODE_ID_RULE } from '../../common/names';
import { NodeReport, nodeReportSchema, ReportVerdict } from '../../domain/node-report';
import { staleCopies } from '../../domain/fencing';
import { epochsOf, noticeExited, noticeResumed, restartsDue } from '../../state/containers';
import { Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { findNode, listNodes, recordNodeReport, remnantsOnNode } from '../../state/nodes';
import { replyError, requireAdmin } from '../http-errors';
import { visibleItems } from '../access';
import { issueNodeCredential, revokeNodeCredential } from '../../state/node-credentials';
import { nodeIdSchema, params } from '../schemas';

const nodeIdParam = params({ nodeId: { ...nodeIdSchema, description: NODE_ID_RULE } });

export interface NodeRoutesOptions {
  db: Pool;
  /** Load samples older than this are deleted as new ones arrive. @default 24 h */
  loadRetentionMs: number;
  /** Where restarts of exited containers are started (their restart policy). */
  temporal: Client;
  controlTaskQueue: string;
}

/** Node registration, load reports and remnant inventories (from node workers); listings (for everyone). */
export function nodeRoutes(
  app: FastifyInstance,
  { db, loadRetentionMs, temporal, controlTaskQueue }: NodeRoutesOptions,
): void {
  /**
   * Exited containers of the PC that their restart policy starts again now. Each restart runs as
   * migrate-<container>: one already under way (or a migration holding the lock) is left to finish, and the next
   * report asks again.
   */
  const startDueRestarts = async (nodeId: string): Promise<void> => {
    for (const containerId of await restartsDue(db, nodeId, new Date()))
      await temporal.workflow
        .start('restartContainer', {
          taskQueue: controlTaskQueue,
          workflowId: migrationWorkflowId(containerId),
          workflowIdConflictPolicy: 'FAIL',
          args: [{ containerId }],
        })
        .catch((err: unknown) => {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError))
            app.log.error(`restarting ${containerId}: ${(err as Error).message}`);
        });
  };

  app.put<{ Params: { nodeId: string }; Body: NodeReport }>(
    '/v1/nodes/:nodeId/report',
    {
      schema: { params: nodeIdParam, body: nodeReportSchema },
      // Whose report it is, before its body is even read: another PC's credential learns nothing more than a 403.
      preValidation: async (request, reply) => {
        if (request.role !== 'node')
          return replyError(reply, 403, "only node workers report load (with their PC's own credential)");
        if (request.nodeId !== request.params.nodeId)
          return replyError(
            reply,
            403,
            `the credential of ${request.nodeId} cannot report for ${request.params.nodeId}: each PC reports for itself`,
          );
      },
    },
    async (request, reply) => {
      // The answer renews the PC's lease and names the copies it must kill: those of an older epoch than their
      // container's (another copy was restored since: domain/fencing.ts). Read in the report's transaction: a
      // recovery judging this PC silent waits for it, or this answer sees the epoch that recovery gave.
      const copies = (request.body.containers ?? [])
        .filter((c) => c.status === 'running' || c.status === 'paused')
        .map((c) => ({ containerId: c.containerId, epoch: c.epoch ?? 0 }));
      const current = await recordNodeReport(db, request.params.nodeId, request.body, loadRetentionMs, (client) =>
        epochsOf(
          client,
          copies.map((c) => c.containerId),
        ),
      );
      // What the PC runs is the truth: a container killed there, or whose program ended, is recorded as exited.
      if (request.body.containers && request.body.listedAt)
        await noticeExited(db, request.params.nodeId, request.body.containers, new Date(request.body.listedAt));
      await noticeResumed(db, request.params.nodeId, copies);
      const verdict: ReportVerdict = { stale: staleCopies(copies, current ?? new Map<string, number>()) };
      await startDueRestarts(request.params.nodeId);
      return reply.code(200).send(verdict);
    },
  );

  // An administrator gives each PC its own credential (shown once), and cuts one PC off by revoking it.
  app.post<{ Params: { nodeId: string }; Body: { certificateSha256?: string } | undefined }>(
    '/v1/nodes/:nodeId/credential',
    {
      schema: {
        params: nodeIdParam,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            certificateSha256: {
              type: 'string',
              pattern: '^[0-9a-f]{64}$',
              description: "SHA-256 (hex) of the PC's client certificate: the only one of it the Temporal gate admits",
            },
          },
        },
      },
    },
    async (request, reply) => {
      if (!requireAdmin(request.role, reply)) return reply;
      const token = await issueNodeCredential(db, request.params.nodeId, request.body?.certificateSha256);
      return reply.code(201).send({ nodeId: request.params.nodeId, token });
    },
  );

  app.delete<{ Params: { nodeId: string } }>(
    '/v1/nodes/:nodeId/credential',
    { schema: { params: nodeIdParam } },
    async (request, reply) => {
      if (!requireAdmin(request.role, reply)) return reply;
      if (!(await revokeNodeCredential(db, request.params.nodeId)))
        return replyError(reply, 404, `PC ${request.params.nodeId} has no live credential`);
      return reply.code(204).send();
    },
  );

  app.get('/v1/nodes', async () => {
    return { nodes: await listNodes(db) };
  });

  app.get<{ Params: { nodeId: string } }>(
    '/v1/nodes/:nodeId',
    { schema: { params: nodeIdParam } },
    async (request, reply) => {
      const node = await findNode(db, request.params.nodeId);
      if (!node) return replyError(reply, 404, `no node ${request.params.nodeId} has reported yet`);
      // An owner sees the remnants of their own containers only.
      const remnants = await visibleItems(db, request, await remnantsOnNode(db, node.id), (r) => r.containerId);
      return { ...node, remnants };
    },
  );
}
