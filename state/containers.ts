// The only writer of the `containers` table: registered containers, where each runs and in which state.
import type { Pool } from 'pg';
import { AddressPool, ContainerNetwork, firstFreeAddress, networkFor } from '../domain/container-network';
import type { ContainerUser, RootfsSource } from '../domain/reports';
import { inTransaction, NATURAL, Queryable } from './db';
import { RestartPolicy, restartDueAt, restartsInARow } from '../domain/restart-policy';
import { quotaRefusal } from '../domain/ownership';
import { findOwner } from './owners';

/**
 * 'exited': its program ended and zanshin-init recorded how (its restart policy decides what next); 'lost': its PC
 * no longer runs it and nothing recorded an ending (a power-off, a copy removed behind Zanshin's back): crash
 * recovery brings it back from its newest checkpoint.
 */
export type ContainerStateName = 'created' | 'running' | 'migrating' | 'stopped' | 'exited' | 'lost';

export interface ContainerRow {
  id: string;
  args: string[];
  env: string[];
  memoryMiB: number;
  /** Disk quota of its rootfs, checked at each sync. */
  diskMiB: number;
  /** CPUs (a CFS quota) and processes it may use; memoryMiB is its memory limit. */
  cpus: number;
  pids: number;
  /** The user its program runs as (null: root). */
  user: ContainerUser | null;
  rootfs: RootfsSource;
  /** The owner it belongs to (null: created by an administrator). */
  owner: string | null;
  nodeId: string | null;
  state: ContainerStateName;
  /** Its own LAN address (null: loopback only). */
  network: ContainerNetwork | null;
  /** How its program ended ("exit 0", "signal 9", or why it is gone); null unless exited. */
  exitStatus: string | null;
  /** The final checkpoint it starts again from; null unless stopped by a user. */
  stoppedGeneration: number | null;
  /** The epoch of its current copy, bumped at every restore (domain/generations.ts); 0 until it first starts. */
  epoch: number;
  restartPolicy: RestartPolicy;
  /** Restarts in a row (a crash loop backs off); when the last one was. */
  restartCount: number;
  lastRestartAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewContainer {
  id: string;
  args: string[];
  env: string[];
  memoryMiB: number;
  diskMiB: number;
  cpus: number;
  pids: number;
  user: ContainerUser | null;
  rootfs: RootfsSource;
  /** What happens when its program ends (domain/restart-policy.ts). @default 'no' */
  restartPolicy?: RestartPolicy;
  /** Its owner, whose quotas it must fit (null or absent: an administrator's). */
  owner?: string | null;
}

const COLUMNS = `id, args, env, memory_mib AS "memoryMiB", disk_mib AS "diskMiB", cpus, pids, run_as AS "user", rootfs, owner, node_id AS "nodeId", state, network,
  exit_status AS "exitStatus", stopped_generation::float8 AS "stoppedGeneration", epoch::float8 AS epoch,
  restart_policy AS "restartPolicy", restart_count AS "restartCount", last_restart_at AS "lastRestartAt",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

export async function findContainer(db: Queryable, id: string): Promise<ContainerRow | null> {
  const { rows } = await db.query<ContainerRow>(`SELECT ${COLUMNS} FROM containers WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

export async function listContainers(db: Queryable): Promise<ContainerRow[]> {
  return (await db.query<ContainerRow>(`SELECT ${COLUMNS} FROM containers ORDER BY id ${NATURAL}`)).rows;
}

/** The ids of one owner's containers. */
export async function containerIdsOf(db: Queryable, owner: string): Promise<string[]> {
  return (await db.query<{ id: string }>('SELECT id FROM containers WHERE owner = $1', [owner])).rows.map((r) => r.id);
}

export class AddressPoolFullError extends Error {
  override name = 'AddressPoolFullError';
}

/** A container its owner's quotas have no room for. */
export class OwnerQuotaError extends Error {
  override name = 'OwnerQuotaError';
}

/**
 * Registers a container (state created) with the next free address of `pool` (none without a pool); null when the
 * id is taken. The table is locked against other registrations meanwhile, so no address is given twice.
 */
export async function insertContainer(
  db: Pool,
  c: NewContainer,
  pool: AddressPool | null,
): Promise<ContainerRow | null> {
  return inTransaction(db, async (client) => {
    await client.query('LOCK TABLE containers IN SHARE ROW EXCLUSIVE MODE');
    // Under the lock: two creations of one owner cannot both take the quota's last room.
    if (c.owner) {
      const owner = await findOwner(client, c.owner);
      if (!owner) throw new OwnerQuotaError(`no owner ${c.owner}`);
      const refusal = quotaRefusal(c.owner, owner.quota, owner.usage, c);
      if (refusal) throw new OwnerQuotaError(refusal);
    }
    let network: ContainerNetwork | null = null;
    if (pool) {
      const { rows: taken } = await client.query<{ address: string }>(
        'SELECT address FROM containers WHERE address IS NOT NULL',
      );
      const address = firstFreeAddress(
        pool,
        taken.map((r) => r.address),
      );
      if (!address)
        throw new AddressPoolFullError(
          `every address of the container pool ${pool.cidr} is taken: delete containers or widen ZANSHIN_CONTAINER_POOL`,
        );
      network = networkFor(pool, address);
    }
    const { rows } = await client.query<ContainerRow>(
      `INSERT INTO containers (id, args, env, memory_mib, disk_mib, cpus, pids, run_as, rootfs, state, network, address,
         restart_policy, owner)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'created', $10, $11, $12, $13)
       ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
      [
        c.id,
        c.args,
        c.env,
        c.memoryMiB,
        c.diskMiB,
        c.cpus,
        c.pids,
        c.user,
        c.rootfs,
        network,
        network?.address ?? null,
        c.restartPolicy ?? 'no',
        c.owner ?? null,
      ],
    );
    return rows[0] ?? null;
  });
}

/**
 * Claims a running container for a migration (running -> migrating), only if it still runs on `nodeId`: of two
 * concurrent claims one wins. True when this call won.
 */
export async function claimForMigration(db: Queryable, id: string, nodeId: string): Promise<boolean> {
  const r = await db.query(
    "UPDATE containers SET state = 'migrating', updated_at = now() WHERE id = $1 AND state = 'running' AND node_id = $2",
    [id, nodeId],
  );
  return !!r.rowCount;
}

/** Marks a container as being moved by a migration that has just been recorded. */
export async function markMigrating(db: Queryable, id: string): Promise<void> {
  await db.query("UPDATE containers SET state = 'migrating', updated_at = now() WHERE id = $1", [id]);
}

/** Gives back a claim whose migration never started or ended without moving it (migrating -> running). */
export async function releaseClaim(db: Queryable, id: string): Promise<void> {
  await db.query("UPDATE containers SET state = 'running', updated_at = now() WHERE id = $1 AND state = 'migrating'", [
    id,
  ]);
}

/** Records where a container is now and in which state. */
export async function setLocation(
  db: Queryable,
  id: string,
  nodeId: string,
  state: 'running' | 'stopped' | 'lost',
): Promise<void> {
  await db.query('UPDATE containers SET node_id = $2, state = $3, updated_at = now() WHERE id = $1', [
    id,
    nodeId,
    state,
  ]);
}

/** Records a container stopped by a user on `nodeId`, with the final checkpoint it will start again from. */
export async function setStopped(db: Queryable, id: string, nodeId: string, generation: number): Promise<void> {
  await db.query(
    "UPDATE containers SET node_id = $2, state = 'stopped', stopped_generation = $3, exit_status = NULL, updated_at = now() WHERE id = $1",
    [id, nodeId, generation],
  );
}

/** Records a container running again (after a start), forgetting its stop checkpoint and any exit. */
export async function setRunning(db: Queryable, id: string, nodeId: string): Promise<void> {
  await db.query(
    "UPDATE containers SET node_id = $2, state = 'running', stopped_generation = NULL, exit_status = NULL, updated_at = now() WHERE id = $1",
    [id, nodeId],
  );
}

/**
 * A PC's report of what it runs: containers recorded as running there that it no longer runs are "exited", with
 * how their program ended, when zanshin-init recorded it; else "lost" (the PC lost the copy: crash recovery brings
 * it back). Only rows unchanged since the PC listed its containers (`listedAt`) are judged, so a container that
 * arrived after the listing is not taken for gone. Returns the ids marked.
 */
export async function noticeExited(
  db: Queryable,
  nodeId: string,
  reported: { containerId: string; status: string; exit: string | null }[],
  listedAt: Date,
): Promise<string[]> {
  const running = new Set(
    reported.filter((c) => c.status === 'running' || c.status === 'paused').map((c) => c.containerId),
  );
  const exits = new Map(reported.map((c) => [c.containerId, c.exit]));
  const { rows } = await db.query<{ id: string }>(
    "SELECT id FROM containers WHERE node_id = $1 AND state = 'running' AND updated_at < $2",
    [nodeId, listedAt],
  );
  const gone = rows.map((r) => r.id).filter((id) => !running.has(id));
  for (const id of gone) {
    const ended = exits.get(id);
    const status =
      ended ??
      (exits.has(id)
        ? `lost: ${nodeId} holds it stopped, with no ending recorded`
        : `lost: ${nodeId} no longer runs it`);
    await db.query(
      "UPDATE containers SET state = $3, exit_status = $2, updated_at = now() WHERE id = $1 AND state = 'running'",
      [id, status, ended ? 'exited' : 'lost'],
    );
  }
  return gone;
}

/**
 * Lost containers that their own PC reports running under their current epoch: the copy its fence froze was
 * resumed and nobody took over (no restore since, or the epoch would be newer). Running there again; without this
 * the record said "lost" while the copy ran (found by the soak). Returns the ids marked.
 */
export async function noticeResumed(
  db: Queryable,
  nodeId: string,
  copies: { containerId: string; epoch: number }[],
): Promise<string[]> {
  if (!copies.length) return [];
  const { rows } = await db.query<{ id: string }>(
    `UPDATE containers c SET state = 'running', exit_status = NULL, updated_at = now()
       FROM unnest($2::text[], $3::float8[]) AS r(id, epoch)
      WHERE c.id = r.id AND c.node_id = $1 AND c.state = 'lost' AND c.epoch::float8 = r.epoch
      RETURNING c.id`,
    [nodeId, copies.map((c) => c.containerId), copies.map((c) => c.epoch)],
  );
  return rows.map((r) => r.id);
}

/**
 * Crash recovery's new epoch: given only while the container's PC is still silent (no report for `silentSeconds`),
 * judged under the PC's row lock that a report holds while its answer is read (state/nodes.ts). So a PC that
 * reports again either stops the recovery (null: it is back) or hears in that very answer that its copy is stale;
 * never is a fenced copy resumed by an answer read just before the recovery's epoch (found by the soak: two copies
 * ran for one report interval).
 */
export async function nextEpochIfSilent(
  db: Pool,
  id: string,
  nodeId: string,
  silentSeconds: number,
): Promise<{ epoch: number | null } | { reporting: true }> {
  return inTransaction(db, async (client) => {
    const { rows } = await client.query<{ silent: boolean }>(
      `SELECT last_report_at IS NULL OR last_report_at < now() - ($2::int * interval '1 second') AS silent
         FROM nodes WHERE id = $1 FOR UPDATE`,
      [nodeId, silentSeconds],
    );
    if (rows[0] && !rows[0].silent) return { reporting: true as const };
    return { epoch: await nextEpoch(client, id) };
  });
}

/**
 * A new epoch for the container's next copy (a restore is about to run it): the copy under the previous epoch is
 * stale from now on, and PCs still running it kill it. Null for a container migration-api does not keep.
 */
export async function nextEpoch(db: Queryable, id: string): Promise<number | null> {
  const { rows } = await db.query<{ epoch: number }>(
    'UPDATE containers SET epoch = epoch + 1, updated_at = now() WHERE id = $1 RETURNING epoch::float8 AS epoch',
    [id],
  );
  return rows[0]?.epoch ?? null;
}

/** Exited containers of a PC whose restart policy wants them started again now (the back-off has passed). */
export async function restartsDue(db: Queryable, nodeId: string, now: Date): Promise<string[]> {
  const { rows } = await db.query<{
    id: string;
    policy: RestartPolicy;
    exitStatus: string | null;
    exitedAt: Date;
    restarts: number;
    lastRestartAt: Date | null;
  }>(
    `SELECT id, restart_policy AS policy, exit_status AS "exitStatus", updated_at AS "exitedAt",
       restart_count AS restarts, last_restart_at AS "lastRestartAt"
     FROM containers WHERE node_id = $1 AND state = 'exited' AND restart_policy <> 'no' ORDER BY id ${NATURAL}`,
    [nodeId],
  );
  return rows
    .filter((r) => {
      const due = restartDueAt(r.policy, r.exitStatus, r.exitedAt, r.restarts, r.lastRestartAt);
      return due !== null && due <= now;
    })
    .map((r) => r.id);
}

/** The container's program started afresh on `nodeId` (a restart): running again, one more restart in a row. */
export async function recordRestart(db: Pool, id: string, nodeId: string, now = new Date()): Promise<void> {
  await inTransaction(db, async (client) => {
    const { rows } = await client.query<{ restarts: number; lastRestartAt: Date | null }>(
      'SELECT restart_count AS restarts, last_restart_at AS "lastRestartAt" FROM containers WHERE id = $1 FOR UPDATE',
      [id],
    );
    if (!rows[0]) return;
    await client.query(
      `UPDATE containers SET state = 'running', node_id = $2, exit_status = NULL, restart_count = $3,
         last_restart_at = $4, updated_at = now() WHERE id = $1`,
      [id, nodeId, restartsInARow(rows[0].restarts, rows[0].lastRestartAt, now), now],
    );
  });
}

/** The current epoch of each of these containers that migration-api keeps. */
export async function epochsOf(db: Queryable, ids: string[]): Promise<Map<string, number>> {
  if (!ids.length) return new Map();
  const { rows } = await db.query<{ id: string; epoch: number }>(
    'SELECT id, epoch::float8 AS epoch FROM containers WHERE id = ANY($1)',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.epoch]));
}

/** Removes a container's row (its migration history first: see deleteContainerWithHistory). */
export async function deleteContainerRow(db: Queryable, id: string): Promise<void> {
  await db.query('DELETE FROM containers WHERE id = $1', [id]);
}

/** Containers running on a PC, most valuable first: the most memory (the most work lost if not moved), then id. */
export async function containersOn(db: Queryable, nodeId: string): Promise<{ id: string; memoryMiB: number }[]> {
  const { rows } = await db.query<{ id: string; memoryMiB: number }>(
    `SELECT id, memory_mib AS "memoryMiB" FROM containers WHERE node_id = $1 AND state = 'running' ORDER BY memory_mib DESC, id ${NATURAL}`,
    [nodeId],
  );
  return rows;
}

/** Containers recorded as running on some PC. */
export async function runningContainers(db: Queryable): Promise<{ id: string; nodeId: string }[]> {
  const { rows } = await db.query<{ id: string; nodeId: string }>(
    `SELECT id, node_id AS "nodeId" FROM containers WHERE state = 'running' AND node_id IS NOT NULL ORDER BY id ${NATURAL}`,
  );
  return rows;
}

/**
 * Running containers whose PC's continuous protection kept no checkpoint of them within `withinSeconds` (its report
 * says so: table `protection`): those still need the scheduled safety checkpoint.
 */
export async function unprotectedRunningContainers(
  db: Queryable,
  withinSeconds: number,
): Promise<{ id: string; nodeId: string }[]> {
  const { rows } = await db.query<{ id: string; nodeId: string }>(
    `SELECT c.id, c.node_id AS "nodeId" FROM containers c WHERE c.state = 'running' AND c.node_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM protection p WHERE p.container_id = c.id AND p.node_id = c.node_id
                       AND p.checkpoint_at > now() - ($1::int * interval '1 second'))
     ORDER BY c.id ${NATURAL}`,
    [withinSeconds],
  );
  return rows;
}

/**
 * Containers to recover: recorded as running on a PC that has not reported for `offlineAfterSeconds`, and those a
 * PC lost (`lost`: it is live, but no longer runs them).
 */
export async function containersOnSilentNodes(
  db: Queryable,
  offlineAfterSeconds: number,
): Promise<{ containerId: string; deadNode: string; lastReportAt: Date; lost: boolean }[]> {
  const { rows } = await db.query<{ containerId: string; deadNode: string; lastReportAt: Date; lost: boolean }>(
    `SELECT c.id AS "containerId", c.node_id AS "deadNode", n.last_report_at AS "lastReportAt", c.state = 'lost' AS lost
     FROM containers c JOIN nodes n ON n.id = c.node_id
     WHERE (c.state = 'running' AND n.last_report_at < now() - ($1::int * interval '1 second')) OR c.state = 'lost'
     ORDER BY c.id ${NATURAL}`,
    [offlineAfterSeconds],
  );
  return rows;
}

/** Containers recorded as running, with their PC and memory limit, in one query. */
export async function runningWithMemory(db: Queryable): Promise<{ id: string; nodeId: string; memoryMiB: number }[]> {
  const { rows } = await db.query<{ id: string; nodeId: string; memoryMiB: number }>(
    `SELECT id, node_id AS "nodeId", memory_mib AS "memoryMiB" FROM containers
     WHERE state = 'running' AND node_id IS NOT NULL ORDER BY id ${NATURAL}`,
  );
  return rows;
}
