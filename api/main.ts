// migration-api process: HTTP over PostgreSQL, starting workflows through Temporal.
import { Client, Connection } from '@temporalio/client';
import type tls from 'node:tls';
import { readPair, watchCertificate } from './tls-rotation';
import { temporalTlsOptions } from '../common/temporal-tls';
import { dataConverterWith, payloadCodecFromEnv, readPayloadKey } from '../common/payload-codec';
import { createPool } from '../state/db';
import { AddressPoolSettings, apiConfig } from '../common/config';
import { ConfigError } from '../common/errors';
import { AddressPool, parseAddressPool } from '../domain/container-network';
import { buildApi } from './app';
import { migrate } from './db';
import { startHistoryPruning } from './history-pruning';
import { startLectureWindow } from './lecture-window';

/** How often timetables with rules going on past their window are looked at. */
const LECTURE_WINDOW_CHECK_MS = 6 * 3_600_000;
/** How often finished history past ZANSHIN_HISTORY_DAYS is removed. */
const HISTORY_PRUNING_MS = 3_600_000;

/** The containers' address pool, checked at start so that a bad setting stops the API with its name. */
function addressPoolOf(settings: AddressPoolSettings | null): AddressPool | null {
  if (!settings) return null;
  try {
    return parseAddressPool(settings.cidr, settings.lanPrefixLength, settings.gateway, settings.dns);
  } catch (err) {
    throw new ConfigError(`ZANSHIN_CONTAINER_POOL / ZANSHIN_LAN_* / ZANSHIN_CONTAINER_DNS: ${(err as Error).message}`);
  }
}

async function main(): Promise<void> {
  const config = apiConfig();
  const db = createPool(config.databaseUrl, 10);
  const { applied } = await migrate(db);
  if (applied.length) console.log(`migration-api: applied database migrations ${applied.join(', ')}`);
  // Lazy: the API answers (and says why a workflow cannot start) even while Temporal is still coming up.
  const connection = Connection.lazy({ address: config.temporal.address, ...temporalTlsOptions(config.temporal.tls) });
  const temporal = new Client({
    connection,
    namespace: config.temporal.namespace,
    ...dataConverterWith(payloadCodecFromEnv()),
  });
  const app = buildApi({
    db,
    temporal,
    adminToken: config.adminToken,
    logger: true,
    policy: config.policy,
    timezone: config.timezone,
    lectureWindowDays: config.lectureWindowDays,
    controlTaskQueue: config.temporal.controlTaskQueue,
    addressPool: addressPoolOf(config.addressPool),
    enrollmentCa: config.enrollmentCa,
    payloadKey: process.env.ZANSHIN_PAYLOAD_KEY_FILE ? readPayloadKey(process.env.ZANSHIN_PAYLOAD_KEY_FILE) : null,
    secureCookies: config.tls !== null,
    https: config.tls && readPair(config.tls),
  });
  const stopLectureWindow = startLectureWindow(db, {
    windowDays: config.lectureWindowDays,
    everyMs: LECTURE_WINDOW_CHECK_MS,
    log: (line) => console.log(`migration-api: ${line}`),
  });
  const stopHistoryPruning = startHistoryPruning(db, {
    historyDays: config.historyDays,
    everyMs: HISTORY_PRUNING_MS,
    log: (line) => console.log(`migration-api: ${line}`),
  });
  const stopRotation = config.tls ? watchCertificate(app.server as unknown as tls.Server, config.tls) : () => undefined;
  const shutdown = async (): Promise<void> => {
    stopRotation();
    stopLectureWindow();
    stopHistoryPruning();
    await app.close();
    await db.end();
    await connection.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
  await app.listen({ host: config.host, port: config.port });
}

main().catch((err: unknown) => {
  console.error(`migration-api: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
