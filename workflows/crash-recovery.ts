import { workflowInfo } from '@temporalio/workflow';
import { controlActivities, nodeActivities, NodeTimeouts } from './activity-proxies';
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
}

/**
 * Crash recovery (a Temporal Schedule runs this every minute): containers of a PC that stopped reporting are
 * restored on the live PC holding their newest checkpoint, and the history says how old that checkpoint was.
 * First the dead PC is asked once more: if its worker answers that the container still runs, it is left alone
 * (restoring it elsewhere would run it twice).
 */
export async function recoverCrashedNodes(
  input: { offlineAfterSeconds?: number; timeouts?: NodeTimeouts } = {},
): Promise<RecoveryResult[]> {
  const out: RecoveryResult[] = [];
  const { workflowId, runId } = workflowInfo();
  for (const c of await control.crashedContainers({ offlineAfterSeconds: input.offlineAfterSeconds })) {
    const base = {
      id: `${c.containerId}-recovery-${runId}`,
      workflowId,
      runId,
      containerId: c.containerId,
      from: c.deadNode,
    };
    const stillThere = await nodeActivities(c.deadNode, { answerSeconds: 5 })
      .containerState({ containerId: c.containerId })
      .catch(() => null);
    if (stillThere?.status === 'running') continue;
    const result: RecoveryResult = {
      containerId: c.containerId,
      deadNode: c.deadNode,
      restoredOn: null,
      generation: c.holder?.generation ?? null,
      checkpointAgeMs: null,
    };
    if (!c.holder) {
      result.error = `no live PC holds a checkpoint of ${c.containerId}: it is lost until ${c.deadNode} returns`;
    } else {
      try {
        const r = await nodeActivities(c.holder.nodeId, input.timeouts).restoreLocal({
          containerId: c.containerId,
          generation: c.holder.generation,
        });
        result.restoredOn = c.holder.nodeId;
        result.checkpointAgeMs = Date.now() - Date.parse(r.checkpointCreatedAt);
      } catch (err) {
        result.error = `restoring ${c.containerId} on ${c.holder.nodeId} failed: ${failureMessage(err)}`;
      }
    }
    await control.recordRecovery({
      ...base,
      to: result.restoredOn,
      generation: result.generation,
      checkpointAgeMs: result.checkpointAgeMs,
      ...(result.error ? { error: result.error } : {}),
    });
    out.push(result);
  }
  return out;
}
