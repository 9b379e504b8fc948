import { defineQuery, log, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { ErrorType } from '../common/errors';
import { isValidContainerId, isValidNodeId, NODE_ID_RULE } from '../common/names';
import type { PlacementDecision } from '../domain/placement';
import type { CheckpointReport, MigrationAttempt, MigrationResult, StepReport } from '../domain/reports';
import { controlActivities, nodeActivities, NodeTimeouts } from './activity-proxies';
import { epochForRestore } from './epochs';
import { evictCopy } from './eviction';
import { moveOnce } from './migration-steps';
import { failureMessage, finalFailure, invalidInput } from './workflow-helpers';

export type { MigrationResult } from '../domain/reports';

export interface MigrateContainerInput {
  containerId: string;
  /** Target PC; chosen by the placement policy when absent. */
  to?: string;
  /** The policy's decision that chose `to` (the API passes the one it showed). */
  decision?: PlacementDecision;
  reason?: string;
  /** Id of the migration record. @default <container>-<run id> */
  migrationId?: string;
  /** Targets tried at most when targets die one after another. @default 3 */
  maxTargets?: number;
  /** false: no pre-copy (an evacuation with little time: the PC must be free first). @default true */
  preCopy?: boolean;
  timeouts?: NodeTimeouts;
}

export const migrationProgressQuery = defineQuery<{
  to: string | null;
  attempts: MigrationAttempt[];
  steps: StepReport[];
}>('progress');

const control = controlActivities('30s');

/**
 * Migrates a container, the paper's steps in order (see migration-steps.ts): 1. select the target (policy,
 * explanation recorded), then 2-7 on the PCs. A target that dies (before or after the checkpoint) is replaced by the
 * next best one, resending the source's checkpoint; if no target can take it, the container is restored on the
 * source. Only one migration per container runs (workflow id migrate-<container>).
 */
export async function migrateContainer(input: MigrateContainerInput): Promise<MigrationResult> {
  if (!isValidContainerId(input?.containerId) || (input.to !== undefined && !isValidNodeId(input.to))) {
    throw invalidInput(`migrateContainer needs {"containerId", "to"?: PC, "reason"?} (${NODE_ID_RULE})`, input);
  }
  const { containerId } = input;
  const info = workflowInfo();
  // The whole run id: run ids are time-ordered (UUIDv7), so a prefix repeats between runs minutes apart.
  const migrationId = input.migrationId ?? `${containerId}-${info.runId}`;
  const attempts: MigrationAttempt[] = [];
  const steps: StepReport[] = [];
  let to: string | null = input.to ?? null;
  setHandler(migrationProgressQuery, () => ({ to, attempts, steps }));

  const container = await control.loadContainer({ containerId, migrationId });
  if (!container.movable || !container.nodeId) {
    throw finalFailure(
      ErrorType.InvalidInput,
      `container ${containerId} is ${container.state}${container.state === 'migrating' ? ' (another migration holds it)' : ', not running on any PC'}`,
    );
  }
  const from = container.nodeId;
  if (to === from) throw finalFailure(ErrorType.InvalidInput, `container ${containerId} already runs on ${from}`);

  // 1. Select the target (a named one must still have a CPU that can run what the source's ran).
  let decision: PlacementDecision | null = input.decision ?? null;
  if (to && !decision) {
    const cpu = await control.cpuIncompatibility({ from, to });
    if (cpu) throw finalFailure(ErrorType.NoTarget, `cannot move ${containerId} to ${to}: ${cpu}`);
  }
  if (!to) {
    decision = await control.selectTarget({ containerId, exclude: [] });
    if (!decision.chosen) throw finalFailure(ErrorType.NoTarget, decision.explanation);
    to = decision.chosen;
  }
  await control.recordMigrationStart({
    id: migrationId,
    workflowId: info.workflowId,
    runId: info.runId,
    containerId,
    from,
    to,
    reason: input.reason ?? 'requested',
    decision,
  });

  // 2-7. Move, replacing a target that dies; the checkpoint, once taken, is resent to the next target.
  let checkpoint: CheckpointReport | undefined;
  const failed: { nodeId: string; reason: string }[] = [];
  let lastError = '';
  while (to) {
    const outcome = await moveOnce({
      containerId,
      from,
      to,
      checkpoint,
      timeouts: input.timeouts,
      ...(input.preCopy === false ? { preCopy: false } : {}),
      onStep: (s) => steps.push(s),
    });
    if (outcome.ok) {
      const attempt: MigrationAttempt = { to, outcome: 'completed' };
      attempts.push(attempt);
      await control.recordAttempt({ id: migrationId, attempt, nextTo: null, decision: null });
      const result: MigrationResult = {
        ...outcome.report,
        migrationId,
        attempts,
        decision,
        totalMs: Date.now() - info.startTime.getTime(),
      };
      await control.recordMigrationEnd({
        id: migrationId,
        containerId,
        status: 'completed',
        report: result,
        nodeId: to,
        containerState: 'running',
      });
      return result;
    }
    checkpoint = outcome.checkpoint ?? checkpoint;
    lastError = outcome.error;
    // A restore that failed may have started the copy all the same: never a second one before it is gone.
    if (outcome.targetMayRun) await evictCopy(containerId, to);
    const attempt: MigrationAttempt = {
      to,
      outcome: outcome.targetFailed ? 'target failed' : 'failed',
      error: outcome.error,
    };
    attempts.push(attempt);
    let next: PlacementDecision | null = null;
    if (outcome.targetFailed && attempts.length < (input.maxTargets ?? 3)) {
      failed.push({ nodeId: to, reason: `it stopped answering during this migration (${outcome.error})` });
      log.warn('target died; choosing another', { containerId, to, error: outcome.error });
      next = await control.selectTarget({ containerId, exclude: failed });
    }
    to = next?.chosen ?? null;
    if (next) decision = next;
    await control.recordAttempt({ id: migrationId, attempt, nextTo: to, decision: next });
  }

  // Compensation: no target could take it, so it runs again where it was.
  const back = checkpoint
    ? await restoreWhereItWas(containerId, from, checkpoint, input.timeouts)
    : await stillOnSource(containerId, from);
  const message = `migration ${migrationId} of ${containerId} failed after ${attempts.length} target(s) (${attempts.map((a) => `${a.to}: ${a.outcome}`).join(', ')}); ${back.where}. Last error: ${lastError}`;
  await control.recordMigrationEnd({
    id: migrationId,
    containerId,
    status: 'failed',
    error: message,
    nodeId: back.nodeId,
    containerState: back.state,
  });
  throw finalFailure(ErrorType.MigrationFailed, message);
}

/**
 * No checkpoint was taken: the container is where it was, if its source still runs it (found by the soak: a source
 * that had lost it, powered off and back, was recorded as running it). Asked, not assumed; a source that does not
 * answer is left to crash recovery's own judgement.
 */
async function stillOnSource(
  containerId: string,
  from: string,
): Promise<{ nodeId: string; state: 'running' | 'lost'; where: string }> {
  const there = await nodeActivities(from, { answerSeconds: 10 })
    .containerState({ containerId })
    .catch(() => null);
  if (there && (there.status === 'absent' || there.status === 'stopped'))
    return {
      nodeId: from,
      state: 'lost',
      where: `${from} no longer runs it (${there.status}): crash recovery brings it back from its newest checkpoint`,
    };
  return { nodeId: from, state: 'running', where: `it kept running on ${from}` };
}

/**
 * The container stopped on `from` at its checkpoint: restore it there; if the source is gone too, the newest
 * checkpoint a live PC holds (a safety checkpoint, or an earlier move's) brings it back.
 */
async function restoreWhereItWas(
  containerId: string,
  from: string,
  checkpoint: CheckpointReport,
  timeouts?: NodeTimeouts,
): Promise<{ nodeId: string; state: 'running' | 'lost'; where: string }> {
  try {
    await nodeActivities(from, timeouts).restoreLocal({
      containerId,
      generation: checkpoint.generation,
      ...(await epochForRestore(containerId)),
    });
    return {
      nodeId: from,
      state: 'running',
      where: `it runs again on ${from} from generation ${checkpoint.generation}`,
    };
  } catch (err) {
    const sourceError = failureMessage(err);
    // The source's restore may have started it all the same (its answer lost): gone there before it runs elsewhere.
    await evictCopy(containerId, from);
    const holder = await control.newestCheckpointHolder({ containerId, exclude: [from] });
    try {
      if (!holder) throw new Error('no live PC holds a checkpoint of it');
      const r = await nodeActivities(holder.nodeId, timeouts).restoreLocal({
        containerId,
        generation: holder.generation,
        ...(await epochForRestore(containerId)),
      });
      const ageSeconds = Math.round((Date.now() - Date.parse(r.checkpointCreatedAt)) / 1000);
      return {
        nodeId: holder.nodeId,
        state: 'running',
        where: `${from} could not restore it (${sourceError}); it runs on ${holder.nodeId} from generation ${holder.generation}, taken ${ageSeconds} s earlier (its work since then and its established connections are lost)`,
      };
    } catch (fallbackError) {
      // Lost, not stopped: crash recovery tries again every minute from the newest checkpoint a live PC holds
      // ('stopped' left it on no PC for good: found by the soak). The holder's restore may have started it all the
      // same (its answer lost): gone there first.
      if (holder && patched('evict-failed-holder')) await evictCopy(containerId, holder.nodeId);
      return {
        nodeId: from,
        state: 'lost',
        where: `${from} could not restore it (${sourceError}), nor could another PC (${failureMessage(fallbackError)}); its checkpoint generation ${checkpoint.generation} is kept on ${from}, and crash recovery tries again`,
      };
    }
  }
}
