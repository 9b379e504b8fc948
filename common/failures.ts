/**
 * The message a user should read from a failure: Temporal wraps the real cause (an activity's or a child
 * workflow's ApplicationFailure) in an ActivityFailure or ChildWorkflowFailure whose own message says little.
 * Pure: safe inside workflow code.
 */
export function failureMessage(err: unknown): string {
  const e = err as { cause?: { message?: string }; message?: string } | null | undefined;
  return e?.cause?.message ?? e?.message ?? String(err);
}
