/**
 * Ids, their rules, and the deterministic names derived from them, defined once for workflows, workers, the API,
 * the store and the launcher. Pure: safe inside workflow code.
 */

/** Task queue for workflows and control-plane activities (ZANSHIN_CONTROL_TASK_QUEUE overrides it, see config). */
export const CONTROL_TASK_QUEUE = 'zanshin-control';

/** A PC's id: lower-case letters, digits and dashes, starting with a letter, at most 31 characters. */
export const NODE_ID_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;
/** Explains what a valid node id looks like, for error messages. */
export const NODE_ID_RULE = 'a node id is 1-31 characters of a-z, 0-9 and "-", starting with a letter (e.g. "pc1")';

/** A container's id: lower-case letters, digits, "_", "." and "-", starting with a letter or digit, at most 64. */
export const CONTAINER_ID_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
export const CONTAINER_ID_RULE =
  'a container id is 1-64 characters of a-z, 0-9, "_", "." and "-", starting with a letter or digit';

/** Fencing (domain/fencing.ts): how long a PC may run its containers without an acknowledged report. */
export const DEFAULT_LEASE_SECONDS = 30;
/** Fencing: what recovery elsewhere waits beyond a silent PC's lease. */
export const DEFAULT_FENCE_MARGIN_SECONDS = 10;
/** A PC is taken for offline (not a candidate, its containers recovered) after this long without a report. */
export const DEFAULT_OFFLINE_AFTER_SECONDS = 30;

/** About one term (20 weeks): how far ahead timetables are expanded (rules without an end stop there for now). */
export const DEFAULT_LECTURE_WINDOW_DAYS = 140;
/** Finished history older than this many days is removed (migration-api). */
export const DEFAULT_HISTORY_DAYS = 180;

/** True when `id` can name a PC. */
export function isValidNodeId(id: unknown): id is string {
  return typeof id === 'string' && NODE_ID_PATTERN.test(id);
}

/** True when `id` can name a container. */
export function isValidContainerId(id: unknown): id is string {
  return typeof id === 'string' && CONTAINER_ID_PATTERN.test(id);
}

/** Each PC polls its own task queue, so work sent there runs on that PC and nowhere else. */
export function nodeTaskQueue(nodeId: string): string {
  return `node-${nodeId}`;
}

/** Workflow id of a probe of one PC (one probe per PC at a time is enough). */
export function probeWorkflowId(nodeId: string): string {
  return `probe-${nodeId}`;
}

/**
 * Workflow id of anything that moves or checkpoints a container (migrations, safety checkpoints): Temporal refuses
 * a second one while one runs, so at most one of them touches a container at a time.
 */
export function migrationWorkflowId(containerId: string): string {
  return `migrate-${containerId}`;
}

/** Workflow id of a container's start on a PC; `stamp` keeps starts apart. */
export function createWorkflowId(containerId: string, stamp: number): string {
  return `create-${containerId}-${stamp}`;
}

/** Workflow id of a PC's lifecycle workflow (shutdown and lecture signals go there). */
export function nodeLifecycleWorkflowId(nodeId: string): string {
  return `node-${nodeId}`;
}

/** One evacuation per PC and lecture: a planner run that finds it under way does not start a second. */
export function lectureEvacuationWorkflowId(nodeId: string, lectureAt: Date): string {
  return `lecture-${nodeId}-${lectureAt.toISOString().replace(/[-:]|\.\d+/g, '')}`;
}
