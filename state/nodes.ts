// The only writer of the tables a node report fills: `nodes`, `load_samples`, `remnants` and `protection`.
import type { Pool } from 'pg';
import type { NodeReport } from '../domain/node-report';
import type { ProtectionStatus } from '../domain/protection';
import { inTransaction, NATURAL, Queryable } from './db';

const NODE_COLUMNS = `n.id, n.address, n.task_queue AS "taskQueue", n.cpu_model AS "cpuModel", n.cpu_cores AS "cpuCores",
  n.cpu_flags AS "cpuFlags", n.memory_total_bytes::float8 AS "memoryTotalBytes", n.dirty_tracking AS "dirtyTracking",
  n.criu_version AS "criuVersion", n.last_report_at AS "lastReportAt", n.strategy,
  n.checkpoints_other_users AS "checkpointsOtherUsers", n.link_rate_bps::float8 AS "linkRateBps",
  n.disk_total_bytes::float8 AS "diskTotalBytes", n.disk_free_bytes::float8 AS "diskFreeBytes",
  (SELECT coalesce(sum(image_bytes), 0)::float8 FROM remnants r WHERE r.node_id = n.id) AS "imageBytes",
  l.cpu, l.memory, l.memory_available_bytes::float8 AS "memoryAvailableBytes",
  n.in_use_since AS "inUseSince", n.in_use_by AS "inUseBy", n.in_use_until AS "inUseUntil"`;
const LATEST_LOAD = `LEFT JOIN LATERAL (SELECT cpu, memory, memory_available_bytes FROM load_samples s
  WHERE s.node_id = n.id ORDER BY at DESC LIMIT 1) l ON true`;
/** A PC whose credential was revoked is no longer one of the cluster's: not listed, not a target, not live. */
const NOT_REVOKED = `NOT EXISTS (SELECT 1 FROM node_credentials c WHERE c.node_id = n.id AND c.revoked_at IS NOT NULL)`;
const REMNANT_COLUMNS = `has_bundle AS "hasBundle", generations::float8[] AS generations, image_bytes::float8 AS "imageBytes", left_at AS "leftAt", expires_at AS "expiresAt"`;

export interface NodeRow {
  id: string;
  address: string;
  taskQueue: string;
  cpuModel: string;
  cpuCores: number;
  cpuFlags: string[];
  memoryTotalBytes: number;
  dirtyTracking: boolean;
  criuVersion: string;
  lastReportAt: Date;
  /** From the PC's reports (null until a worker that reports them has reported). */
  strategy: 'kernel' | 'content' | null;
  checkpointsOtherUsers: boolean | null;
  linkRateBps: number | null;
  diskTotalBytes: number | null;
  diskFreeBytes: number | null;
  /** Checkpoint images the PC holds, of every container (running ones' too), as its last report listed them. */
  imageBytes: number;
  cpu: number | null;
  memory: number | null;
  memoryAvailableBytes: number | null;
  /** Its user's session on its own seat began then (null: never seen in use). */
  inUseSince: Date | null;
  inUseBy: string | null;
  /** Offered again from then (the idle time after the last logout); null while a session is open. */
  inUseUntil: Date | null;
}

export interface RemnantRow {
  hasBundle: boolean;
  generations: number[];
  imageBytes: number;
  leftAt: Date | null;
  expiresAt: Date | null;
}

/**
 * Stores one report: the node's facts, a load sample and its whole remnant inventory, together or not at all.
 * Load samples older than `loadRetentionMs` are dropped as new ones arrive.
 */
