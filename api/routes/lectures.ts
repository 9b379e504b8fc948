import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { freeTimeTerm } from '../../domain/placement';
import { LectureOccurrence, parseCsv, parseIcs, TimetableError } from '../../domain/timetable';
import { replyError, requireAdmin } from '../http-errors';
import { listLectures, listRooms, mappedRooms, replaceImport, roomsOfNode, setRoomNodes } from '../../state/lectures';
import { needOf } from '../../state/placement';
import { nodeIdSchema, params, roomSchema } from '../schemas';

export interface LectureRoutesOptions {
  db: Pool;
  /** The campus time zone (CSV times are local). */
  timezone: string;
}

/** Rooms -> PCs, timetable imports (iCalendar, CSV), lecture listings, and when a PC is next needed. */
export function lectureRoutes(app: FastifyInstance, { db, timezone }: LectureRoutesOptions): void {
  app.put<{ Params: { room: string }; Body: { nodes: string[] } }>(
    '/v1/rooms/:room',
    {
      schema: {
        params: params({ room: roomSchema }),
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['nodes'],
          properties: { nodes: { type: 'array', maxItems: 500, uniqueItems: true, items: nodeIdSchema } },
        },
      },
    },
    async (request, reply) => {
      if (!requireAdmin(request.role, reply)) return reply;
      await setRoomNodes(db, request.params.room, request.body.nodes);
      return { room: request.params.room, nodes: [...request.body.nodes].sort() };
    },
  );

  app.get('/v1/rooms', async () => {
    return { rooms: await listRooms(db) };
  });

  app.post<{ Body: { name: string; format: 'ics' | 'csv'; content: string; timezone?: string } }>(
    '/v1/lectures/imports',
    {
      bodyLimit: 16 << 20,
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'format', 'content'],
          properties: {
            name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
            format: { type: 'string', enum: ['ics', 'csv'] },
            content: { type: 'string', minLength: 1 },
            timezone: { type: 'string', minLength: 1, maxLength: 64 },
          },
        },
      },
    },
    async (request, reply) => {
      if (!requireAdmin(request.role, reply)) return reply;
      const { name, format, content } = request.body;
      let lectures: LectureOccurrence[];
      try {
        const horizon = new Date(Date.now() + 400 * 24 * 3_600_000);
        lectures =
          format === 'ics' ? parseIcs(content, { horizon }) : parseCsv(content, request.body.timezone ?? timezone);
      } catch (err) {
        if (err instanceof TimetableError)
          return replyError(reply, 400, `${format} timetable "${name}": ${err.message}`);
        throw err;
      }
      await replaceImport(db, name, format, lectures);
      const rooms = [...new Set(lectures.map((l) => l.room))].sort();
      const mapped = await mappedRooms(db, rooms);
      return reply
        .code(201)
        .send({ name, format, lectures: lectures.length, rooms, unmappedRooms: rooms.filter((r) => !mapped.has(r)) });
    },
  );

  app.get<{ Querystring: { room?: string; from?: string; to?: string } }>(
    '/v1/lectures',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            room: roomSchema,
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
    async (request, reply) => {
      const from = request.query.from ? new Date(request.query.from) : new Date();
      const to = request.query.to ? new Date(request.query.to) : new Date(from.getTime() + 7 * 24 * 3_600_000);
      if (to <= from)
        return replyError(reply, 400, `"to" (${to.toISOString()}) must be after "from" (${from.toISOString()})`);
      return {
        from,
        to,
        lectures: await listLectures(db, { from, to, ...(request.query.room ? { room: request.query.room } : {}) }),
      };
    },
  );

  app.get<{ Params: { nodeId: string } }>(
    '/v1/nodes/:nodeId/need',
    { schema: { params: params({ nodeId: nodeIdSchema }) } },
    async (request) => {
      const now = new Date();
      const need = await needOf(db, request.params.nodeId, now, 400);
      return {
        nodeId: request.params.nodeId,
        rooms: await roomsOfNode(db, request.params.nodeId),
        ...need,
        L: freeTimeTerm(need, now),
      };
    },
  );
}
