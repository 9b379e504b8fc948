import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { NODE_ID_RULE } from '../../common/names';
import { NodeReport, nodeReportSchema } from '../../domain/node-report';
import { inTransaction } from '../../state/db';

const nodeIdParam = {
  type: 'object', required: ['nodeId'],
  properties: { nodeId: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,30}$', description: NODE_ID_RULE } },
} as const;

export interface NodeRoutesOptions {
  db: Pool;
  /** Load samples older than this are deleted as new ones arrive. @default 24 h */
  loadRetentionMs: number;
}

/** Node registration, load reports and remnant inventories (from node workers); listings (for everyone). */
export function nodeRoutes(app: FastifyInstance, { db, loadRetentionMs }: NodeRoutesOptions): void {
  app.put<{ Params: { nodeId: string }; Body: NodeReport }>('/v1/nodes/:nodeId/report', {
    schema: { params: nodeIdParam, body: nodeReportSchema },
  }, async (request, reply) => {
    if (request.role !== 'node') return reply.code(403).send({ error: 'Forbidden', message: 'only node workers report load (use the node token)' });
    const { nodeId } = request.params;
    const r = request.body;
    // Node, load sample and remnant inventory change together or not at all.
    await inTransaction(db, async (client) => {
      await client.query(
        `INSERT INTO nodes (id, address, task_queue, cpu_model, cpu_cores, cpu_flags, memory_total_bytes, dirty_tracking, criu_version, last_report_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
         ON CONFLICT (id) DO UPDATE SET address = $2, task_queue = $3, cpu_model = $4, cpu_cores = $5, cpu_flags = $6,
           memory_total_bytes = $7, dirty_tracking = $8, criu_version = $9, last_report_at = now()`,
        [nodeId, r.address, r.taskQueue, r.cpuModel, r.cpuCores, r.cpuFlags, r.memoryTotalBytes, r.dirtyTracking, r.criuVersion]);
      await client.query('INSERT INTO load_samples (node_id, at, cpu, memory, memory_available_bytes) VALUES ($1, clock_timestamp(), $2, $3, $4)',
        [nodeId, r.cpu, r.memory, r.memoryAvailableBytes]);
      await client.query("DELETE FROM load_samples WHERE at < now() - ($1::bigint * interval '1 millisecond')", [loadRetentionMs]);
      await client.query('DELETE FROM remnants WHERE node_id = $1', [nodeId]);
      for (const rem of r.remnants) {
        await client.query(
          `INSERT INTO remnants (node_id, container_id, has_bundle, generations, image_bytes, left_at, expires_at, reported_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, now())`,
          [nodeId, rem.containerId, rem.hasBundle, rem.generations, rem.imageBytes, rem.leftAt, rem.expiresAt]);
      }
    });
    return reply.code(204).send();
  });

  const nodeColumns = `n.id, n.address, n.task_queue AS "taskQueue", n.cpu_model AS "cpuModel", n.cpu_cores AS "cpuCores",
    n.cpu_flags AS "cpuFlags", n.memory_total_bytes::float8 AS "memoryTotalBytes", n.dirty_tracking AS "dirtyTracking",
    n.criu_version AS "criuVersion", n.last_report_at AS "lastReportAt",
    l.cpu, l.memory, l.memory_available_bytes::float8 AS "memoryAvailableBytes"`;
  const latestLoad = `LEFT JOIN LATERAL (SELECT cpu, memory, memory_available_bytes FROM load_samples s
    WHERE s.node_id = n.id ORDER BY at DESC LIMIT 1) l ON true`;

  app.get('/v1/nodes', async () => {
    const { rows } = await db.query(`SELECT ${nodeColumns} FROM nodes n ${latestLoad} ORDER BY n.id`);
    return { nodes: rows };
  });

  app.get<{ Params: { nodeId: string } }>('/v1/nodes/:nodeId', { schema: { params: nodeIdParam } }, async (request, reply) => {
    const { rows } = await db.query(`SELECT ${nodeColumns} FROM nodes n ${latestLoad} WHERE n.id = $1`, [request.params.nodeId]);
    if (!rows.length) return reply.code(404).send({ error: 'Not Found', message: `no node ${request.params.nodeId} has reported yet` });
    const remnants = await db.query(
      `SELECT container_id AS "containerId", has_bundle AS "hasBundle", generations, image_bytes::float8 AS "imageBytes",
         left_at AS "leftAt", expires_at AS "expiresAt" FROM remnants WHERE node_id = $1 ORDER BY container_id`, [request.params.nodeId]);
    return { ...rows[0], remnants: remnants.rows };
  });
}
