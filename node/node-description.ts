// Reads what this PC is and how loaded it is, from the OS (used by the probe activity and the load reporter).
import os from 'node:os';
import execa from 'execa';
import si from 'systeminformation';
import { lanAddresses, NodeDescription, toNodeLoad } from '../domain/node-description';

/** Name of the network namespace this process runs in, as `ip netns identify` tells it ("" on the host). */
async function currentNetworkNamespace(): Promise<string> {
  const { stdout } = await execa('ip', ['netns', 'identify', String(process.pid)]);
  return stdout.trim();
}

export async function readNodeDescription(nodeId: string): Promise<NodeDescription> {
  const [load, mem, cpu, netns] = await Promise.all([si.currentLoad(), si.mem(), si.cpu(), currentNetworkNamespace()]);
  return {
    nodeId,
    hostname: os.hostname(),
    networkNamespace: netns,
    addresses: lanAddresses(os.networkInterfaces()),
    cpuModel: `${cpu.manufacturer} ${cpu.brand}`.trim(),
    cpuCores: cpu.cores,
    load: toNodeLoad({ cpuPercent: load.currentLoad, memTotal: mem.total, memAvailable: mem.available }),
    reportedAt: new Date().toISOString(),
  };
}
