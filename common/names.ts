/**
 * Deterministic names shared by workflows, workers and the launcher. Pure: safe inside workflow code.
 */

/** Task queue for workflows and control-plane activities. */
export const CONTROL_TASK_QUEUE = 'zanshin-control';

const NODE_ID_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;

/** True when `id` can name a PC: lower-case letters, digits and dashes, starting with a letter, at most 31 chars. */
export function isValidNodeId(id: unknown): id is string {
  return typeof id === 'string' && NODE_ID_PATTERN.test(id);
}

/** Explains what a valid node id looks like, for error messages. */
export const NODE_ID_RULE = 'a node id is 1-31 characters of a-z, 0-9 and "-", starting with a letter (e.g. "pc1")';

/** Each PC polls its own task queue, so work sent there runs on that PC and nowhere else. */
export function nodeTaskQueue(nodeId: string): string {
  return `node-${nodeId}`;
}

/** Workflow id of a probe of one PC (one probe per PC at a time is enough). */
export function probeWorkflowId(nodeId: string): string {
  return `probe-${nodeId}`;
}
