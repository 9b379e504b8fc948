// What a PC tells its own lifecycle workflow (the only workflow the full server's authorizer lets a PC signal): its
// protection loop asks for leases (`protect`), its seat watch says it is used or free (`seat`), zanshin-power-off
// asks for its evacuation (`shutdown`).
import { Client, Connection, WorkflowHandle } from '@temporalio/client';
import { controlTaskQueue, TemporalConfig } from '../common/config';
import { nodeLifecycleWorkflowId } from '../common/names';
import { dataConverterWith, payloadCodecFromEnv } from '../common/payload-codec';
import { temporalTlsOptions } from '../common/temporal-tls';

export interface LifecycleSignals {
  /** Signals (starting it if need be) the PC's lifecycle workflow; its handle, for queries. */
  send(signal: 'protect' | 'seat' | 'shutdown', arg: unknown): Promise<WorkflowHandle>;
  /** Connects now (a signal that must go fast does not wait for a TLS handshake). */
  connect(): Promise<void>;
  close(): Promise<void>;
}

export function lifecycleSignals(nodeId: string, temporal: TemporalConfig): LifecycleSignals {
  let connected: Promise<{ connection: Connection; client: Client }> | null = null;
  const connect = () =>
    (connected ??= Connection.connect({ address: temporal.address, ...temporalTlsOptions(temporal.tls) }).then(
      (connection) => ({
        connection,
        client: new Client({ connection, namespace: temporal.namespace, ...dataConverterWith(payloadCodecFromEnv()) }),
      }),
      (err: unknown) => {
        connected = null; // try again at the next signal
        throw err;
      },
    ));
  return {
    async connect() {
      await connect();
    },
    async send(signal, arg) {
      const { client } = await connect();
      return client.workflow.signalWithStart('nodeLifecycle', {
        taskQueue: controlTaskQueue(),
        workflowId: nodeLifecycleWorkflowId(nodeId),
        args: [{ nodeId }],
        signal,
        signalArgs: [arg],
      });
    },
    async close() {
      const c = await connected?.catch(() => null);
      await c?.connection.close();
    },
  };
}
