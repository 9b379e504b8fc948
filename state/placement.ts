// Gathers the placement formula's terms from the repositories and lets the pure policy decide. Reads only.
import type { Queryable } from './db';
import { choosePlacement, decidePlacement, verdictFor } from '../domain/placement';
import type { NodeFacts, PlacementDecision, PlacementPolicy, PlacementRequest } from '../domain/placement';
import { NodeNeed, nodeNeed } from '../domain/timetable';
import type { ContainerRow } from './containers';
import { lecturesOfNode, lecturesOfNodes } from './lectures';
import { HeldCopies, heldCopiesOf, NodeRow, placementNodes } from './nodes';

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

/** The campus as placement sees it: every PC with its load and lectures (two queries, whatever the number of PCs). */
export interface CampusFacts {
  nodes: NodeRow[];
  /** Per PC, in the same order, its facts without any container's copies. */
  facts: NodeFacts[];
}

export async function campusFacts(db: Queryable, now: Date): Promise<CampusFacts> {
  const nodes = await placementNodes(db);
  const needs = await needsOf(
    db,
    nodes.map((n) => n.id),
    now,
  );
  const facts = nodes.map((n): NodeFacts => ({
    nodeId: n.id,
    lastReportAt: n.lastReportAt,
    cpu: n.cpu ?? 1,
    memory: n.memory ?? 1,
    memoryAvailableBytes: n.memoryAvailableBytes ?? 0,
    cpuFlags: n.cpuFlags,
    ...needs.get(n.id)!,
    inUse: n.inUseSince ? { by: n.inUseBy, until: n.inUseUntil } : null,
    generationsHeld: 0,
    hasBundle: false,
  }));
  return { nodes, facts };
}

/** The request and the facts for one container: the campus's, with what each PC holds of it. */
function requestFor(
  campus: CampusFacts,
  container: ContainerRow,
  held: HeldCopies,
  now: Date,
  exclude: { nodeId: string; reason: string }[],
): { request: PlacementRequest; facts: NodeFacts[] } {
  const source = campus.nodes.find((n) => n.id === container.nodeId);
  const facts = campus.facts.map((f) => {
    const h = held.holders.get(f.nodeId);
    return h ? { ...f, ...h } : f;
  });
  const request: PlacementRequest = {
    containerId: container.id,
    sourceNode: container.nodeId,
    memoryNeededBytes: container.memoryMiB * 2 ** 20,
    totalGenerations: held.totalGenerations,
    requiredCpuFlags: source?.cpuFlags ?? [],
    now,
    exclude,
  };
  return { request, facts };
}

/** Gathers every term of the placement formula and decides, every candidate explained; `exclude` rules PCs out. */
export async function placementFor(
  db: Queryable,
  container: ContainerRow,
  policy: PlacementPolicy,
  now = new Date(),
  exclude: { nodeId: string; reason: string }[] = [],
): Promise<PlacementDecision> {
  const campus = await campusFacts(db, now);
  const held = (await heldCopiesOf(db, [container.id])).get(container.id)!;
  const { request, facts } = requestFor(campus, container, held, now, exclude);
  return decidePlacement(request, facts, policy);
}

/**
 * Placement for many containers at once (a rebalancing run): one campus read, one read of what PCs hold, and per
 * container only the choice and the chosen PC's verdict (the full decision, every candidate explained, where no PC
 * can take it). At 1,000 PCs and 2,000 containers the one-by-one way was 8,000 queries and 2 million verdicts.
 */
export async function choicesFor(
  db: Queryable,
  containers: ContainerRow[],
  policy: PlacementPolicy,
  now: Date,
  campus?: CampusFacts,
): Promise<Map<string, PlacementDecision>> {
  const known = campus ?? (await campusFacts(db, now));
  const held = await heldCopiesOf(
    db,
    containers.map((c) => c.id),
  );
  const out = new Map<string, PlacementDecision>();
  for (const c of containers) {
    const { request, facts } = requestFor(known, c, held.get(c.id)!, now, []);
    const choice = choosePlacement(request, facts, policy);
    if (!choice) {
      out.set(c.id, decidePlacement(request, facts, policy));
      continue;
    }
    const verdict = verdictFor(
      request,
      facts.find((f) => f.nodeId === choice.nodeId)!,
      policy,
    );
    out.set(c.id, {
      containerId: c.id,
      chosen: choice.nodeId,
      policy,
      candidates: [verdict],
      explanation: `${choice.nodeId} has the lowest cost ${choice.cost} of ${facts.length} PCs`,
    });
  }
  return out;
}
