import { readNodeDescription } from './describe-node';
import type { NodeDescription } from '../../domain/node-description';

export interface NodeActivityDeps {
  /** The id of the PC these activities run on. */
  nodeId: string;
}

/** Activities that run on one PC's own task queue (node-<id>). */
export function createNodeActivities(deps: NodeActivityDeps) {
  return {
    /** Reports this PC's identity, addresses and current load. */
    async describeNode(): Promise<NodeDescription> {
      return readNodeDescription(deps.nodeId);
    },
  };
}

export type NodeActivities = ReturnType<typeof createNodeActivities>;
