// The only writer of the timetable tables: `room_nodes` (which PCs stand in which room), `lecture_imports` and
// `lectures` (expanded occurrences).
import type { Pool } from 'pg';
import type { RoomPc } from '../domain/floor-plan';
import type { LectureOccurrence } from '../domain/timetable';
import { inTransaction, NATURAL, Queryable } from './db';

/** Replaces the PCs of a room, with their places on its plan (checked by domain/floor-plan.ts's roomPlanRefusal). */
export async function setRoomNodes(db: Pool, room: string, pcs: RoomPc[]): Promise<void> {
  await inTransaction(db, async (client) => {
    await client.query('DELETE FROM room_nodes WHERE room = $1', [room]);
    for (const pc of pcs)
      await client.query('INSERT INTO room_nodes (room, node_id, row_no, seat_no) VALUES ($1, $2, $3, $4)', [
        room,
        pc.nodeId,
        pc.row,
        pc.seat,
      ]);
  });
}

/** Every room with its PCs: `nodes` their ids, `pcs` in the plan's order (by row and seat, unplaced ones last). */
export async function listRooms(db: Queryable): Promise<{ room: string; nodes: string[]; pcs: RoomPc[] }[]> {
  return (
    await db.query<{ room: string; nodes: string[]; pcs: RoomPc[] }>(
      `SELECT room, array_agg(node_id ORDER BY node_id ${NATURAL}) AS nodes,
         json_agg(json_build_object('nodeId', node_id, 'row', row_no, 'seat', seat_no)
           ORDER BY row_no NULLS LAST, seat_no, node_id ${NATURAL}) AS pcs
     FROM room_nodes GROUP BY room ORDER BY room ${NATURAL}`,
    )
  ).rows;
}

export async function roomsOfNode(db: Queryable, nodeId: string): Promise<string[]> {
  const { rows } = await db.query<{ room: string }>(
    `SELECT room FROM room_nodes WHERE node_id = $1 ORDER BY room ${NATURAL}`,
    [nodeId],
  );
  return rows.map((r) => r.room);
}

/** Of `rooms`, those that have PCs mapped. */
export async function mappedRooms(db: Queryable, rooms: string[]): Promise<Set<string>> {
  const { rows } = await db.query<{ room: string }>('SELECT DISTINCT room FROM room_nodes WHERE room = ANY($1)', [
    rooms,
  ]);
  return new Set(rows.map((r) => r.room));
}

export interface ImportRecord {
  name: string;
  format: 'ics' | 'csv';
  /** The file as imported, kept to expand it further as time passes. */
  source: string;
  timezone: string;
  expandedUntil: Date;
  /** Recurring events going on past `expandedUntil`. */
  continuing: number;
  skipped: number;
}

