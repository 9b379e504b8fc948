// Before a container runs anywhere else, a PC that may run a copy of it must not (domain/fencing.ts): a restore whose
// answer was lost may have started one. The PC is asked to remove it; a PC that does not answer within lease +
// margin has fenced itself by then (its lease ran out), so waiting that long is as good as its answer.
import { log } from '@temporalio/workflow';
import { controlActivities, nodeActivities } from './activity-proxies';
import { failureMessage } from './workflow-helpers';

/** Makes sure `nodeId` runs no copy of the container: removed there, or fenced since (lease + margin waited). */
export async function evictCopy(containerId: string, nodeId: string): Promise<'removed' | 'fenced'> {
  const { leaseSeconds, marginSeconds } = await controlActivities('30s').fencingTimes();
  try {
    await nodeActivities(nodeId, { answerSeconds: leaseSeconds + marginSeconds }).leaveRemnant({ containerId });
    return 'removed';
  } catch (err) {
    // No answer for lease + margin: whatever runs there has been frozen and taken off the LAN by its fence.
    log.warn('a PC that may run a copy did not answer; it has fenced itself by now', {
      containerId,
      nodeId,
      error: failureMessage(err),
    });
    return 'fenced';
  }
}
