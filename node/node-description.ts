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

/** What does not change while the worker runs: the CPU (model, cores, instruction flags) and the namespace. */
interface StaticFacts {
  cpuModel: string;
  cpuCores: number;
  cpuFlags: string;
  networkNamespace: string;
}

let staticFacts: Promise<StaticFacts> | null = null;

/**
 * Asked once per process: systeminformation learns the CPU by running lscpu, sh, grep and cat (about 20 processes),
 * which under emulation (guest PCs) cost seconds of CPU each time, every load report.
 */
export function staticNodeFacts(): Promise<StaticFacts> {
  staticFacts ??= Promise.all([si.cpu(), si.cpuFlags(), currentNetworkNamespace()]).then(([cpu, flags, netns]) => ({
    cpuModel: `${cpu.manufacturer} ${cpu.brand}`.trim(),
    cpuCores: cpu.cores,
    cpuFlags: flags,
    networkNamespace: netns,
  }));
  staticFacts.catch(() => (staticFacts = null)); // asked again next time
  return staticFacts;
}

export async function readNodeDescription(nodeId: string): Promise<NodeDescription> {
  // currentLoad and mem only read /proc files.
  const [load, mem, facts] = await Promise.all([si.currentLoad(), si.mem(), staticNodeFacts()]);
  return {
    nodeId,
    hostname: os.hostname(),
    networkNamespace: facts.networkNamespace,
    addresses: lanAddresses(os.networkInterfaces()),
    cpuModel: facts.cpuModel,
    cpuCores: facts.cpuCores,
    load: toNodeLoad({ cpuPercent: load.currentLoad, memTotal: mem.total, memAvailable: mem.available }),
    reportedAt: new Date().toISOString(),
  };
}