export async function recordNodeReport<T = void>(
  db: Pool,
  nodeId: string,
  r: NodeReport,
  loadRetentionMs: number,
  /**
   * Runs in the report's transaction, the PC's row locked until it commits: what the answer says (its copies'
   * epochs) is read under the same lock a recovery takes to judge the PC silent (state/containers.ts).
   */
  answer?: (client: Queryable) => Promise<T>,
): Promise<T | undefined> {
  return inTransaction(db, async (client) => {
    await client.query(
      `INSERT INTO nodes (id, address, task_queue, cpu_model, cpu_cores, cpu_flags, memory_total_bytes, dirty_tracking,
         criu_version, strategy, checkpoints_other_users, link_rate_bps, disk_total_bytes, disk_free_bytes, last_report_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, now())
       ON CONFLICT (id) DO UPDATE SET address = $2, task_queue = $3, cpu_model = $4, cpu_cores = $5, cpu_flags = $6,
         memory_total_bytes = $7, dirty_tracking = $8, criu_version = $9, strategy = $10, checkpoints_other_users = $11,
         link_rate_bps = $12, disk_total_bytes = $13, disk_free_bytes = $14, last_report_at = now()`,
      [
        nodeId,
        r.address,
        r.taskQueue,
        r.cpuModel,
        r.cpuCores,
        r.cpuFlags,
        r.memoryTotalBytes,
        r.dirtyTracking,
        r.criuVersion,
        r.strategy ?? null,
        r.checkpointsOtherUsers ?? null,
        r.linkRateBps ?? null,
        r.diskTotalBytes ?? null,
        r.diskFreeBytes ?? null,
      ],
    );
    await client.query(
      'INSERT INTO load_samples (node_id, at, cpu, memory, memory_available_bytes) VALUES ($1, clock_timestamp(), $2, $3, $4)',
      [nodeId, r.cpu, r.memory, r.memoryAvailableBytes],
    );
    await client.query("DELETE FROM load_samples WHERE at < now() - ($1::bigint * interval '1 millisecond')", [
      loadRetentionMs,
    ]);
    await client.query('DELETE FROM protection WHERE node_id = $1', [nodeId]);
    for (const p of r.protection ?? [])
      await client.query(
        `INSERT INTO protection (container_id, node_id, holder, generation, checkpoint_at, frozen_ms, wire_bytes, took_ms,
           interval_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (container_id) DO UPDATE SET node_id = $2, holder = $3, generation = $4, checkpoint_at = $5,
           frozen_ms = $6, wire_bytes = $7, took_ms = $8, interval_ms = $9, reported_at = now()`,
        [p.containerId, nodeId, p.holder, p.generation, p.at, p.frozenMs, p.wireBytes, p.tookMs, p.intervalMs],
      );
    await client.query('DELETE FROM remnants WHERE node_id = $1', [nodeId]);
    for (const rem of r.remnants) {
      await client.query(
        `INSERT INTO remnants (node_id, container_id, has_bundle, generations, image_bytes, left_at, expires_at, reported_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now())`,
        [nodeId, rem.containerId, rem.hasBundle, rem.generations, rem.imageBytes, rem.leftAt, rem.expiresAt],
      );
    }
    return answer ? await answer(client) : undefined;
  });
}

/** Every PC that has reported, with its latest load sample. */
export async function listNodes(db: Queryable): Promise<NodeRow[]> {
  return (
    await db.query<NodeRow>(
      `SELECT ${NODE_COLUMNS} FROM nodes n ${LATEST_LOAD} WHERE ${NOT_REVOKED} ORDER BY n.id ${NATURAL}`,
    )
  ).rows;
}

export async function findNode(db: Queryable, id: string): Promise<NodeRow | null> {
  const { rows } = await db.query<NodeRow>(`SELECT ${NODE_COLUMNS} FROM nodes n ${LATEST_LOAD} WHERE n.id = $1`, [id]);
  return rows[0] ?? null;
}

/** What one PC holds of every container. */
export async function remnantsOnNode(db: Queryable, nodeId: string): Promise<(RemnantRow & { containerId: string })[]> {
  const { rows } = await db.query<RemnantRow & { containerId: string }>(
    `SELECT container_id AS "containerId", ${REMNANT_COLUMNS} FROM remnants WHERE node_id = $1 ORDER BY container_id ${NATURAL}`,
    [nodeId],
  );
  return rows;
}

/** What every PC holds of one container. */
export async function remnantsOfContainer(
  db: Queryable,
  containerId: string,
): Promise<(RemnantRow & { nodeId: string })[]> {
  const { rows } = await db.query<RemnantRow & { nodeId: string }>(
    `SELECT node_id AS "nodeId", ${REMNANT_COLUMNS} FROM remnants WHERE container_id = $1 ORDER BY node_id ${NATURAL}`,
    [containerId],
  );
  return rows;
}

/** What PCs hold of each of `containerIds` (one query for a listing), by container. */
export async function remnantsOfContainers(
  db: Queryable,
  containerIds: string[],
): Promise<Map<string, (RemnantRow & { nodeId: string })[]>> {
  const { rows } = await db.query<RemnantRow & { nodeId: string; containerId: string }>(
    `SELECT container_id AS "containerId", node_id AS "nodeId", ${REMNANT_COLUMNS} FROM remnants
     WHERE container_id = ANY($1) ORDER BY node_id ${NATURAL}`,
    [containerIds],
  );
  const out = new Map<string, (RemnantRow & { nodeId: string })[]>(containerIds.map((id) => [id, []]));
  for (const { containerId, ...r } of rows) out.get(containerId)!.push(r);
  return out;
}

