// The one place where workflows get their activities: a PC's on its own task queue, the control plane's on the
// workflow's own queue (the control worker's).
import { proxyActivities, RetryPolicy } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control';
import type { NodeActivities } from '../activities/node';
import { nodeTaskQueue } from '../common/names';
import { ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../common/errors';

export interface NodeTimeouts {
  /** How long a short call may wait for the PC (a switched-off PC never answers). @default 60 */
  answerSeconds?: number;
  /** A long call whose worker sends no heartbeat for this long is considered dead. @default 30 */
  heartbeatSeconds?: number;
}

/**
 * Activities of one PC, routed to its own task queue. A powered-off PC's queue has no poller: only
 * scheduleToClose ends the wait, so every call has one; long calls heartbeat so a killed worker is noticed.
 */
export function nodeActivities(nodeId: string, timeouts: NodeTimeouts = {}) {
  const taskQueue = nodeTaskQueue(nodeId);
  const answer = timeouts.answerSeconds ?? 60;
  const retry: RetryPolicy = {
    initialInterval: '1s',
    maximumAttempts: 3,
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  };
  const quick = proxyActivities<NodeActivities>({
    taskQueue,
    scheduleToCloseTimeout: `${answer}s`,
    startToCloseTimeout: `${Math.max(5, Math.floor(answer / 2))}s`,
    retry,
  });
  const long = proxyActivities<NodeActivities>({
    taskQueue,
    scheduleToStartTimeout: `${answer}s`,
    startToCloseTimeout: '30m',
    heartbeatTimeout: `${timeouts.heartbeatSeconds ?? 30}s`,
    retry,
  });
  return {
    prepareReceive: quick.prepareReceive,
    abortReceive: quick.abortReceive,
    takeOverAddress: quick.takeOverAddress,
    leaveRemnant: quick.leaveRemnant,
    containerState: quick.containerState,
    listContainers: quick.listContainers,
    stopContainer: quick.stopContainer,
    createContainer: long.createContainer,
    syncBundle: long.syncBundle,
    checkpointContainer: long.checkpointContainer,
    keepGeneration: long.keepGeneration,
    applyRunningBundle: long.applyRunningBundle,
    mergeChain: long.mergeChain,
    sendCheckpoint: long.sendCheckpoint,
    restoreFromTransfer: long.restoreFromTransfer,
    restoreLocal: long.restoreLocal,
    storeFromTransfer: long.storeFromTransfer,
    deleteContainer: long.deleteContainer,
    collectGarbage: long.collectGarbage,
    stopWithCheckpoint: long.stopWithCheckpoint,
    startStopped: long.startStopped,
    restartContainer: long.restartContainer,
    execInContainer: long.execInContainer,
    readLog: quick.readLog,
    openProtection: quick.openProtection,
    acceptProtection: quick.acceptProtection,
  };
}

/** Control-plane activities (PostgreSQL, placement): short calls, retried a few times unless the input is bad. */
export function controlActivities(startToCloseTimeout: '30s' | '60s' = '60s') {
  return proxyActivities<ControlActivities>({
    startToCloseTimeout,
    retry: { initialInterval: '1s', maximumAttempts: 5, nonRetryableErrorTypes: [ErrorType.InvalidInput] },
  });
}