/** Stores an import; importing a name again replaces its lectures, in one transaction. */
export async function replaceImport(db: Pool, record: ImportRecord, lectures: LectureOccurrence[]): Promise<void> {
  await inTransaction(db, async (client) => {
    await client.query('DELETE FROM lecture_imports WHERE name = $1', [record.name]);
    await client.query(
      `INSERT INTO lecture_imports (name, format, lectures, source, timezone, expanded_until, continuing, skipped)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        record.name,
        record.format,
        lectures.length,
        record.source,
        record.timezone,
        record.expandedUntil,
        record.continuing,
        record.skipped,
      ],
    );
    for (let i = 0; i < lectures.length; i += 500) {
      const batch = lectures.slice(i, i + 500);
      await client.query(
        `INSERT INTO lectures (import_name, room, title, starts_at, ends_at)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])`,
        [
          record.name,
          batch.map((l) => l.room),
          batch.map((l) => l.title),
          batch.map((l) => l.startsAt),
          batch.map((l) => l.endsAt),
        ],
      );
    }
  });
}

/** Imports with rules going on past their window, expanded only up to before `before`: to be expanded further. */
export async function importsToExtend(db: Queryable, before: Date): Promise<ImportRecord[]> {
  const { rows } = await db.query<ImportRecord>(
    `SELECT name, format, source, timezone, expanded_until AS "expandedUntil", continuing, skipped
     FROM lecture_imports WHERE continuing > 0 AND source IS NOT NULL AND expanded_until < $1 ORDER BY name`,
    [before],
  );
  return rows;
}

/** Lectures overlapping [from, to), optionally of one room, at most 5000. */
export async function listLectures(db: Queryable, q: { from: Date; to: Date; room?: string }) {
  const { rows } = await db.query<{ room: string; title: string; startsAt: Date; endsAt: Date; import: string }>(
    `SELECT room, title, starts_at AS "startsAt", ends_at AS "endsAt", import_name AS "import" FROM lectures
     WHERE ends_at > $1 AND starts_at < $2 AND ($3::text IS NULL OR room = $3) ORDER BY starts_at, room LIMIT 5000`,
    [q.from, q.to, q.room ?? null],
  );
  return rows;
}

/** Lectures in any room of a PC that have not ended by `now` and start within `horizonDays`. */
export async function lecturesOfNode(
  db: Queryable,
  nodeId: string,
  now: Date,
  horizonDays: number,
): Promise<{ startsAt: Date; endsAt: Date }[]> {
  const { rows } = await db.query<{ startsAt: Date; endsAt: Date }>(
    `SELECT l.starts_at AS "startsAt", l.ends_at AS "endsAt" FROM lectures l JOIN room_nodes r ON r.room = l.room
     WHERE r.node_id = $1 AND l.ends_at > $2 AND l.starts_at < $2::timestamptz + ($3::int * interval '1 day')`,
    [nodeId, now, horizonDays],
  );
  return rows;
}

/** Per PC of `nodeIds`, the lectures in its rooms that have not ended by `now` and start within `horizonMs`. */
export async function lecturesOfNodes(
  db: Queryable,
  nodeIds: string[],
  now: Date,
  horizonMs: number,
): Promise<Map<string, { startsAt: Date; endsAt: Date }[]>> {
  const { rows } = await db.query<{ nodeId: string; startsAt: Date; endsAt: Date }>(
    `SELECT r.node_id AS "nodeId", l.starts_at AS "startsAt", l.ends_at AS "endsAt" FROM lectures l
     JOIN room_nodes r ON r.room = l.room
     WHERE r.node_id = ANY($1) AND l.ends_at > $2 AND l.starts_at < $2::timestamptz + ($3::bigint * interval '1 millisecond')`,
    [nodeIds, now, horizonMs],
  );
  const out = new Map<string, { startsAt: Date; endsAt: Date }[]>();
  for (const r of rows) {
    const list = out.get(r.nodeId) ?? [];
    list.push({ startsAt: r.startsAt, endsAt: r.endsAt });
    out.set(r.nodeId, list);
  }
  return out;
}

/** Records lecture conflicts (each once); returns how many were new. */
export async function recordLectureConflicts(
  db: Queryable,
  conflicts: { nodeId: string; containerId: string; lectureAt: Date }[],
): Promise<number> {
  if (!conflicts.length) return 0;
  const { rowCount } = await db.query(
    `INSERT INTO lecture_conflicts (container_id, node_id, lecture_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) ON CONFLICT DO NOTHING`,
    [conflicts.map((c) => c.containerId), conflicts.map((c) => c.nodeId), conflicts.map((c) => c.lectureAt)],
  );
  return rowCount ?? 0;
}

/** Lecture conflicts detected since `since`, newest first, at most 1000. */
export async function listLectureConflicts(db: Queryable, since: Date) {
  const { rows } = await db.query<{ containerId: string; nodeId: string; lectureAt: Date; detectedAt: Date }>(
    `SELECT container_id AS "containerId", node_id AS "nodeId", lecture_at AS "lectureAt", detected_at AS "detectedAt"
     FROM lecture_conflicts WHERE detected_at >= $1 ORDER BY detected_at DESC LIMIT 1000`,
    [since],
  );
  return rows;
}
