import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TemporalTls } from '../../common/config';
import { temporalTlsOptions } from '../../common/temporal-tls';
import { GATE_SERVER_NAME } from './pki';
import { ClusterKeyCodec, dataConverterWith, readPayloadKey } from '../../common/payload-codec';
import type { ClusterConfig } from './config';
import { planCluster } from './plan';
import { payloadKeyFile } from './secrets';

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** Mutual TLS (the full server): the cluster CA and the administrator's certificate. */
  tls?: TemporalTls | null;
  /** The cluster key: payloads are encrypted with it (common/payload-codec.ts). */
  payloadKeyFile?: string;
}

/**
 * The local cluster's Temporal as its administrator on this host sees it: the dev server on loopback, or the full
 * server with the administrator's certificate; and the payload key.
 */
export function clusterTemporal(config: ClusterConfig): TemporalTarget {
  const secrets = planCluster(config).paths.secrets;
  const pki = path.join(secrets, 'pki');
  return {
    address: `127.0.0.1:${config.temporalPort}`,
    namespace: 'default',
    payloadKeyFile: payloadKeyFile(secrets),
    tls:
      config.temporal === 'server'
        ? {
            ca: path.join(pki, 'ca.crt'),
            cert: path.join(pki, 'admin.crt'),
            key: path.join(pki, 'admin.key'),
            serverName: GATE_SERVER_NAME,
          }
        : null,
  };
}

/** A connection to the cluster's Temporal (with TLS when the target has it). */
export function connectTemporal(target: TemporalTarget): Promise<Connection> {
  return Connection.connect({
    address: target.address,
    connectTimeout: '5s',
    ...temporalTlsOptions(target.tls ?? null),
  });
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
  const connection = await connectTemporal(target);
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
