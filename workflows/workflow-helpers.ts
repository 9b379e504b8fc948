// Small helpers every workflow uses. Workflow code: deterministic, no Node built-ins.
import { ApplicationFailure } from '@temporalio/workflow';
import { ErrorType } from '../common/errors';

export { failureMessage } from '../common/failures';

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

/**
 * Runs `work` over `items` with at most `parallel` running at once, in order of the list (a later item never
 * starts before an earlier one). Used for child migrations, so that a PC is not asked to send many at once.
 */
export async function forEachBounded<T>(
  items: readonly T[],
  parallel: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const queue = [...items];
  const lane = async (): Promise<void> => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, queue.length)) }, lane));
}
