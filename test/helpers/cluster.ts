import { chmodSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClusterConfig, clusterConfig } from '../../infra/cluster/config';
import { freePorts } from '../../infra/cluster/wait';
import { TEST_PREFIX } from './names';

/** A cluster configuration of its own: temporary data dir, free ports, the test's namespace prefix and subnet. */
export async function testClusterConfig(
  subnet: string,
  overrides: Partial<ClusterConfig> = {},
  nodes = 2,
): Promise<ClusterConfig> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-cluster-'));
  chmodSync(dataDir, 0o755); // PostgreSQL runs as its own user and must reach its data dir
  const [temporal, ui, gate, codec, api, pg, apiTls] = await freePorts(7);
  return clusterConfig(
    {
      ZANSHIN_DATA_DIR: dataDir,
      ZANSHIN_NODES: String(nodes),
      ZANSHIN_NS_PREFIX: TEST_PREFIX,
      ZANSHIN_LAN_SUBNET: subnet,
      ZANSHIN_LINK_RATE: '1gbit',
      ZANSHIN_TEMPORAL_PORT: String(temporal),
      ZANSHIN_TEMPORAL_UI_PORT: String(ui),
      ZANSHIN_TEMPORAL_GATE_PORT: String(gate),
      ZANSHIN_CODEC_PORT: String(codec),
      ZANSHIN_API_PORT: String(api),
      ZANSHIN_API_TLS_PORT: String(apiTls),
      ZANSHIN_PG_PORT: String(pg),
      // Nothing moves containers behind a test's back; a test triggers what it tests. Reports come often.
      ZANSHIN_SCHEDULES: 'paused',
      ZANSHIN_LOAD_REPORT_SECONDS: '2',
      // Fencing at the tests' pace: four reports make a lease; recovery may restore 11 s after a PC went silent.
      ZANSHIN_LEASE_SECONDS: '8',
      ZANSHIN_FENCE_MARGIN_SECONDS: '3',
    },
    overrides,
  );
}

/** PIDs of live processes whose command line mentions `needle` (e.g. the cluster's data dir). */
export function processesMentioning(needle: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}
