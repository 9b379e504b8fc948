// The worker of one PC: polls only node-<id>, so activities routed there run on this PC.
import { Runtime, Worker } from '@temporalio/worker';
import { nodeWorkerConfig } from '../common/config';
import { createNodeActivities } from '../activities/node';
import { connectWithRetry, runMain } from './connect';

runMain('node-worker', async () => {
  const config = nodeWorkerConfig();
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const connection = await connectWithRetry(config.temporal.address);
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.taskQueue,
      activities: createNodeActivities({ nodeId: config.nodeId }),
      shutdownGraceTime: '10s',
    });
    console.log(`node-worker ${config.nodeId}: polling ${config.taskQueue} on ${config.temporal.address}`);
    await worker.run();
  } finally {
    await connection.close();
  }
});
