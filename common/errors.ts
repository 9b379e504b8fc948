/**
 * One error vocabulary for the whole system. Each type is an ApplicationFailure `type` (an activity's Error
 * subclass becomes one named after its class), so workflows, retry policies and tests match on it by name.
 */
export enum ErrorType {
  /** Bad input from a user or caller: retrying cannot help. */
  InvalidInput = 'InvalidInput',
  /** A PC's worker did not pick up or finish work in time (powered off, worker down, network cut). */
  NodeUnreachable = 'NodeUnreachable',
  /** No PC can take the container now; the message lists every candidate's reason. */
  NoTarget = 'NoTarget',
  /** moveContainer failed; the message says where the container runs now. */
  MoveFailed = 'MoveFailed',
  /** A safety checkpoint could not be taken or kept; the container runs on, unchanged. */
  CheckpointFailed = 'CheckpointFailed',
  /** migrateContainer failed after every target it tried; the message says where the container runs now. */
  MigrationFailed = 'MigrationFailed',
  /** A node refused an operation's precondition (container absent, already running, ...). */
  Executor = 'ExecutorError',
  /** A manifest failed validation (bad path, hash, size). */
  Manifest = 'ManifestError',
  /** A container's rootfs is larger than its disk quota: it stays where it is until it frees space. */
  DiskQuota = 'DiskQuotaError',
  /** The target's data plane does not answer: another target may do. */
  TargetUnreachable = 'TargetUnreachableError',
}

/** Error types no retry can fix; activity retry policies list these as non-retryable. */
export const NON_RETRYABLE_ERROR_TYPES: string[] = [
  ErrorType.InvalidInput,
  ErrorType.Executor,
  ErrorType.Manifest,
  ErrorType.DiskQuota,
];

/** Thrown when the environment is missing or has a malformed setting. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Temporal's own wrappers around a failure: they say where it happened, never what it was. */
const WRAPPER_MESSAGES = new Set([
  'Workflow execution failed',
  'Activity task failed',
  'Child Workflow execution failed',
]);

/**
 * What went wrong, for a user: the first cause that is not one of Temporal's wrappers (a workflow's own failure
 * keeps its context; a node's error under "Activity task failed" is found beneath it).
 */
export function rootCause(err: unknown): { message: string; type?: string } {
  let e = err as { message?: string; type?: string; cause?: unknown } | undefined;
  while (e && WRAPPER_MESSAGES.has(e.message ?? '') && typeof e.cause === 'object' && e.cause !== null) e = e.cause;
  return { message: e?.message ?? String(err), ...(e?.type ? { type: e.type } : {}) };
}
