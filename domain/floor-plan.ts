// Rooms as floor plans (issue 31 part 3): each PC of a room may have a place, a row and a seat, as the room's plan
// numbers them, so the web view draws the room as it stands. Pure: the API, the CLI and their tests share it.
import { NODE_ID_PATTERN } from '../common/names';

/** A PC of a room, with its place on the room's plan (both null: not placed, drawn after the placed ones). */
export interface RoomPc {
  nodeId: string;
  row: number | null;
  seat: number | null;
}

/** Rows and seats are numbered from 1 (a lecture room of 99 rows or 99 seats in a row is not one we know). */
export const MAX_ROW = 99;
export const MAX_SEAT = 99;

export const ROOM_PC_RULE =
  'a PC is given as its id ("pc1"), or as id@ROW.SEAT to place it on the floor plan ("pc1@2.3")';

export class FloorPlanError extends Error {}

/** "pc1" or "pc1@2.3" (row 2, seat 3), as the CLI takes them. */
export function parseRoomPc(spec: string): RoomPc {
  const m = /^([^@]+)(?:@(\d+)\.(\d+))?$/.exec(spec);
  if (!m || !NODE_ID_PATTERN.test(m[1]!)) throw new FloorPlanError(`"${spec}": ${ROOM_PC_RULE}`);
  if (m[2] === undefined) return { nodeId: m[1]!, row: null, seat: null };
  const place = { nodeId: m[1]!, row: Number(m[2]), seat: Number(m[3]) };
  const refusal = placeRefusal(place);
  if (refusal) throw new FloorPlanError(`"${spec}": ${refusal}`);
  return place;
}

function placeRefusal({ row, seat }: RoomPc): string | null {
  if (row === null || seat === null) return null;
  if (!Number.isInteger(row) || row < 1 || row > MAX_ROW) return `row ${row} is not one of 1-${MAX_ROW}`;
  if (!Number.isInteger(seat) || seat < 1 || seat > MAX_SEAT) return `seat ${seat} is not one of 1-${MAX_SEAT}`;
  return null;
}

/** Why a room's PCs cannot stand as given (a PC listed twice, two on one seat, a place out of range); null if they can. */
export function roomPlanRefusal(pcs: RoomPc[]): string | null {
  const ids = new Set<string>();
  const seats = new Map<string, string>();
  for (const pc of pcs) {
    if (ids.has(pc.nodeId)) return `${pc.nodeId} is listed twice`;
    ids.add(pc.nodeId);
    if ((pc.row === null) !== (pc.seat === null)) return `${pc.nodeId} has a row or a seat without the other`;
    const refusal = placeRefusal(pc);
    if (refusal) return `${pc.nodeId}: ${refusal}`;
    if (pc.row === null) continue;
    const at = `${pc.row}.${pc.seat}`;
    const other = seats.get(at);
    if (other) return `${other} and ${pc.nodeId} both stand at row ${pc.row}, seat ${pc.seat}`;
    seats.set(at, pc.nodeId);
  }
  return null;
}

/** "pc1@2.3" or "pc1": how the CLI shows a room's PC (the form `parseRoomPc` reads). */
export function formatRoomPc(pc: RoomPc): string {
  return pc.row === null ? pc.nodeId : `${pc.nodeId}@${pc.row}.${pc.seat}`;
}
