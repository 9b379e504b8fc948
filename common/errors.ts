/**
 * One error vocabulary for the whole system. Each type is used as an ApplicationFailure `type`,
 * so workflows and retry policies can match on it by name.
 */
export enum ErrorType {
  /** Bad input from a user or caller: retrying cannot help. */
  InvalidInput = 'InvalidInput',
  /** A PC's worker did not pick up or finish work in time (powered off, worker down, network cut). */
  NodeUnreachable = 'NodeUnreachable',
  /** Configuration missing or malformed; the message names the variable. */
  Config = 'ConfigError',
}

/** Error types that no retry can fix; activity retry policies list these as non-retryable. */
export const NON_RETRYABLE_ERROR_TYPES: readonly string[] = [ErrorType.InvalidInput, ErrorType.Config];

/** Thrown when the environment is missing or has a malformed setting. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
