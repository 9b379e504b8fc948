import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { listMigrations, MigrationRow } from '../../state/migrations';
import { syncMigration } from '../migration-sync';

export interface EventRoutesOptions {
  db: Pool;
  temporal: Client;
  /** How often the stream looks for change. @default 1000 */
  intervalMs?: number;
}

/** A workflow's progress query has this long (a worker may be down: the stream goes on without its steps). */
const PROGRESS_DEADLINE_MS = 800;

/**
 * Server-sent events for the web view: `migrations` (those running, with their steps so far, and the latest ones),
 * sent at once and again whenever it changes; an owner's stream holds only their containers' migrations.
 */
export function eventRoutes(app: FastifyInstance, { db, temporal, intervalMs = 1_000 }: EventRoutesOptions): void {
  // Open streams end when the API closes (the server would otherwise wait for them).
  const open = new Set<() => void>();
  app.addHook('preClose', (done) => {
    for (const end of open) end();
    done();
  });
  app.get(
    '/v1/events',
    {
      schema: {
        description:
          'text/event-stream: event `migrations` ({running: [{...migration, progress}], recent: [...]}) at once and on change',
      },
    },
    async (request, reply) => {
      const owner = request.role === 'owner' ? { owner: request.ownerId! } : {};
      const progressOf = (row: MigrationRow) =>
        temporal
          .withDeadline(Date.now() + PROGRESS_DEADLINE_MS, () =>
            temporal.workflow.getHandle(row.workflowId, row.runId).query<unknown>('progress'),
          )
          .catch(() => null);
      const snapshot = async () => {
        const rows = await Promise.all(
          (await listMigrations(db, { limit: 20, ...owner })).map((r) => syncMigration(db, temporal, r)),
        );
        const running = await Promise.all(
          rows.filter((r) => r.status === 'running').map(async (r) => ({ ...r, progress: await progressOf(r) })),
        );
        return { running, recent: rows.filter((r) => r.status !== 'running') };
      };
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-content-type-options': 'nosniff',
      });
      let closed = false;
      const end = () => (closed = true);
      open.add(end);
      request.raw.on('close', end);
      let last = '';
      while (!closed) {
        const data = JSON.stringify(await snapshot().catch((err: Error) => ({ error: err.message })));
        if (data !== last) reply.raw.write(`event: migrations\ndata: ${data}\n\n`);
        else reply.raw.write(': still here\n\n'); // keeps proxies from closing an idle stream
        last = data;
        for (let waited = 0; waited < intervalMs && !closed; waited += 100)
          await new Promise((r) => setTimeout(r, 100));
      }
      open.delete(end);
      reply.raw.end();
    },
  );
}