/** How many distinct checkpoint generations of a container the PCs report (the paper's "all CP generations"). */
/** What PCs hold of a container: generations and bundle per holder, and the container's distinct generations. */
export interface HeldCopies {
  holders: Map<string, { generationsHeld: number; hasBundle: boolean }>;
  totalGenerations: number;
}

/** HeldCopies of every container of `containerIds`, in one query (placement over many containers made one each). */
export async function heldCopiesOf(db: Queryable, containerIds: string[]): Promise<Map<string, HeldCopies>> {
  const { rows } = await db.query<{ containerId: string; nodeId: string; gens: number[]; hasBundle: boolean }>(
    `SELECT container_id AS "containerId", node_id AS "nodeId", generations::float8[] AS gens, has_bundle AS "hasBundle"
     FROM remnants WHERE container_id = ANY($1)`,
    [containerIds],
  );
  const out = new Map<string, HeldCopies>(containerIds.map((id) => [id, { holders: new Map(), totalGenerations: 0 }]));
  const distinct = new Map<string, Set<number>>();
  for (const r of rows) {
    out.get(r.containerId)!.holders.set(r.nodeId, { generationsHeld: r.gens.length, hasBundle: r.hasBundle });
    const seen = distinct.get(r.containerId) ?? new Set<number>();
    for (const g of r.gens) seen.add(g);
    distinct.set(r.containerId, seen);
  }
  for (const [id, seen] of distinct) out.get(id)!.totalGenerations = seen.size;
  return out;
}

/** Ids of the PCs that reported within `offlineAfterSeconds`. */
export async function liveNodeIds(db: Queryable, offlineAfterSeconds: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM nodes n WHERE last_report_at > now() - ($1::int * interval '1 second') AND ${NOT_REVOKED} ORDER BY id ${NATURAL}`,
    [offlineAfterSeconds],
  );
  return rows.map((r) => r.id);
}

/** The live PC (not excluded) holding the container's newest checkpoint, if any. */
export async function newestCheckpointHolder(
  db: Queryable,
  containerId: string,
  exclude: string[],
  offlineAfterSeconds: number,
): Promise<{ nodeId: string; generation: number } | null> {
  const { rows } = await db.query<{ nodeId: string; generation: number }>(
    `SELECT r.node_id AS "nodeId", max(g)::float8 AS generation FROM remnants r JOIN nodes n ON n.id = r.node_id, unnest(r.generations) g
     WHERE r.container_id = $1 AND NOT (r.node_id = ANY($2)) AND n.last_report_at > now() - ($3::int * interval '1 second')
       AND ${NOT_REVOKED}
     GROUP BY r.node_id ORDER BY generation DESC, r.node_id LIMIT 1`,
    [containerId, exclude, offlineAfterSeconds],
  );
  return rows[0] ?? null;
}

/** Every PC placement may choose (revoked ones are not the cluster's), with its latest load, in natural order. */
export async function placementNodes(db: Queryable): Promise<NodeRow[]> {
  const { rows } = await db.query<NodeRow>(
    `SELECT ${NODE_COLUMNS} FROM nodes n ${LATEST_LOAD} WHERE ${NOT_REVOKED} ORDER BY n.id ${NATURAL}`,
  );
  return rows;
}

/** A container's newest safety checkpoint as its PC last reported it (continuous protection), or null. */
export async function protectionOf(db: Queryable, containerId: string): Promise<ProtectionStatus | null> {
  const { rows } = await db.query<ProtectionStatus>(
    `SELECT container_id AS "containerId", holder, generation::float8 AS generation,
       to_char(checkpoint_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, frozen_ms AS "frozenMs",
       wire_bytes::float8 AS "wireBytes", took_ms AS "tookMs", interval_ms AS "intervalMs"
     FROM protection WHERE container_id = $1`,
    [containerId],
  );
  return rows[0] ?? null;
}

/**
 * A PC's seat as its worker saw it (node/seat-watch.ts): in use from a login (until further notice), or offered
 * again `idleSeconds` after the last logout.
 */
export async function recordSeat(
  db: Queryable,
  nodeId: string,
  change: { inUse: boolean; at: Date; user: string | null; idleSeconds: number },
): Promise<void> {
  if (change.inUse)
    await db.query('UPDATE nodes SET in_use_since = $2, in_use_by = $3, in_use_until = NULL WHERE id = $1', [
      nodeId,
      change.at,
      change.user,
    ]);
  else
    await db.query(
      `UPDATE nodes SET in_use_until = $2::timestamptz + ($3::int * interval '1 second')
       WHERE id = $1 AND in_use_since IS NOT NULL`,
      [nodeId, change.at, change.idleSeconds],
    );
}
