// The control worker: runs every workflow and the control-plane activities on the control task queue.
import { Runtime, Worker } from '@temporalio/worker';
import { createPool } from '../state/db';
import { controlWorkerConfig } from '../common/config';
import { createControlActivities } from '../activities/control';
import { connectWithRetry, runMain } from './connect';
import { dataConverterWith, payloadCodecFromEnv } from '../common/payload-codec';

runMain('control-worker', async () => {
  const { temporal: config, databaseUrl, policy } = controlWorkerConfig();
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  // Control activities read and write the cluster's state; without a database only workflows that need none run.
  const db = databaseUrl ? createPool(databaseUrl, 5) : null;
  const connection = await connectWithRetry(config.address, config.tls);
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.namespace,
      taskQueue: config.controlTaskQueue,
      workflowsPath: require.resolve('../workflows'),
      activities: db ? createControlActivities({ db, policy, fencing: policy.fencing }) : {},
      shutdownGraceTime: '10s',
      ...dataConverterWith(payloadCodecFromEnv()),
    });
    console.log(
      `control-worker: polling ${config.controlTaskQueue} on ${config.address}${db ? '' : ' (no ZANSHIN_DATABASE_URL: control activities off)'}`,
    );
    await worker.run();
  } finally {
    await connection.close();
    await db?.end();
  }
});
