// The worker of one PC: polls only node-<id>, so activities routed there run on this PC. It also serves this
// PC's data plane, through which other PCs send it bundles and checkpoints.
import { Runtime, Worker } from '@temporalio/worker';
import { nodeWorkerConfig } from '../common/config';
import { createNodeActivities } from '../activities/node';
import { PcRegistry } from '../node/pc-registry';
import { dataConverterWith, payloadCodecFromEnv } from '../common/payload-codec';
import { detectCapabilities } from '../node/capabilities';
import { buildDataPlane } from '../node/dataplane/server';
import { selfSignedPair } from '../common/certificate-authority';
import { ContainerNet } from '../node/container-net';
import { NodeExecutor } from '../node/executor';
import { hashPool } from '../node/hash-pool';
import { LoadReporter } from '../node/load-reporter';
import { ProtectionLoop } from '../node/protection';
import { ProtectionHolder } from '../node/protection-holder';
import { lifecycleSignals } from './lifecycle-signals';
import { SeatWatch } from '../node/seat-watch';
import { connectWithRetry, runMain } from './connect';

/** Logs the worker's memory when it grew or shrank by 16 MiB (finding what a move keeps resident). */
function traceMemory(everyMs: number): void {
  if (!(everyMs > 0)) return;
  let last = 0;
  setInterval(() => {
    const m = process.memoryUsage();
    if (Math.abs(m.rss - last) < 16 << 20) return;
    last = m.rss;
    const mib = (n: number) => `${Math.round(n / 1048576)}`;
    console.log(
      `${new Date().toISOString()} memory MiB: rss ${mib(m.rss)} heap ${mib(m.heapUsed)}/${mib(m.heapTotal)} external ${mib(m.external)} arrayBuffers ${mib(m.arrayBuffers)}`,
    );
  }, everyMs).unref();
}

runMain('node-worker', async () => {
  const config = nodeWorkerConfig();
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const capabilities = await detectCapabilities(config.criu, config.dirtyStrategy);
  if (capabilities.trackingCheckFailure)
    console.error(
      `node-worker ${config.nodeId}: this kernel is built with soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY=y) but ` +
        `CRIU's check of it failed, so this PC dumps by content hashing. CRIU said:\n${capabilities.trackingCheckFailure}`,
    );
  hashPool(); // start the hash workers now, not during a migration's downtime
  traceMemory(Number(process.env.ZANSHIN_MEMORY_TRACE_MS ?? 0));
  // The data plane's TLS identity, made afresh at each start: sources get its certificate with each transfer.
  const dataPlaneTls = config.dataPlaneTls
    ? await selfSignedPair(`zanshin-dataplane-${config.nodeId}`, config.address)
    : null;
  const executor = new NodeExecutor({
    nodeId: config.nodeId,
    dataDir: config.dataDir,
    dataPlaneAddress: `${config.address}:${config.dataPort}`,
    dataPlaneCertificate: dataPlaneTls?.certPem ?? null,
    criu: config.criu,
    helpersDir: config.helpersDir,
    capabilities,
    remnantRetentionMs: config.remnantRetentionMs,
    keepGenerations: config.keepGenerations,
    ...(config.storeReserveBytes !== undefined ? { storeReserveBytes: config.storeReserveBytes } : {}),
    lazyRestore: config.lazyRestore,
    lazyRestoreMinBytes: config.lazyRestoreMinBytes,
    chainMergeThreshold: config.chainMergeThreshold,
    netnsPrefix: config.netnsPrefix,
    rootfsRoots: config.rootfsRoots,
    insecureRegistries: config.insecureRegistries,
  });
  await executor.secureDataDir();
  await executor.runc.baseSpec(); // asked now, not in a restore's downtime
  // Continuous protection: this PC keeps others' checkpoints (holder), and sends its own containers' (loop).
  const holder = new ProtectionHolder(config.nodeId, executor);
  const sweep = setInterval(() => void holder.sweep().catch(() => undefined), 60_000).unref();
  const dataPlane = buildDataPlane(
    executor.transfers,
    config.dataPlaneLimits,
    dataPlaneTls && { cert: dataPlaneTls.certPem, key: dataPlaneTls.keyPem },
    holder,
  );
  // Students' containers must not reach this PC's own services (data plane, relays): refuse their addresses first.
  if (config.containerPool) await ContainerNet.refuseContainers(config.containerPool);
  await dataPlane.listen({ host: config.address, port: config.dataPort });
  const signals = lifecycleSignals(config.nodeId, config.temporal);
  const protection =
    config.protection.intervalMs > 0
      ? new ProtectionLoop({
          nodeId: config.nodeId,
          executor,
          settings: config.protection,
          requestLeases: async (containerIds) => void (await signals.send('protect', { containerIds })),
        })
      : null;
  // A student at the PC's own keyboard takes it back: its lifecycle evacuates it, placement leaves it alone.
  const seat = config.seat.watch
    ? new SeatWatch({
        settings: config.seat,
        idleSeconds: config.seat.idleSeconds,
        onChange: async (change) => void (await signals.send('seat', change)),
        prepare: () => signals.connect(),
        log: (line) => console.log(`node-worker ${config.nodeId}: ${line}`),
      })
    : null;
  const reporter =
    config.apiUrl && config.nodeToken
      ? new LoadReporter({
          apiUrl: config.apiUrl,
          token: config.nodeToken,
          executor,
          intervalMs: config.loadReportMs,
          ...(protection ? { protection: () => protection.statuses() } : {}),
        })
      : null;
  reporter?.start();
  // Sources send only to registered PCs' data planes (the list comes from migration-api, with this PC's token).
  const registry =
    config.apiUrl && config.nodeToken ? new PcRegistry({ apiUrl: config.apiUrl, token: config.nodeToken }) : null;
  const connection = await connectWithRetry(config.temporal.address, config.temporal.tls);
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.taskQueue,
      activities: createNodeActivities({
        nodeId: config.nodeId,
        executor,
        ...(registry ? { dataPlanes: (refresh?: boolean) => registry.dataPlanes(refresh) } : {}),
        ...(protection ? { protection } : {}),
        holder,
      }),
      shutdownGraceTime: '10s',
      // Inputs and results are encrypted with the cluster key in Temporal (transfer tokens among them).
      ...dataConverterWith(payloadCodecFromEnv()),
    });
    console.log(
      `node-worker ${config.nodeId}: polling ${config.taskQueue} on ${config.temporal.address}; data plane on ${config.address}:${config.dataPort} (${dataPlaneTls ? 'TLS' : 'plain HTTP'}); ` +
        `CRIU ${capabilities.criuVersion}, dirty tracking ${capabilities.memDirtyTrack ? 'kernel' : 'none (content hashing)'}; ` +
        (protection
          ? `protection every ${config.protection.intervalMs / 1000} s (freezes <= ${config.protection.freezeShare * 100} %)`
          : 'protection off'),
    );
    protection?.start();
    void seat?.start(); // a slow or absent system bus must not hold up the worker's polling
    await worker.run();
  } finally {
    clearInterval(sweep);
    seat?.stop();
    await protection?.stop();
    await signals.close();
    await reporter?.stop();
    await dataPlane.close();
    await connection.close();
  }
});
