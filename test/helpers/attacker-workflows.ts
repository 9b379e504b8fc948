// What someone able to start workflows could run: any activity, with any input, on any PC's task queue. The
// access tests run it to show that the PCs refuse (domain/node-input.ts, the executor's own checks).
import { proxyActivities } from '@temporalio/workflow';

export async function callNodeActivity(input: { nodeId: string; activity: string; args: unknown }): Promise<unknown> {
  const activities = proxyActivities<Record<string, (args: unknown) => Promise<unknown>>>({
    taskQueue: `node-${input.nodeId}`,
    startToCloseTimeout: '60s',
    retry: { maximumAttempts: 1 },
  });
  return activities[input.activity]!(input.args);
}
