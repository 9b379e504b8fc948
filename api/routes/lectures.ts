import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { freeTimeTerm } from '../../domain/placement';
import { LectureOccurrence, parseCsv, parseIcs, TimetableError } from '../../domain/timetable';
import { replyError, requireAdmin } from '../http-errors';
import { inTransaction } from '../../state/db';
import { needOf } from '../../state/placement';
import { nodeIdSchema, params, roomSchema } from '../schemas';

export interface LectureRoutesOptions {
  db: Pool;
  /** The campus time zone (CSV times are local). */
  timezone: string;
}

/** Rooms -> PCs, timetable imports (iCalendar, CSV), lecture listings, and when a PC is next needed. */
export function lectureRoutes(app: FastifyInstance, { db, timezone }: LectureRoutesOptions): void {
  app.put<{ Params: { room: string }; Body: { nodes: string[] } }>('/v1/rooms/:room', {
    schema: {
      params: params({ room: roomSchema }),
      body: { type: 'object', additionalProperties: false, required: ['nodes'], properties: { nodes: { type: 'array', maxItems: 500, uniqueItems: true, items: nodeIdSchema } } },
    },
  }, async (request, reply) => {
    if (!requireAdmin(request.role, reply)) return reply;
    await inTransaction(db, async (client) => {
      await client.query('DELETE FROM room_nodes WHERE room = $1', [request.params.room]);
      for (const n of request.body.nodes) await client.query('INSERT INTO room_nodes (room, node_id) VALUES ($1, $2)', [request.params.room, n]);
    });
    return { room: request.params.room, nodes: [...request.body.nodes].sort() };
  });

  app.get('/v1/rooms', async () => {
    const { rows } = await db.query('SELECT room, array_agg(node_id ORDER BY node_id) AS nodes FROM room_nodes GROUP BY room ORDER BY room');
    return { rooms: rows };
  });

  app.post<{ Body: { name: string; format: 'ics' | 'csv'; content: string; timezone?: string } }>('/v1/lectures/imports', {
    bodyLimit: 16 << 20,
    schema: {
      body: {
        type: 'object', additionalProperties: false, required: ['name', 'format', 'content'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
          format: { type: 'string', enum: ['ics', 'csv'] },
          content: { type: 'string', minLength: 1 },
          timezone: { type: 'string', minLength: 1, maxLength: 64 },
        },
      },
    },
  }, async (request, reply) => {
    if (!requireAdmin(request.role, reply)) return reply;
    const { name, format, content } = request.body;
    let lectures: LectureOccurrence[];
    try {
      const horizon = new Date(Date.now() + 400 * 24 * 3_600_000);
      lectures = format === 'ics' ? parseIcs(content, { horizon }) : parseCsv(content, request.body.timezone ?? timezone);
    } catch (err) {
      if (err instanceof TimetableError) return replyError(reply, 400, `${format} timetable "${name}": ${err.message}`);
      throw err;
    }
    // Importing a name again replaces its lectures, in one transaction.
    await inTransaction(db, async (client) => {
      await client.query('DELETE FROM lecture_imports WHERE name = $1', [name]);
      await client.query('INSERT INTO lecture_imports (name, format, lectures) VALUES ($1, $2, $3)', [name, format, lectures.length]);
      for (let i = 0; i < lectures.length; i += 500) {
        const batch = lectures.slice(i, i + 500);
        await client.query(
          `INSERT INTO lectures (import_name, room, title, starts_at, ends_at)
           SELECT $1, * FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])`,
          [name, batch.map((l) => l.room), batch.map((l) => l.title), batch.map((l) => l.startsAt), batch.map((l) => l.endsAt)]);
      }
    });
    const rooms = [...new Set(lectures.map((l) => l.room))].sort();
    const { rows } = await db.query<{ room: string }>('SELECT DISTINCT room FROM room_nodes WHERE room = ANY($1)', [rooms]);
    const mapped = new Set(rows.map((r) => r.room));
    return reply.code(201).send({ name, format, lectures: lectures.length, rooms, unmappedRooms: rooms.filter((r) => !mapped.has(r)) });
  });

  app.get<{ Querystring: { room?: string; from?: string; to?: string } }>('/v1/lectures', {
    schema: {
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { room: roomSchema, from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' } },
      },
    },
  }, async (request, reply) => {
    const from = request.query.from ? new Date(request.query.from) : new Date();
    const to = request.query.to ? new Date(request.query.to) : new Date(from.getTime() + 7 * 24 * 3_600_000);
    if (to <= from) return replyError(reply, 400, `"to" (${to.toISOString()}) must be after "from" (${from.toISOString()})`);
    const { rows } = await db.query(
      `SELECT room, title, starts_at AS "startsAt", ends_at AS "endsAt", import_name AS "import" FROM lectures
       WHERE ends_at > $1 AND starts_at < $2 AND ($3::text IS NULL OR room = $3) ORDER BY starts_at, room LIMIT 5000`,
      [from, to, request.query.room ?? null]);
    return { from, to, lectures: rows };
  });

  app.get<{ Params: { nodeId: string } }>('/v1/nodes/:nodeId/need', { schema: { params: params({ nodeId: nodeIdSchema }) } }, async (request) => {
    const now = new Date();
    const { rows } = await db.query<{ room: string }>('SELECT room FROM room_nodes WHERE node_id = $1 ORDER BY room', [request.params.nodeId]);
    const need = await needOf(db, request.params.nodeId, now, 400);
    return { nodeId: request.params.nodeId, rooms: rows.map((r) => r.room), ...need, L: freeTimeTerm(need, now) };
  });
}
