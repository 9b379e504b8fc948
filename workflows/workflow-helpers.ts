// Small helpers every workflow uses. Workflow code: deterministic, no Node built-ins.
import { ApplicationFailure } from '@temporalio/workflow';
import { ErrorType } from '../common/errors';

export { failureMessage } from '../common/failures';
export { forEachBounded } from '../common/bounded';

/** The failure a workflow raises for input it cannot use: not retried, and the message says what was expected. */
export function invalidInput(expected: string, got: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.InvalidInput,
    nonRetryable: true,
    message: `${expected}; got ${JSON.stringify(got)}`,
  });
}

/** A failure the workflow ends with, of one of the ErrorType kinds, never retried. */
export function finalFailure(type: ErrorType, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, nonRetryable: true, message });
}
