import type { Pool } from 'pg';
import { decidePlacement, NodeFacts, PlacementDecision, PlacementPolicy } from '../domain/placement';
import { nodeNeed } from '../domain/timetable';

export interface ContainerRow {
  id: string;
  args: string[];
  env: string[];
  memoryMiB: number;
  rootfs: { dir?: string; tarball?: string };
  nodeId: string | null;
  state: string;
  createdAt: Date;
  updatedAt: Date;
}

export const CONTAINER_COLUMNS = `id, args, env, memory_mib AS "memoryMiB", rootfs, node_id AS "nodeId", state,
  created_at AS "createdAt", updated_at AS "updatedAt"`;

export async function findContainer(db: Pool, id: string): Promise<ContainerRow | null> {
  const { rows } = await db.query<ContainerRow>(`SELECT ${CONTAINER_COLUMNS} FROM containers WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/** Whether a PC is in a lecture now and when its next one starts, looking `horizonDays` ahead (L saturates at 1 day). */
export async function needOf(db: Pool, nodeId: string, now: Date, horizonDays = 8) {
  const { rows } = await db.query<{ startsAt: Date; endsAt: Date }>(
    `SELECT l.starts_at AS "startsAt", l.ends_at AS "endsAt" FROM lectures l JOIN room_nodes r ON r.room = l.room
     WHERE r.node_id = $1 AND l.ends_at > $2 AND l.starts_at < $2::timestamptz + ($3::int * interval '1 day')`, [nodeId, now, horizonDays]);
  return nodeNeed(rows, now);
}

/** Gathers every term of the placement formula from the database and decides. */
export async function placementFor(db: Pool, container: ContainerRow, policy: PlacementPolicy, now = new Date(),
  exclude: { nodeId: string; reason: string }[] = []): Promise<PlacementDecision> {
  const { rows: nodes } = await db.query<{
    id: string; lastReportAt: Date; cpuFlags: string[]; cpu: number | null; memory: number | null; memoryAvailableBytes: number | null;
    generationsHeld: number | null; hasBundle: boolean | null;
  }>(
    `SELECT n.id, n.last_report_at AS "lastReportAt", n.cpu_flags AS "cpuFlags", l.cpu, l.memory,
       l.memory_available_bytes::float8 AS "memoryAvailableBytes", cardinality(r.generations) AS "generationsHeld", r.has_bundle AS "hasBundle"
     FROM nodes n
     LEFT JOIN LATERAL (SELECT cpu, memory, memory_available_bytes FROM load_samples s WHERE s.node_id = n.id ORDER BY at DESC LIMIT 1) l ON true
     LEFT JOIN remnants r ON r.node_id = n.id AND r.container_id = $1
     ORDER BY n.id`, [container.id]);
  const { rows: gen } = await db.query<{ total: number | null }>(
    'SELECT max(g)::int AS total FROM remnants, unnest(generations) g WHERE container_id = $1', [container.id]);
  const source = nodes.find((n) => n.id === container.nodeId);
  const facts: NodeFacts[] = [];
  for (const n of nodes) {
    facts.push({
      nodeId: n.id, lastReportAt: n.lastReportAt, cpu: n.cpu ?? 1, memory: n.memory ?? 1, memoryAvailableBytes: n.memoryAvailableBytes ?? 0,
      cpuFlags: n.cpuFlags, ...(await needOf(db, n.id, now)), generationsHeld: n.generationsHeld ?? 0, hasBundle: n.hasBundle ?? false,
    });
  }
  return decidePlacement({
    containerId: container.id, sourceNode: container.nodeId, memoryNeededBytes: container.memoryMiB * 2 ** 20,
    totalGenerations: gen[0]?.total ?? 0, requiredCpuFlags: source?.cpuFlags ?? [], now, exclude,
  }, facts, policy);
}
