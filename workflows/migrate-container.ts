import { ApplicationFailure, defineQuery, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control';
import { ErrorType } from '../common/errors';
import { isValidNodeId, NODE_ID_RULE } from '../common/names';
import type { PlacementDecision } from '../domain/placement';
import type { CheckpointReport } from '../node/executor';
import type { MigrationAttempt } from '../state/migrations';
import { MoveReport, moveOnce, StepReport } from './move-once';
import { nodeActivities, NodeTimeouts } from './node-activities';

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
  timeouts?: NodeTimeouts;
}

export interface MigrationResult extends MoveReport {
  migrationId: string;
  attempts: MigrationAttempt[];
  decision: PlacementDecision | null;
}

export const migrationProgressQuery = defineQuery<{ to: string | null; attempts: MigrationAttempt[]; steps: StepReport[] }>('progress');

const control = proxyActivities<ControlActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidInput'] },
});

/**
 * Migrates a container: select target (policy, explanation recorded) -> reuse bundle -> dump -> transfer the
 * difference -> restore -> record the remnant and the new location. A target that dies (before or after the
 * checkpoint) is replaced by the next best one, resending the source's checkpoint; if no target can take it, the
 * container is restored on the source. Only one migration per container runs (workflow id migrate-<container>).
 */
export async function migrateContainer(input: MigrateContainerInput): Promise<MigrationResult> {
  const { containerId } = input ?? ({} as MigrateContainerInput);
  if (!containerId || (input.to !== undefined && !isValidNodeId(input.to))) {
    throw ApplicationFailure.create({
      type: ErrorType.InvalidInput, nonRetryable: true,
      message: `migrateContainer needs {"containerId", "to"?: PC, "reason"?} (${NODE_ID_RULE}); got ${JSON.stringify(input)}`,
    });
  }
  const info = workflowInfo();
  // The whole run id: run ids are time-ordered (UUIDv7), so a prefix repeats between runs minutes apart.
  const migrationId = input.migrationId ?? `${containerId}-${info.runId}`;
  const attempts: MigrationAttempt[] = [];
  const steps: StepReport[] = [];
  let to: string | null = input.to ?? null;
  setHandler(migrationProgressQuery, () => ({ to, attempts, steps }));

  const container = await control.loadContainer({ containerId, migrationId });
  if (!container.movable || !container.nodeId) {
    throw ApplicationFailure.create({ type: ErrorType.InvalidInput, nonRetryable: true, message: `container ${containerId} is ${container.state}${container.state === 'migrating' ? ' (another migration holds it)' : ', not running on any PC'}` });
  }
  const from = container.nodeId;
  if (to === from) throw ApplicationFailure.create({ type: ErrorType.InvalidInput, nonRetryable: true, message: `container ${containerId} already runs on ${from}` });

  // 1. Select the target.
  let decision: PlacementDecision | null = input.decision ?? null;
  if (!to) {
    decision = await control.selectTarget({ containerId, exclude: [] });
    if (!decision.chosen) throw ApplicationFailure.create({ type: ErrorType.NoTarget, nonRetryable: true, message: decision.explanation });
    to = decision.chosen;
  }
  await control.recordMigrationStart({ id: migrationId, workflowId: info.workflowId, runId: info.runId, containerId, from, to, reason: input.reason ?? 'requested', decision });

  // 2-5. Move, replacing a target that dies; the checkpoint, once taken, is resent to the next target.
  let checkpoint: CheckpointReport | undefined;
  const failed: { nodeId: string; reason: string }[] = [];
  let lastError = '';
  while (to) {
    const outcome = await moveOnce({ containerId, from, to, checkpoint, timeouts: input.timeouts, onStep: (s) => steps.push(s) });
    if (outcome.ok) {
      attempts.push({ to, outcome: 'completed' });
      await control.recordAttempt({ id: migrationId, attempt: attempts[attempts.length - 1]!, nextTo: null, decision: null });
      const result: MigrationResult = { ...outcome.report, migrationId, attempts, decision };
      await control.recordMigrationEnd({ id: migrationId, containerId, status: 'completed', report: result, nodeId: to, containerState: 'running' });
      return result;
    }
    checkpoint = outcome.checkpoint ?? checkpoint;
    lastError = outcome.error;
    attempts.push({ to, outcome: outcome.targetFailed ? 'target failed' : 'failed', error: outcome.error });
    let next: PlacementDecision | null = null;
    if (outcome.targetFailed && attempts.length < (input.maxTargets ?? 3)) {
      failed.push({ nodeId: to, reason: `it stopped answering during this migration (${outcome.error})` });
      log.warn('target died; choosing another', { containerId, to, error: outcome.error });
      next = await control.selectTarget({ containerId, exclude: failed });
    }
    to = next?.chosen ?? null;
    if (next) decision = next;
    await control.recordAttempt({ id: migrationId, attempt: attempts[attempts.length - 1]!, nextTo: to, decision: next });
  }

  // No target could take it: it runs again where it was, from the checkpoint if one was taken. If the source is
  // gone too, the newest checkpoint a live PC holds (a safety checkpoint, or an earlier move's) brings it back.
  let where = `it kept running on ${from}`;
  let state: 'running' | 'stopped' = 'running';
  let nodeId = from;
  if (checkpoint) {
    try {
      await nodeActivities(from, input.timeouts).restoreLocal({ containerId, generation: checkpoint.generation });
      where = `it runs again on ${from} from generation ${checkpoint.generation}`;
    } catch (err) {
      const sourceError = (err as { cause?: { message?: string }; message: string }).cause?.message ?? (err as Error).message;
      const holder = await control.newestCheckpointHolder({ containerId, exclude: [from] });
      try {
        if (!holder) throw new Error('no live PC holds a checkpoint of it');
        const r = await nodeActivities(holder.nodeId, input.timeouts).restoreLocal({ containerId, generation: holder.generation });
        nodeId = holder.nodeId;
        where = `${from} could not restore it (${sourceError}); it runs on ${holder.nodeId} from generation ${holder.generation}, taken ${Math.round((Date.now() - Date.parse(r.checkpointCreatedAt)) / 1000)} s earlier`;
      } catch (fallbackError) {
        state = 'stopped';
        where = `${from} could not restore it (${sourceError}), nor could another PC (${(fallbackError as Error).message}); its checkpoint generation ${checkpoint.generation} is kept on ${from}`;
      }
    }
  }
  const message = `migration ${migrationId} of ${containerId} failed after ${attempts.length} target(s) (${attempts.map((a) => `${a.to}: ${a.outcome}`).join(', ')}); ${where}. Last error: ${lastError}`;
  await control.recordMigrationEnd({ id: migrationId, containerId, status: 'failed', error: message, nodeId, containerState: state });
  throw ApplicationFailure.create({ type: ErrorType.MigrationFailed, nonRetryable: true, message });
}
