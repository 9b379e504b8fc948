import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { NODE_ID_RULE } from '../../common/names';
import { NodeReport, nodeReportSchema } from '../../domain/node-report';
import { noticeExited } from '../../state/containers';
import { findNode, listNodes, recordNodeReport, remnantsOnNode } from '../../state/nodes';
import { replyError } from '../http-errors';
import { nodeIdSchema, params } from '../schemas';

const nodeIdParam = params({ nodeId: { ...nodeIdSchema, description: NODE_ID_RULE } });

export interface NodeRoutesOptions {
  db: Pool;
  /** Load samples older than this are deleted as new ones arrive. @default 24 h */
  loadRetentionMs: number;
}

/** Node registration, load reports and remnant inventories (from node workers); listings (for everyone). */
export function nodeRoutes(app: FastifyInstance, { db, loadRetentionMs }: NodeRoutesOptions): void {
  app.put<{ Params: { nodeId: string }; Body: NodeReport }>(
    '/v1/nodes/:nodeId/report',
    {
      schema: { params: nodeIdParam, body: nodeReportSchema },
    },
    async (request, reply) => {
      if (request.role !== 'node') return replyError(reply, 403, 'only node workers report load (use the node token)');
      await recordNodeReport(db, request.params.nodeId, request.body, loadRetentionMs);
      // What the PC runs is the truth: a container killed there, or whose program ended, is recorded as exited.
      if (request.body.containers && request.body.listedAt)
        await noticeExited(db, request.params.nodeId, request.body.containers, new Date(request.body.listedAt));
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
      return { ...node, remnants: await remnantsOnNode(db, node.id) };
    },
  );
}
