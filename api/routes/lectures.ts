import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { MAX_ROW, MAX_SEAT, ROOM_PC_RULE, RoomPc, roomPlanRefusal } from '../../domain/floor-plan';
import { freeTimeTerm } from '../../domain/placement';
import { isKnownZone, TimetableError } from '../../domain/timetable';
import { importTimetable, roomSummaries, TimetableFormat } from '../../domain/timetable-import';
import { replyError, requireAdmin } from '../http-errors';
import { visibleItems } from '../access';
import {
  listLectureConflicts,
  listLectures,
  listRooms,
  mappedRooms,
  replaceImport,
  roomsOfNode,
  setRoomNodes,
} from '../../state/lectures';
import { needOf } from '../../state/placement';
import { nodeIdSchema, params, roomSchema } from '../schemas';

export interface LectureRoutesOptions {
  db: Pool;
  /** The campus time zone (CSV times, iCalendar floating times and all-day events). */
  timezone: string;
  /** Lectures are expanded this many days ahead (rules without an end stop there until the window moves on). */
  windowDays: number;
}

const MAX_SKIPPED_LISTED = 500;

/** A PC of a room with its place on the plan, as PUT /v1/rooms/{room} takes it. */
interface RoomPcBody {
  id: string;
  row: number;
  seat: number;
}

/** Rooms -> PCs, timetable imports (iCalendar, CSV), lecture listings, and when a PC is next needed. */
export function lectureRoutes(app: FastifyInstance, { db, timezone, windowDays }: LectureRoutesOptions): void {
  app.put<{ Params: { room: string }; Body: { nodes: (string | RoomPcBody)[] } }>(
    '/v1/rooms/:room',
    {
      schema: {
        params: params({ room: roomSchema }),
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['nodes'],
          properties: {
            nodes: {
              type: 'array',
              maxItems: 500,
              description: `${ROOM_PC_RULE}; as JSON: "pc1", or {"id": "pc1", "row": 2, "seat": 3}`,
              items: {
                anyOf: [
                  nodeIdSchema,
                  {
                    type: 'object',
                    additionalProperties: false,
                    required: ['id', 'row', 'seat'],
                    properties: {
                      id: nodeIdSchema,
                      row: { type: 'integer', minimum: 1, maximum: MAX_ROW },
                      seat: { type: 'integer', minimum: 1, maximum: MAX_SEAT },
                    },
                  },
                ],
              },
            },
          },
        },
      },
    },
    async (request, reply) => {
      if (!requireAdmin(request.role, reply)) return reply;
      const pcs: RoomPc[] = request.body.nodes.map((n) =>
        typeof n === 'string' ? { nodeId: n, row: null, seat: null } : { nodeId: n.id, row: n.row, seat: n.seat },
      );
      const refusal = roomPlanRefusal(pcs);
      if (refusal) return replyError(reply, 400, `room ${request.params.room}: ${refusal}`);
      await setRoomNodes(db, request.params.room, pcs);
      const room = (await listRooms(db)).find((r) => r.room === request.params.room);
      return room ?? { room: request.params.room, nodes: [], pcs: [] };
    },
  );

  app.get('/v1/rooms', async () => {
    return { rooms: await listRooms(db) };
  });

  app.post<{
    Body: { name: string; format: TimetableFormat; content: string; timezone?: string; dryRun?: boolean };
  }>(
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
            dryRun: { type: 'boolean' },
          },
        },
      },
    },
    async (request, reply) => {
      if (!requireAdmin(request.role, reply)) return reply;
      const { name, format, content, dryRun = false } = request.body;
      const zone = request.body.timezone ?? timezone;
      if (!isKnownZone(zone))
        return replyError(
          reply,
          400,
          `unknown time zone ${JSON.stringify(zone)}: give an IANA name such as Asia/Tokyo, or an offset such as UTC+9`,
        );
      let result: ReturnType<typeof importTimetable>;
      try {
        result = importTimetable({ format, content, timezone: zone }, { now: new Date(), windowDays });
      } catch (err) {
        // Nothing is stored: the previous import of this name stays as it was.
        if (err instanceof TimetableError)
          return replyError(reply, 400, `${format} timetable "${name}": ${err.message}`);
        throw err;
      }
      const { lectures, skipped, continuingPastWindow, expandedUntil } = result;
      // A file of which nothing can be used would replace the previous import with nothing.
      if (!lectures.length && skipped.length)
        return replyError(
          reply,
          400,
          `${format} timetable "${name}": nothing in it can be used: ${skipped
            .slice(0, 3)
            .map((c) => `${c.component} at line ${c.line}: ${c.reason}`)
            .join('; ')}${skipped.length > 3 ? ` (and ${skipped.length - 3} more)` : ''}`,
        );
      if (!dryRun)
        await replaceImport(
          db,
          {
            name,
            format,
            source: content,
            timezone: zone,
            expandedUntil,
            continuing: continuingPastWindow,
            skipped: skipped.length,
          },
          lectures,
        );
      const byRoom = roomSummaries(lectures);
      const mapped = await mappedRooms(
        db,
        byRoom.map((r) => r.room),
      );
      return reply.code(dryRun ? 200 : 201).send({
        name,
        format,
        dryRun,
        lectures: lectures.length,
        skipped: skipped.length,
        // A file of thousands of unusable parts answers with the first few hundred and the count.
        skippedComponents: skipped.slice(0, MAX_SKIPPED_LISTED),
        rooms: byRoom.map((r) => r.room),
        unmappedRooms: byRoom.filter((r) => !mapped.has(r.room)).map((r) => r.room),
        byRoom,
        expandedUntil,
        continuingPastWindow,
      });
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

  app.get<{ Querystring: { since?: string } }>(
    '/v1/lectures/conflicts',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since: { type: 'string', format: 'date-time' } },
        },
      },
    },
    async (request) => {
      // Default: the last 7 days.
      const since = request.query.since ? new Date(request.query.since) : new Date(Date.now() - 7 * 24 * 3_600_000);
      const conflicts = await visibleItems(db, request, await listLectureConflicts(db, since), (c) => c.containerId);
      return { since, conflicts };
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
