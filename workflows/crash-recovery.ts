import { executeChild, patched, workflowInfo } from '@temporalio/workflow';
import { migrationWorkflowId } from '../common/names';
import { controlActivities, nodeActivities, NodeTimeouts } from './activity-proxies';
import { epochForRestore } from './epochs';
import { failureMessage } from './workflow-helpers';

const control = controlActivities();

export interface RecoveryResult {
  containerId: string;
  deadNode: string;
  restoredOn: string | null;
  generation: number | null;
  /** How old the checkpoint was: the work lost. */
  checkpointAgeMs: number | null;
  error?: string;
  /** Left alone, and why (a migration of it runs, it moved meanwhile, its PC answered that it still runs it). */
  skipped?: string;
}

interface CrashedContainer {
  containerId: string;
  deadNode: string;
  holder: { nodeId: string; generation: number } | null;
  /** Its PC is live but no longer runs it (it came back from a power-off, the copy was removed). */
  lost?: boolean;
  /** How long its PC has been silent at least: its epoch is given only while it still is. */
  silentSeconds?: number;
}

/**
 * Crash recovery (a Temporal Schedule runs this every minute): containers of a PC silent for longer than its lease
 * plus the margin (by then it has fenced itself: domain/fencing.ts) are restored on the live PC holding their newest
 * checkpoint, and the history says how old that checkpoint was. Each runs as migrate-<container>, so a recovery
 * never overlaps a migration (or a safety checkpoint) of the same container.
 */
export async function recoverCrashedNodes(
  input: { offlineAfterSeconds?: number; timeouts?: NodeTimeouts } = {},
): Promise<RecoveryResult[]> {
  const out: RecoveryResult[] = [];
  const { runId } = workflowInfo();
  for (const c of await control.crashedContainers({ offlineAfterSeconds: input.offlineAfterSeconds })) {
    try {
      out.push(
        await executeChild(recoverContainer, {
          workflowId: migrationWorkflowId(c.containerId),
          args: [{ ...c, recoveryRunId: runId, ...(input.timeouts ? { timeouts: input.timeouts } : {}) }],
        }),
      );
    } catch (err) {
      const message = failureMessage(err);
      out.push({
        containerId: c.containerId,
        deadNode: c.deadNode,
        restoredOn: null,
        generation: null,
        checkpointAgeMs: null,
        ...(/already started|AlreadyStarted/i.test(message)
          ? { skipped: 'a migration of it runs (it decides where the container goes)' }
          : { error: message }),
      });
    }
  }
  return out;
}

/** One container of a silent PC, restored from the newest checkpoint a live PC holds (runs as migrate-<container>). */
export async function recoverContainer(
  input: CrashedContainer & { recoveryRunId: string; timeouts?: NodeTimeouts },
): Promise<RecoveryResult> {
  const { containerId, deadNode } = input;
  const result: RecoveryResult = {
    containerId,
    deadNode,
    restoredOn: null,
    generation: input.holder?.generation ?? null,
    checkpointAgeMs: null,
  };
  // Listed before this lock was taken: it may have moved since.
  const now = await control.loadContainer({ containerId });
  if (now.state !== (input.lost ? 'lost' : 'running') || now.nodeId !== deadNode)
    return { ...result, skipped: `it is ${now.state} on ${now.nodeId ?? 'no PC'} now` };
  const stillThere = await nodeActivities(deadNode, { answerSeconds: 5 })
    .containerState({ containerId })
    .catch(() => null);
  // A frozen copy (its PC's fence) is no obstacle: it is stale once restored elsewhere, and killed if it returns.
  if (stillThere?.status === 'running') return { ...result, skipped: `${deadNode} answered that it still runs it` };
  // Already recorded lost, and still nobody holds a checkpoint: nothing new to try or to record (every minute).
  if (!input.holder && input.lost) return { ...result, skipped: 'no live PC holds a checkpoint of it yet' };
  if (!input.holder) {
    result.error = `no live PC holds a checkpoint of ${containerId}: it is lost until ${deadNode} returns`;
  } else {
    // Its epoch only while the PC is still silent (a lost copy's PC is live and does not run it): a PC back just
    // now keeps its copy, or hears at its very next report that the copy is stale.
    const epoch =
      !input.lost && input.silentSeconds !== undefined && patched('recovery-epoch-if-silent')
        ? await control.nextEpochIfSilent({ containerId, nodeId: deadNode, silentSeconds: input.silentSeconds })
        : await epochForRestore(containerId);
    if ('reporting' in epoch) return { ...result, skipped: `${deadNode} reports again: its copy goes on` };
    try {
      const r = await nodeActivities(input.holder.nodeId, input.timeouts).restoreLocal({
        containerId,
        generation: input.holder.generation,
        ...(epoch.epoch === null || epoch.epoch === undefined ? {} : { epoch: epoch.epoch }),
      });
      result.restoredOn = input.holder.nodeId;
      result.checkpointAgeMs = Date.now() - Date.parse(r.checkpointCreatedAt);
    } catch (err) {
      result.error = `restoring ${containerId} on ${input.holder.nodeId} failed: ${failureMessage(err)}`;
    }
  }
  const { workflowId, runId } = workflowInfo();
  await control.recordRecovery({
    id: `${containerId}-recovery-${input.recoveryRunId}`,
    workflowId,
    runId,
    containerId,
    from: deadNode,
    to: result.restoredOn,
    generation: result.generation,
    checkpointAgeMs: result.checkpointAgeMs,
    reason: input.lost ? `crash recovery: ${deadNode} lost it` : `crash recovery: ${deadNode} stopped reporting`,
    ...(result.error ? { error: result.error } : {}),
  });
  return result;
}
