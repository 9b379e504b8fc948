import { executeChild, patched, workflowInfo } from '@temporalio/workflow';
import { isValidContainerId, isValidNodeId, migrationWorkflowId, NODE_ID_RULE } from '../common/names';
import { controlActivities, NodeTimeouts } from './activity-proxies';
import { keepCheckpointOn } from './migration-steps';
import { failureMessage, invalidInput } from './workflow-helpers';

const control = controlActivities();

export interface SafetyCheckpointResult {
  containerId: string;
  source: string;
  /** The PC that now holds the checkpoint (null: none could take it). */
  holder: string | null;
  generation: number | null;
  wireBytes: number;
  note?: string;
}

/**
 * A checkpoint of a running container, taken without stopping it (leave-running) and kept on the best remnant holder,
 * so that a PC switched off without warning loses at most one interval of work: the migration steps 1-5 and 6'
 * (migration-steps.ts). Runs as migrate-<container> so that it never overlaps a migration of the same container.
 */
export async function safetyCheckpoint(input: {
  containerId: string;
  /** The PC to keep it on; the placement policy's choice when absent. */
  to?: string;
  timeouts?: NodeTimeouts;
}): Promise<SafetyCheckpointResult> {
  if (!isValidContainerId(input?.containerId) || (input.to !== undefined && !isValidNodeId(input.to)))
    throw invalidInput(`safetyCheckpoint needs {"containerId", "to"?: PC} (${NODE_ID_RULE})`, input);
  const { containerId } = input;
  const c = await control.loadContainer({ containerId, migrationId: `${containerId}-${workflowInfo().runId}` });
  if (c.state !== 'running' || !c.nodeId)
    return {
      containerId,
      source: c.nodeId ?? '-',
      holder: null,
      generation: null,
      wireBytes: 0,
      note: `not running (${c.state})`,
    };
  // 1. Select the holder.
  let holder = input.to;
  if (!holder) {
    const decision = await control.selectTarget({ containerId, exclude: [] });
    if (!decision.chosen)
      return {
        containerId,
        source: c.nodeId,
        holder: null,
        generation: null,
        wireBytes: 0,
        note: decision.explanation,
      };
    holder = decision.chosen;
  }
  // 2-5, 6'.
  const kept = await keepCheckpointOn({
    containerId,
    from: c.nodeId,
    to: holder,
    ...(input.timeouts ? { timeouts: input.timeouts } : {}),
  });
  return {
    containerId,
    source: c.nodeId,
    holder,
    generation: kept.generation,
    wireBytes: kept.wireBytes,
  };
}

/** A container its PC protected within this long needs no scheduled checkpoint (it would only take its lock). */
const PROTECTED_WITHIN_SECONDS = 600;

/**
 * Safety checkpoints of every running container that continuous protection does not keep (its PC has it off, or
 * kept none lately), one after another (a Temporal Schedule runs this).
 */
export async function safetyCheckpoints(
  input: { timeouts?: NodeTimeouts } = {},
): Promise<{ results: SafetyCheckpointResult[]; errors: { containerId: string; error: string }[] }> {
  const results: SafetyCheckpointResult[] = [];
  const errors: { containerId: string; error: string }[] = [];
  const due = patched('skip-protected')
    ? await control.unprotectedContainers({ withinSeconds: PROTECTED_WITHIN_SECONDS })
    : await control.runningContainers();
  for (const c of due) {
    try {
      results.push(
        await executeChild(safetyCheckpoint, {
          workflowId: migrationWorkflowId(c.id),
          args: [{ containerId: c.id, timeouts: input.timeouts }],
        }),
      );
    } catch (err) {
      errors.push({ containerId: c.id, error: failureMessage(err) });
    }
  }
  return { results, errors };
}
