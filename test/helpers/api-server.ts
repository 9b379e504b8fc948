// migration-api for a test file: its own PostgreSQL and Temporal dev server, migrated, listening on a free port.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { ApiDeps, buildApi } from '../../api/app';
import { migrate } from '../../api/db';
import type { NodeReport } from '../../domain/node-report';
import { createPool } from '../../state/db';
import { startTestPostgres } from './postgres';
import { startTestTemporal } from './temporal';

export interface TestApi {
  pool: Pool;
  api: FastifyInstance;
  baseUrl: string;
  temporal: TestWorkflowEnvironment;
  /** Stops the API, its pool and both servers. */
  stop(): Promise<void>;
}

export async function startTestApi(adminToken: string, more: Partial<ApiDeps> = {}): Promise<TestApi> {
  const [pg, temporal] = await Promise.all([startTestPostgres(), startTestTemporal()]);
  const pool = createPool(pg.url, 10, () => undefined); // teardown stops PostgreSQL under idle connections
  await migrate(pool);
  const api = buildApi({ db: pool, temporal: temporal.client, adminToken, ...more });
  const baseUrl = await api.listen({ host: '127.0.0.1', port: 0 });
  return {
    pool,
    api,
    baseUrl,
    temporal,
    stop: async () => {
      await api.close();
      await pool.end();
      await Promise.all([pg.stop(), temporal.teardown()]);
    },
  };
}

/** A PC's load report as a node worker sends it, with one remnant (`over` replaces fields). */
export const sampleReport = (over: Partial<NodeReport> = {}): NodeReport => ({
  address: '10.77.0.11:7070',
  taskQueue: 'node-pc1',
  cpu: 0.25,
  memory: 0.5,
  memoryTotalBytes: 8 * 2 ** 30,
  memoryAvailableBytes: 4 * 2 ** 30,
  cpuModel: 'Test CPU',
  cpuCores: 4,
  cpuFlags: ['avx2', 'sse4_2'],
  dirtyTracking: false,
  criuVersion: '4.1.1',
  remnants: [
    {
      containerId: 'c1',
      hasBundle: true,
      generations: [1, 2],
      imageBytes: 1000,
      leftAt: '2026-11-26T06:00:00.000Z',
      expiresAt: '2026-11-27T06:00:00.000Z',
    },
  ],
  ...over,
});
