// The control worker: runs every workflow and the control-plane activities on the control task queue.
import { Runtime, Worker } from '@temporalio/worker';
import { temporalConfig } from '../common/config';
import { connectWithRetry, runMain } from './connect';

runMain('control-worker', async () => {
  const config = temporalConfig();
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const connection = await connectWithRetry(config.address);
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.namespace,
      taskQueue: config.controlTaskQueue,
      workflowsPath: require.resolve('../workflows'),
      shutdownGraceTime: '10s',
    });
    console.log(`control-worker: polling ${config.controlTaskQueue} on ${config.address}`);
    await worker.run();
  } finally {
    await connection.close();
  }
});
