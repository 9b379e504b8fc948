// Benchmark: Zanshin's moves against what a user would do instead, in one run on the same simulated PCs and links.
// For each size: a counter container moves pc1 -> pc2 (no remnant: pre-copy) and back (remnant reused); then a
// plain runc container of the same size does stop-and-copy (runc checkpoint, rsync of the whole image, runc
// restore) and the way back with rsync -B4096 onto the old image. Writes bench/results/<stamp>-<workload>.json and
// an SVG of downtime against size; the README's tables come from those files.
// Run: npm run bench:migration   (as root). Options (environment):
//   BENCH_SIZES=64,256,1024,2048  MiB per container (default 256,1024)
//   BENCH_WORKLOAD=random|text    random memory, or text with zero pages (compressible) (default random)
//   BENCH_DIRTY_PAGES_PER_SEC=110 pages the workload rewrites per second (default 110)
//   BENCH_LINK_RATE=1gbit         shaping of every PC's link (default 1gbit, "off" for none)
import { Client, Connection } from '@temporalio/client';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, clusterConfig } from '../infra/cluster/config';
import { startCluster, stopCluster } from '../infra/cluster/cluster';
import { planCluster } from '../infra/cluster/plan';
import { freePort } from '../infra/cluster/wait';
import { runRoundTrip } from '../infra/demo/round-trip';
import { ensureCounterRootfs } from '../infra/images/counter';
import { formatMoves } from '../cli/format';
import type { MoveReport } from '../domain/reports';
import { MethodResult, runcBaselines } from './baselines';
import { lineChartSvg } from './plot';

interface SizeResult {
  sizeMiB: number;
  workload: string;
  dirtyPagesPerSecond: number;
  linkRate: string | null;
  methods: Record<string, MethodResult>;
}

function zanshinResult(m: MoveReport): MethodResult {
  const steps: Record<string, number> = {};
  for (const s of m.steps) steps[s.step] = s.ms;
  steps['dump (final)'] = m.checkpoint.dumpMs;
  steps['hash after dump'] = m.checkpoint.hashMs;
  steps['runc restore'] = m.restore.restoreMs;
  const frozen = (m.preCopy ?? []).reduce((n, r) => n + r.frozenMs, 0);
  const totalMs = m.steps.reduce((n, s) => n + s.ms, 0);
  return { downtimeMs: m.downtimeMs, frozenInPreCopyMs: frozen, totalMs, wireBytes: m.wireBytes, steps };
}

const fmtMs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const fmtMB = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_SIZES ?? '256,1024').split(',').map(Number);
  if (sizes.some((s) => !Number.isInteger(s) || s < 1))
    throw new Error(`BENCH_SIZES must be a comma-separated list of MiB, got ${process.env.BENCH_SIZES}`);
  const workload = process.env.BENCH_WORKLOAD ?? 'random';
  if (workload !== 'random' && workload !== 'text')
    throw new Error(`BENCH_WORKLOAD must be random or text, got ${workload}`);
  const dirty = Number(process.env.BENCH_DIRTY_PAGES_PER_SEC ?? 110);
  const dwellMs = 5_000;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-bench-'));
  chmodSync(dataDir, 0o755);
  const config = clusterConfig({
    ...process.env,
    ZANSHIN_DATA_DIR: dataDir,
    ZANSHIN_NODES: '2',
    ZANSHIN_NS_PREFIX: 'zb',
    ZANSHIN_LAN_SUBNET: '10.81.0',
    ...(process.env.BENCH_LINK_RATE ? { ZANSHIN_LINK_RATE: process.env.BENCH_LINK_RATE } : {}),
    ZANSHIN_TEMPORAL_PORT: String(await freePort()),
    ZANSHIN_TEMPORAL_UI_PORT: String(await freePort()),
    ZANSHIN_API_PORT: String(await freePort()),
    ZANSHIN_PG_PORT: String(await freePort()),
  });
  const plan = planCluster(config);
  const [home, away] = plan.nodes;
  const log = (l: string) => console.log(`[bench] ${l}`);
  const results: SizeResult[] = [];
  const env = workload === 'text' ? ['FILL=text'] : [];
  try {
    log(`cluster of 2 PCs, link ${config.linkRate ?? 'unshaped'}, ${workload} memory, data in ${dataDir}`);
    await startCluster(config, log);
    const connection = await Connection.connect({ address: `127.0.0.1:${config.temporalPort}` });
    try {
      const client = new Client({ connection, namespace: 'default' });
      for (const mib of sizes) {
        const { there, back } = await runRoundTrip(client, {
          containerId: `bench-${mib}`,
          mib,
          dirtyPagesPerSecond: dirty,
          dwellMs,
          env,
          home: home!.id,
          away: away!.id,
          log,
        });
        console.log(formatMoves([there, back]));
        const baselines = await runcBaselines({
          rootfs: await ensureCounterRootfs(),
          env: [`MIB=${mib}`, `DIRTY_PAGES_PER_SEC=${dirty}`, ...env],
          args: ['/bin/counter'],
          readyRssBytes: mib * 0.95 * 1024 * 1024,
          workDir: path.join(dataDir, `baseline-${mib}`),
          criu: config.criuBin,
          home: home!,
          away: away!,
          dwellMs,
          log,
        });
        const r: SizeResult = {
          sizeMiB: mib,
          workload,
          dirtyPagesPerSecond: dirty,
          linkRate: config.linkRate,
          methods: {
            'zanshin first move': zanshinResult(there),
            'zanshin return move': zanshinResult(back),
            'stop-and-copy (runc + rsync)': baselines.stopAndCopy,
            'return with rsync -B4096': baselines.rsyncReturn,
          },
        };
        results.push(r);
        console.log(`\n${mib} MiB, ${workload} memory, ${dirty} dirty pages/s, link ${config.linkRate ?? 'unshaped'}:`);
        for (const [name, m] of Object.entries(r.methods))
          console.log(
            `  ${name.padEnd(30)} downtime ${fmtMs(m.downtimeMs).padStart(9)}  total ${fmtMs(m.totalMs).padStart(9)}  wire ${fmtMB(m.wireBytes).padStart(10)}  ${Object.entries(
              m.steps,
            )
              .map(([k, v]) => `${k} ${fmtMs(v)}`)
              .join(', ')}`,
          );
        const sc = baselines.stopAndCopy.downtimeMs;
        const rs = baselines.rsyncReturn;
        console.log(
          `  first move downtime / stop-and-copy: ${(there.downtimeMs / sc).toFixed(2)};` +
            ` return downtime - (runc checkpoint + restore): ${fmtMs(back.downtimeMs - rs.steps.checkpoint! - rs.steps.restore!)}`,
        );
      }
    } finally {
      await connection.close();
    }
  } finally {
    await stopCluster(config, () => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
  const outDir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
  const base = path.join(outDir, `${stamp}-${workload}`);
  writeFileSync(`${base}.json`, JSON.stringify(results, null, 2) + '\n');
  const names = Object.keys(results[0]?.methods ?? {});
  writeFileSync(
    `${base}.svg`,
    lineChartSvg(
      `Downtime against size (${workload} memory, ${dirty} dirty pages/s, link ${config.linkRate ?? 'unshaped'})`,
      'container memory (MiB)',
      'downtime (s)',
      names.map((name) => ({
        name,
        points: results.map((r) => ({ x: r.sizeMiB, y: r.methods[name]!.downtimeMs / 1000 })),
      })),
    ),
  );
  log(`results: ${base}.json and ${base}.svg`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
