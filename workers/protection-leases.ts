// How a PC's protection loop asks for leases: a signal to its own lifecycle workflow (the only workflow the full
// server's authorizer lets a PC signal), which opens them on holders and hands them to this PC's worker.
import { Client, Connection } from '@temporalio/client';
import { controlTaskQueue, TemporalConfig } from '../common/config';
import { nodeLifecycleWorkflowId } from '../common/names';
import { dataConverterWith, payloadCodecFromEnv } from '../common/payload-codec';
import { temporalTlsOptions } from '../common/temporal-tls';

export function leaseRequester(
  nodeId: string,
  temporal: TemporalConfig,
): { request: (containerIds: string[]) => Promise<void>; close: () => Promise<void> } {
  let connected: Promise<{ connection: Connection; client: Client }> | null = null;
  const connect = () =>
    (connected ??= Connection.connect({ address: temporal.address, ...temporalTlsOptions(temporal.tls) }).then(
      (connection) => ({
        connection,
        client: new Client({ connection, namespace: temporal.namespace, ...dataConverterWith(payloadCodecFromEnv()) }),
      }),
      (err: unknown) => {
        connected = null; // try again at the next request
        throw err;
      },
    ));
  return {
    async request(containerIds) {
      const { client } = await connect();
      await client.workflow.signalWithStart('nodeLifecycle', {
        taskQueue: controlTaskQueue(),
        workflowId: nodeLifecycleWorkflowId(nodeId),
        args: [{ nodeId }],
        signal: 'protect',
        signalArgs: [{ containerIds }],
      });
    },
    async close() {
      const c = await connected?.catch(() => null);
      await c?.connection.close();
    },
  };
}
