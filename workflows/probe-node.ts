import { ActivityFailure, proxyActivities, TimeoutFailure } from '@temporalio/workflow';
import type { NodeActivities } from '../activities/node';
import type { NodeDescription } from '../domain/node-description';
import { ErrorType } from '../common/errors';
import { isValidNodeId, NODE_ID_RULE, nodeTaskQueue } from '../common/names';
import { finalFailure, invalidInput } from './workflow-helpers';

export interface ProbeNodeInput {
  /** The PC to ask, e.g. "pc2". */
  nodeId: string;
  /** How long to wait for the PC's worker to answer, in seconds. @default 30 */
  timeoutSeconds?: number;
}

/** Asks one PC, on its own task queue, who it is and how loaded it is. */
export async function probeNode(input: ProbeNodeInput): Promise<NodeDescription> {
  if (!isValidNodeId(input?.nodeId))
    throw invalidInput(`probeNode needs input {"nodeId": "<id>"} (${NODE_ID_RULE})`, input);
  const timeoutSeconds = input.timeoutSeconds ?? 30;
  const taskQueue = nodeTaskQueue(input.nodeId);
  // A powered-off PC's queue has no poller: only scheduleToClose ends the wait, so it bounds every attempt.
  const node = proxyActivities<NodeActivities>({
    taskQueue,
    scheduleToCloseTimeout: `${timeoutSeconds}s`,
    startToCloseTimeout: '10s',
    retry: { initialInterval: '1s', maximumAttempts: 5 },
  });
  try {
    return await node.describeNode();
  } catch (err) {
    if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure) {
      throw finalFailure(
        ErrorType.NodeUnreachable,
        `PC ${input.nodeId} did not answer on task queue ${taskQueue} within ${timeoutSeconds}s: ` +
          'is its node worker running? (check with: npm run cluster -- status)',
      );
    }
    throw err;
  }
}
