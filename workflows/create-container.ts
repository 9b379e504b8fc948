import { ApplicationFailure } from '@temporalio/workflow';
import { ErrorType } from '../common/errors';
import { isValidNodeId, NODE_ID_RULE } from '../common/names';
import type { CreateContainerInput } from '../node/executor';
import type { ContainerState } from '../node/runc';
import { nodeActivities } from './node-activities';

export interface CreateContainerWorkflowInput extends CreateContainerInput {
  /** The PC to create it on. */
  nodeId: string;
}

/** Builds a bundle on a PC from a rootfs and starts the container there. */
export async function createContainer(input: CreateContainerWorkflowInput): Promise<ContainerState> {
  if (!input || !isValidNodeId(input.nodeId) || !input.containerId || !Array.isArray(input.args) || !input.rootfs) {
    throw ApplicationFailure.create({
      type: ErrorType.InvalidInput, nonRetryable: true,
      message: `createContainer needs {"nodeId", "containerId", "rootfs": {"dir"|"tarball"}, "args": [...], "env": [...], "memoryMiB"} (${NODE_ID_RULE})`,
    });
  }
  const { nodeId, ...container } = input;
  return nodeActivities(nodeId).createContainer({ ...container, env: container.env ?? [], memoryMiB: container.memoryMiB ?? 64 });
}
