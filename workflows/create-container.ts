import { isValidContainerId, isValidNodeId, NODE_ID_RULE } from '../common/names';
import type { ContainerState, CreateContainerInput } from '../domain/reports';
import { epochForRestore } from './epochs';
import { nodeActivities } from './activity-proxies';
import { invalidInput } from './workflow-helpers';

export interface CreateContainerWorkflowInput extends CreateContainerInput {
  /** The PC to create it on. */
  nodeId: string;
}

/** Builds a bundle on a PC from a rootfs and starts the container there. */
export async function createContainer(input: CreateContainerWorkflowInput): Promise<ContainerState> {
  if (
    !isValidNodeId(input?.nodeId) ||
    !isValidContainerId(input.containerId) ||
    !Array.isArray(input.args) ||
    !input.rootfs
  ) {
    throw invalidInput(
      `createContainer needs {"nodeId", "containerId", "rootfs": {"dir"|"tarball"|"image"}, "args": [...], "env": [...], "memoryMiB"} (${NODE_ID_RULE})`,
      input,
    );
  }
  const { nodeId, ...container } = input;
  return nodeActivities(nodeId).createContainer({
    ...container,
    ...(await epochForRestore(container.containerId)),
    env: container.env ?? [],
    memoryMiB: container.memoryMiB ?? 64,
  });
}
