// Rooms as floor plans: the CLI's "pc1@2.3" form and the checks a room's plan must pass before it is stored.
import { formatRoomPc, parseRoomPc, roomPlanRefusal } from '../../domain/floor-plan';

describe('parseRoomPc', () => {
  it('reads a PC alone or with its row and seat, and writes it back the same way', () => {
    expect(parseRoomPc('pc1')).toEqual({ nodeId: 'pc1', row: null, seat: null });
    expect(parseRoomPc('lab-pc12@3.14')).toEqual({ nodeId: 'lab-pc12', row: 3, seat: 14 });
    for (const spec of ['pc1', 'lab-pc12@3.14']) expect(formatRoomPc(parseRoomPc(spec))).toBe(spec);
  });

  it.each([
    ['PC1', /"PC1": a PC is given as its id/],
    ['pc1@2', /"pc1@2": a PC is given as its id/],
    ['pc1@2.x', /"pc1@2.x": a PC is given as its id/],
    ['pc1@0.1', /"pc1@0.1": row 0 is not one of 1-99/],
    ['pc1@1.100', /"pc1@1.100": seat 100 is not one of 1-99/],
  ])('refuses %s, saying what a PC looks like', (spec, message) => {
    expect(() => parseRoomPc(spec)).toThrow(message);
  });
});

describe('roomPlanRefusal', () => {
  const at = (nodeId: string, row: number | null, seat: number | null) => ({ nodeId, row, seat });

  it('lets placed and unplaced PCs stand together', () => {
    expect(roomPlanRefusal([at('pc1', 1, 1), at('pc2', 1, 2), at('pc3', null, null), at('pc4', 2, 1)])).toBeNull();
    expect(roomPlanRefusal([])).toBeNull();
  });

  it('names two PCs on one seat, a PC listed twice, and half a place', () => {
    expect(roomPlanRefusal([at('pc1', 1, 1), at('pc2', 2, 1), at('pc3', 1, 1)])).toBe(
      'pc1 and pc3 both stand at row 1, seat 1',
    );
    expect(roomPlanRefusal([at('pc1', 1, 1), at('pc1', 2, 1)])).toBe('pc1 is listed twice');
    expect(roomPlanRefusal([at('pc1', 1, null)])).toBe('pc1 has a row or a seat without the other');
    expect(roomPlanRefusal([at('pc1', 100, 1)])).toBe('pc1: row 100 is not one of 1-99');
  });
});
