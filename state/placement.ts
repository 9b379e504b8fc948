// Gathers the placement formula's terms from the repositories and lets the pure policy decide. Reads only.
import type { Queryable } from './db';
import { decidePlacement, NodeFacts, PlacementDecision, PlacementPolicy } from '../domain/placement';
import { NodeNeed, nodeNeed } from '../domain/timetable';
import type { ContainerRow } from './containers';
import { lecturesOfNode, lecturesOfNodes } from './lectures';
import { generationCount, placementCandidates } from './nodes';

/** Whether a PC is in a lecture now and when its next one starts, looking `horizonDays` ahead (L saturates at 1 day). */
export async function needOf(db: Queryable, nodeId: string, now: Date, horizonDays = 8): Promise<NodeNeed> {
  return nodeNeed(await lecturesOfNode(db, nodeId, now, horizonDays), now);
}

/** needOf for many PCs in one query (placement over 1,000 PCs made 1,000 queries). */
export async function needsOf(
  db: Queryable,
  nodeIds: string[],
  now: Date,
  horizonDays = 8,
): Promise<Map<string, NodeNeed>> {
  const lectures = await lecturesOfNodes(db, nodeIds, now, horizonDays * 86_400_000);
  return new Map(nodeIds.map((id) => [id, nodeNeed(lectures.get(id) ?? [], now)]));
}

/** Gathers every term of the placement formula and decides; `exclude` rules out PCs with a reason. */
export async function placementFor(
  db: Queryable,
  container: ContainerRow,
  policy: PlacementPolicy,
  now = new Date(),
  exclude: { nodeId: string; reason: string }[] = [],
): Promise<PlacementDecision> {
  const nodes = await placementCandidates(db, container.id);
  const source = nodes.find((n) => n.id === container.nodeId);
  const needs = await needsOf(
    db,
    nodes.map((n) => n.id),
    now,
  );
  const facts: NodeFacts[] = [];
  for (const n of nodes) {
    facts.push({
      nodeId: n.id,
      lastReportAt: n.lastReportAt,
      cpu: n.cpu ?? 1,
      memory: n.memory ?? 1,
      memoryAvailableBytes: n.memoryAvailableBytes ?? 0,
      cpuFlags: n.cpuFlags,
      ...needs.get(n.id)!,
      generationsHeld: n.generationsHeld,
      hasBundle: n.hasBundle,
    });
  }
  return decidePlacement(
    {
      containerId: container.id,
      sourceNode: container.nodeId,
      memoryNeededBytes: container.memoryMiB * 2 ** 20,
      totalGenerations: await generationCount(db, container.id),
      requiredCpuFlags: source?.cpuFlags ?? [],
      now,
      exclude,
    },
    facts,
    policy,
  );
}
