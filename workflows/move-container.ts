import { defineQuery, log, patched, setHandler } from '@temporalio/workflow';
import { ErrorType } from '../common/errors';
import { isValidContainerId, isValidNodeId, NODE_ID_RULE } from '../common/names';
import type { MoveReport, StepReport } from '../domain/reports';
import { controlActivities, nodeActivities, NodeTimeouts } from './activity-proxies';
import { epochForRestore } from './epochs';
import { evictCopy } from './eviction';
import { moveOnce } from './migration-steps';
import { finalFailure, invalidInput } from './workflow-helpers';

export type { MoveReport, StepReport } from '../domain/reports';

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
 * Moves a running container between two given PCs: steps 2-7 of migration-steps.ts. If anything fails after the
 * checkpoint, the container is restored where it was: it never runs on two nodes, and never on none.
 * (migrateContainer also picks the target, records the migration and tries another target when one dies.)
 */
export async function moveContainer(input: MoveContainerInput): Promise<MoveReport> {
  if (
    !isValidContainerId(input?.containerId) ||
    !isValidNodeId(input.from) ||
    !isValidNodeId(input.to) ||
    input.from === input.to
  ) {
    throw invalidInput(
      `moveContainer needs {"containerId", "from", "to"} with two different PCs (${NODE_ID_RULE})`,
      input,
    );
  }
  const { containerId, from, to } = input;
  // A container migration-api keeps moves only by migrateContainer, which claims it (one move at a time, however
  // started) and records where it runs; this one is for containers outside it (benchmarks, the demo's first run).
  if (patched('move-refuses-registered') && (await controlActivities('30s').isRegistered({ containerId })))
    throw finalFailure(
      ErrorType.InvalidInput,
      `container ${containerId} is registered with migration-api: move it with migrateContainer ` +
        `(zanshin migrate ${containerId} --to ${to}), which claims it and records where it runs`,
    );
  // The placement rule that holds for named PCs too: the target's CPU must have every instruction the source's has.
  const cpu = await controlActivities('30s').cpuIncompatibility({ from, to });
  if (cpu) throw finalFailure(ErrorType.NoTarget, `cannot move ${containerId} ${from} -> ${to}: ${cpu}`);
  const steps: StepReport[] = [];
  setHandler(moveProgressQuery, () => steps);
  const outcome = await moveOnce({ containerId, from, to, timeouts: input.timeouts, onStep: (s) => steps.push(s) });
  if (outcome.ok) return outcome.report;
  if (outcome.checkpoint) {
    // A restore that failed may have started the copy all the same: gone there before the source runs it again.
    if (outcome.targetMayRun) await evictCopy(containerId, to);
    // Compensation: the container runs again where it was, from the checkpoint just taken.
    log.warn('move failed after the checkpoint; restoring on the source', {
      containerId,
      from,
      to,
      error: outcome.error,
    });
    await nodeActivities(from, input.timeouts).restoreLocal({
      containerId,
      generation: outcome.checkpoint.generation,
      ...(await epochForRestore(containerId)),
    });
  }
  throw finalFailure(
    ErrorType.MoveFailed,
    `moving ${containerId} ${from} -> ${to} failed${outcome.checkpoint ? '; it runs again on ' + from : ' before the checkpoint; it kept running on ' + from}: ${outcome.error}`,
  );
}
