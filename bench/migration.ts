// Benchmark: a counter container of BENCH_MIB MiB (default 256) moves pc1 -> pc2 (nothing to reuse) and back
// (remnant reused) on a cluster of its own. Prints dump, hashing, bytes on a full and a return move, restore.
// Run: npm run bench:migration   (as root; figures depend on this machine's load: compare ratios from one run)
import { Client, Connection } from '@temporalio/client';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterConfig } from '../infra/cluster/config';
import { startCluster, stopCluster } from '../infra/cluster/cluster';
import { freePort } from '../infra/cluster/wait';
import { runRoundTrip } from '../infra/demo/round-trip';
import { formatMoves } from '../cli/format';

async function main(): Promise<void> {
  const mib = Number(process.env.BENCH_MIB ?? 256);
  const dirty = Number(process.env.BENCH_DIRTY_PAGES_PER_SEC ?? 100);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-bench-'));
  chmodSync(dataDir, 0o755);
  const config = clusterConfig({
    ...process.env,
    ZANSHIN_DATA_DIR: dataDir,
    ZANSHIN_NODES: '2',
    ZANSHIN_NS_PREFIX: 'zb',
    ZANSHIN_LAN_SUBNET: '10.81.0',
    ZANSHIN_TEMPORAL_PORT: String(await freePort()),
    ZANSHIN_TEMPORAL_UI_PORT: String(await freePort()),
    ZANSHIN_API_PORT: String(await freePort()),
    ZANSHIN_PG_PORT: String(await freePort()),
  });
  const log = (l: string) => console.log(`[bench] ${l}`);
  try {
    log(`cluster of 2 PCs, link ${config.linkRate ?? 'unshaped'}, data in ${dataDir}`);
    await startCluster(config, log);
    const connection = await Connection.connect({ address: `127.0.0.1:${config.temporalPort}` });
    try {
      const client = new Client({ connection, namespace: 'default' });
      const { there, back } = await runRoundTrip(client, {
        containerId: 'bench',
        mib,
        dirtyPagesPerSecond: dirty,
        dwellMs: 5_000,
        home: 'pc1',
        away: 'pc2',
        log,
      });
      console.log(
        `\n${mib} MiB counter, ${dirty} dirty pages/s, 5 s on each PC, link ${config.linkRate ?? 'unshaped'}:`,
      );
      console.log(formatMoves([there, back]));
      console.log(`return move / full move bytes on the wire: ${(back.wireBytes / there.wireBytes).toFixed(4)}`);
    } finally {
      await connection.close();
    }
  } finally {
    await stopCluster(config, () => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
