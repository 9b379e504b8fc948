// Guest PCs, for real: a cluster with one simulated PC and one QEMU guest booting Debian's stock kernel (TCG on this
// machine kind), its node worker running inside the guest against the same Temporal and migration-api.
import execa from 'execa';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ClusterConfig } from '../../infra/cluster/config';
import { clusterStatus, startCluster, stopCluster } from '../../infra/cluster/cluster';
import { planCluster } from '../../infra/cluster/plan';
import { probeNodes } from '../../infra/cluster/probe';
import { inNamespace } from '../../infra/cluster/relays';
import { withTemporalClient } from '../../infra/cluster/temporal-client';
import { processesMentioning, testClusterConfig } from '../helpers/cluster';

jest.setTimeout(420_000);

describe('guest PCs', () => {
  let config: ClusterConfig;

  beforeAll(async () => {
    // Load reports every 10 s, not the tests' 2 s: under emulation each one costs the guest a few seconds of CPU.
    config = await testClusterConfig(
      '10.83.0',
      { vmNodes: 1, vmMemoryMiB: 1536, vmDiskGiB: 2, loadReportSeconds: 10 },
      1,
    );
    await startCluster(config, () => undefined);
  });

  afterAll(async () => {
    await stopCluster(config, () => undefined).catch(() => undefined);
    rmSync(config.dataDir, { recursive: true, force: true });
  });

  it("runs a node worker inside a guest with the stock kernel, on the LAN, and the API sees the kernel's tracking", async () => {
    const status = await clusterStatus(config);
    expect(status.parts.filter((p) => !p.up)).toEqual([]);
    expect(status.parts.map((p) => p.part)).toEqual(expect.arrayContaining(['vm1/guest', 'vm1/virtiofsd']));

    const [pc1, vm1] = planCluster(config).nodes;
    const [probe] = await withTemporalClient(
      { address: `127.0.0.1:${config.temporalPort}`, namespace: 'default' },
      (client) => probeNodes(client, ['vm1']),
    );
    expect(probe?.error).toBeUndefined();
    expect(probe?.description?.addresses).toContain(vm1!.address);

    // The guest's load reports reach migration-api: the guest's kernel tracks dirty pages, this machine's does not.
    const token = readFileSync(path.join(planCluster(config).paths.secrets, 'admin-token'), 'utf8').trim();
    const nodes = async () => {
      const res = await fetch(`http://127.0.0.1:${config.apiPort}/v1/nodes`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return ((await res.json()) as { nodes: { id: string; dirtyTracking: boolean }[] }).nodes;
    };
    let seen: { id: string; dirtyTracking: boolean }[] = [];
    for (let i = 0; i < 60 && seen.length < 2; i++) {
      seen = await nodes();
      if (seen.length < 2) await new Promise((r) => setTimeout(r, 1000));
    }
    expect(Object.fromEntries(seen.map((n) => [n.id, n.dirtyTracking]))).toEqual({ pc1: false, vm1: true });

    // The simulated PC reaches the guest's data plane over the LAN (an unauthenticated request is refused: 401).
    const request = `fetch('http://${vm1!.address}:7070/v1/transfers/x/chunks', { method: 'POST' })`;
    const [file, ...args] = inNamespace(pc1!.namespace, [
      process.execPath,
      '-e',
      `${request}.then((r) => console.log(r.status))`,
    ]);
    const { stdout } = await execa(file!, args);
    expect(stdout.trim()).toBe('401');
  });

  it('stops leaving no QEMU or virtiofsd behind', async () => {
    await stopCluster(config, () => undefined);
    expect(processesMentioning(config.dataDir)).toEqual([]);
  });
});
