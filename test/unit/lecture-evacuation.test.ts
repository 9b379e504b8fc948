import { evacuationSeconds, planLectureEvacuations, PcInUse } from '../../domain/lecture-evacuation';
import { moveSeconds } from '../../domain/move-cost';
import { lectureEvacuationWorkflowId } from '../../common/names';

const MIB = 2 ** 20;
const now = new Date('2026-12-07T09:00:00Z');
const at = (minutes: number): Date => new Date(now.getTime() + minutes * 60_000);
const pc = (nodeId: string, mibs: number[], lectures: [number, number][]): PcInUse => ({
  nodeId,
  containers: mibs.map((m, i) => ({ id: `${nodeId}-c${i}`, memoryBytes: m * MIB })),
  lectures: lectures.map(([s, e]) => ({ startsAt: at(s), endsAt: at(e) })),
});

describe('move cost model', () => {
  it('follows the measured figures: a first move of 1 GiB ~20 s, a return move much less, more on a slower link', () => {
    const first = moveSeconds({ memoryBytes: 1024 * MIB, remnant: false });
    expect(first).toBeGreaterThanOrEqual(17);
    expect(first).toBeLessThanOrEqual(25);
    expect(moveSeconds({ memoryBytes: 1024 * MIB, remnant: true })).toBeLessThan(first / 2);
    expect(moveSeconds({ memoryBytes: 64 * MIB, remnant: false })).toBeCloseTo(3.75, 1);
    // At 100 Mbit/s the image alone takes 86 s on the wire.
    expect(moveSeconds({ memoryBytes: 1024 * MIB, remnant: false, linkBytesPerSecond: 12_500_000 })).toBeGreaterThan(
      (1024 * MIB) / 12_500_000,
    );
  });

  it('packs an evacuation on parallel lanes, largest first', () => {
    const one = moveSeconds({ memoryBytes: 1024 * MIB, remnant: false });
    const small = moveSeconds({ memoryBytes: 64 * MIB, remnant: false });
    // Two lanes: the 1 GiB alone on one, the four small ones on the other.
    expect(
      evacuationSeconds(
        [64, 1024, 64, 64, 64].map((m) => m * MIB),
        2,
      ),
    ).toBeCloseTo(Math.max(one, 4 * small), 6);
    expect(
      evacuationSeconds(
        [64, 64].map((m) => m * MIB),
        1,
      ),
    ).toBeCloseTo(2 * small, 6);
    expect(evacuationSeconds([], 2)).toBe(0);
  });
});

describe('lecture-driven evacuation', () => {
  it('starts a PC with a lecture nearer than its lead time, and no other', () => {
    const plan = planLectureEvacuations(
      [
        pc('pc1', [256, 256], [[3, 90]]), // 3 min away, lead ~3.1 min: due
        pc('pc2', [256], [[30, 120]]), // half an hour away: not yet
        pc('pc3', [], [[1, 60]]), // nothing on it
        pc('pc4', [512], []), // no lecture
      ],
      { now },
    );
    expect(plan.due.map((d) => d.nodeId)).toEqual(['pc1']);
    const d = plan.due[0]!;
    expect(d.deadlineSeconds).toBe(180);
    expect(d.lectureAt).toEqual(at(3));
    expect(d.containers).toEqual(['pc1-c0', 'pc1-c1']);
    expect(d.leadMs).toBeGreaterThan(180_000); // 2 min safety + 1 min interval + the moves
    expect(d.reason).toMatch(/a lecture starts on pc1 at 2026-12-07T09:03:00.000Z \(moving its 2 container/);
    expect(plan.conflicts).toEqual([]);
  });

  it('gives a PC with many large containers a longer lead', () => {
    const many = planLectureEvacuations([pc('pc1', [2048, 2048, 2048, 2048, 2048, 2048], [[5, 60]])], { now });
    const few = planLectureEvacuations([pc('pc1', [64], [[5, 60]])], { now });
    expect(many.due).toHaveLength(1);
    expect(few.due).toHaveLength(0);
    // Fewer lanes, longer lead.
    const lead = (parallel: number) =>
      planLectureEvacuations([pc('pc1', [2048, 2048, 2048, 2048], [[1, 60]])], { now, parallel }).due[0]!.leadMs;
    expect(lead(1)).toBeGreaterThan(lead(2));
  });

  it('records containers on a PC already in a lecture as conflicts, and evacuates them until it ends', () => {
    const plan = planLectureEvacuations(
      [
        pc(
          'pc1',
          [128, 64],
          [
            [-10, 80],
            [100, 190],
          ],
        ),
      ],
      { now },
    );
    expect(plan.conflicts).toEqual([
      { nodeId: 'pc1', containerId: 'pc1-c0', lectureAt: at(-10) },
      { nodeId: 'pc1', containerId: 'pc1-c1', lectureAt: at(-10) },
    ]);
    expect(plan.due).toHaveLength(1);
    expect(plan.due[0]!.deadlineSeconds).toBe(80 * 60);
    expect(plan.due[0]!.reason).toMatch(/pc1 is in a lecture since/);
  });

  it('names one evacuation per PC and lecture', () => {
    expect(lectureEvacuationWorkflowId('pc1', at(3))).toBe('lecture-pc1-20261207T090300Z');
    expect(lectureEvacuationWorkflowId('pc1', at(3))).not.toBe(lectureEvacuationWorkflowId('pc1', at(4)));
  });
});
