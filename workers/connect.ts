import { NativeConnection } from '@temporalio/worker';
import { setTimeout as delay } from 'node:timers/promises';
import type { TemporalTls } from '../common/config';
import { temporalTlsOptions } from '../common/temporal-tls';

/**
 * Connects to the Temporal frontend, retrying while it starts (the launcher starts workers right after
 * the server and the namespace relays). Fails naming the address after `timeoutMs`.
 */
export async function connectWithRetry(
  address: string,
  tls: TemporalTls | null = null,
  timeoutMs = 60_000,
): Promise<NativeConnection> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      return await NativeConnection.connect({ address, ...temporalTlsOptions(tls) });
    } catch (err) {
      lastError = err;
      await delay(1_000);
    }
  }
  throw new Error(
    `cannot reach the Temporal server at ${address} after ${timeoutMs / 1000}s ` +
      `(is it running? set TEMPORAL_ADDRESS${tls ? "; is this PC's certificate still admitted by the gate?" : ''}): ${(lastError as Error)?.message ?? lastError}`,
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
