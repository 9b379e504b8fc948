// A simulated PC switched off at the wall and on again (tests, benchmarks): what a real power cut does to a PC.
import execa from 'execa';
import path from 'node:path';
import { containerNetnsPrefix, restartPart } from './cluster';
import type { ClusterConfig } from './config';
import { deleteNamespaces, listNamespaces } from './netns';
import { planCluster } from './plan';
import { readState } from './state';

/** Its worker and fence killed, its containers and their network namespaces gone, all at once. */
export async function powerOffPc(config: ClusterConfig, node: string): Promise<void> {
  const processes = readState(planCluster(config).paths.state)?.processes ?? [];
  for (const part of ['node-worker', 'fence']) {
    const rec = processes.find((p) => p.name === `${node}/${part}`);
    if (!rec) throw new Error(`no process ${node}/${part} in the cluster`);
    try {
      process.kill(rec.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  const dataDir = planCluster(config).nodes.find((n) => n.id === node)!.dataDir;
  const root = path.join(dataDir, 'runc');
  const listed = await execa('runc', ['--root', root, 'list', '-q'], { reject: false });
  await Promise.all(
    listed.stdout
      .split('\n')
      .filter(Boolean)
      .map((id) => execa('runc', ['--root', root, 'delete', '--force', id], { reject: false })),
  );
  await deleteNamespaces(
    (await listNamespaces()).filter((n) => n.startsWith(`${containerNetnsPrefix(config)}-${node}-`)),
  );
}

/** A PC switched off by powerOffPc on again: its fence and worker start as at boot. */
export async function powerOnPc(config: ClusterConfig, node: string): Promise<void> {
  for (const part of ['fence', 'node-worker']) await restartPart(config, `${node}/${part}`, () => undefined);
}
