import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export interface TemporalTarget {
  address: string;
  namespace: string;
}

/** Runs `fn` with a client connected to the cluster's Temporal server, closing the connection after. */
export async function withTemporalClient<T>(target: TemporalTarget, fn: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: target.address, connectTimeout: '5s' });
  try {
    return await fn(new Client({ connection, namespace: target.namespace }));
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
