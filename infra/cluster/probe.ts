import type { Client } from '@temporalio/client';
import { probeWorkflowId } from '../../common/names';
import { controlTaskQueue } from '../../common/config';
import type { NodeDescription } from '../../domain/node-description';
import type { probeNode } from '../../workflows';

export interface ProbeResult {
  nodeId: string;
  workflowId: string;
  runId: string;
  description?: NodeDescription;
  error?: string;
}

/** Runs the probeNode workflow for each PC (on the control queue; its activity runs on the PC's own queue). */
export async function probeNodes(client: Client, nodeIds: string[]): Promise<ProbeResult[]> {
  return Promise.all(
    nodeIds.map(async (nodeId): Promise<ProbeResult> => {
      const handle = await client.workflow.start<typeof probeNode>('probeNode', {
        taskQueue: controlTaskQueue(),
        workflowId: probeWorkflowId(nodeId),
        args: [{ nodeId }],
        workflowIdConflictPolicy: 'FAIL',
      });
      const ids = { nodeId, workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
      try {
        return { ...ids, description: await handle.result() };
      } catch (err) {
        const cause = (err as { cause?: Error }).cause;
        return { ...ids, error: cause?.message ?? (err as Error).message };
      }
    }),
  );
}
