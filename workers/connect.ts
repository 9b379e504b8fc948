import { NativeConnection } from '@temporalio/worker';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Connects to the Temporal frontend, retrying while it starts (the launcher starts workers right after
 * the server and the namespace relays). Fails naming the address after `timeoutMs`.
 */
export async function connectWithRetry(address: string, timeoutMs = 60_000): Promise<NativeConnection> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      return await NativeConnection.connect({ address });
    } catch (err) {
      lastError = err;
      await delay(1_000);
    }
  }
  throw new Error(
    `cannot reach the Temporal server at ${address} after ${timeoutMs / 1000}s ` +
      `(is it running? set TEMPORAL_ADDRESS): ${(lastError as Error)?.message ?? lastError}`,
  );
}

/** Runs a worker's main function, printing a one-line error and exiting non-zero when it fails. */
export function runMain(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
