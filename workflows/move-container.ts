import { ApplicationFailure, defineQuery, log, setHandler } from '@temporalio/workflow';
import { ErrorType } from '../common/errors';
import { isValidNodeId, NODE_ID_RULE } from '../common/names';
import { MoveReport, moveOnce, StepReport } from './move-once';
import { nodeActivities, NodeTimeouts } from './node-activities';

export type { MoveReport, StepReport } from './move-once';

export interface MoveContainerInput {
  containerId: string;
  /** The PC the container runs on now. */
  from: string;
  /** The PC to move it to. */
  to: string;
  timeouts?: NodeTimeouts;
}

export const moveProgressQuery = defineQuery<StepReport[]>('progress');

/**
 * Moves a running container between two given PCs. If anything fails after the checkpoint, the container is
 * restored where it was: it never runs on two nodes, and never on none. (migrateContainer also picks the target
 * and tries another one when a target dies.)
 */
export async function moveContainer(input: MoveContainerInput): Promise<MoveReport> {
  const { containerId, from, to } = input ?? ({} as MoveContainerInput);
  if (!containerId || !isValidNodeId(from) || !isValidNodeId(to) || from === to) {
    throw ApplicationFailure.create({
      type: ErrorType.InvalidInput, nonRetryable: true,
      message: `moveContainer needs {"containerId", "from", "to"} with two different PCs (${NODE_ID_RULE}); got ${JSON.stringify(input)}`,
    });
  }
  const steps: StepReport[] = [];
  setHandler(moveProgressQuery, () => steps);
  const outcome = await moveOnce({ containerId, from, to, timeouts: input.timeouts, onStep: (s) => steps.push(s) });
  if (outcome.ok) return outcome.report;
  if (outcome.checkpoint) {
    // Compensation: the container runs again where it was, from the checkpoint just taken.
    log.warn('move failed after the checkpoint; restoring on the source', { containerId, from, to, error: outcome.error });
    await nodeActivities(from, input.timeouts).restoreLocal({ containerId, generation: outcome.checkpoint.generation });
  }
  throw ApplicationFailure.create({
    type: ErrorType.MoveFailed, nonRetryable: true,
    message: `moving ${containerId} ${from} -> ${to} failed${outcome.checkpoint ? '; it runs again on ' + from : ' before the checkpoint; it kept running on ' + from}: ${outcome.error}`,
  });
}
