import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { existsSync } from 'node:fs';
import { ClusterKeyCodec, dataConverterWith, readPayloadKey } from '../../common/payload-codec';
import type { ClusterConfig } from './config';
import { planCluster } from './plan';
import { payloadKeyFile } from './secrets';

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** The cluster key: payloads are encrypted with it (common/payload-codec.ts). */
  payloadKeyFile?: string;
}

/** The local cluster's Temporal as its administrator on this host sees it: the dev server on loopback, the key. */
export function clusterTemporal(config: ClusterConfig): TemporalTarget {
  return {
    address: `127.0.0.1:${config.temporalPort}`,
    namespace: 'default',
    payloadKeyFile: payloadKeyFile(planCluster(config).paths.secrets),
  };
}

/** A client that reads and writes the cluster's encrypted payloads (when it has a key). */
export function clusterClient(connection: Connection, target: TemporalTarget): Client {
  const key = target.payloadKeyFile && existsSync(target.payloadKeyFile) ? target.payloadKeyFile : null;
  return new Client({
    connection,
    namespace: target.namespace,
    ...dataConverterWith(key ? new ClusterKeyCodec(readPayloadKey(key)) : null),
  });
}

/** Runs `fn` with a client connected to the cluster's Temporal server, closing the connection after. */
export async function withTemporalClient<T>(target: TemporalTarget, fn: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: target.address, connectTimeout: '5s' });
  try {
    return await fn(clusterClient(connection, target));
  } finally {
    await connection.close();
  }
}

/** Pollers are listed for minutes after they stop; a live one renews its long poll at least every ~60 s. */
const LIVE_POLLER_WINDOW_MS = 90_000;

/** How many workers poll a task queue for activities now (0 when the PC's worker is down). */
export async function activityPollers(client: Client, taskQueue: string): Promise<number> {
  const response = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  const now = Date.now();
  return (response.pollers ?? []).filter((p) => {
    const seconds = Number(p.lastAccessTime?.seconds ?? 0);
    return now - seconds * 1000 < LIVE_POLLER_WINDOW_MS;
  }).length;
}
