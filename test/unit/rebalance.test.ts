import { decidePlacement, DEFAULT_POLICY, NodeFacts } from '../../domain/placement';
import { mayMoveFrom, planRebalance, RebalanceEntry, RebalanceOptions } from '../../domain/rebalance';

const now = new Date('2026-11-26T10:00:00Z');
const fact = (nodeId: string, over: Partial<NodeFacts> = {}): NodeFacts => ({
  nodeId,
  lastReportAt: now,
  cpu: 0.1,
  memory: 0.1,
  memoryAvailableBytes: 8 * 2 ** 30,
  cpuFlags: [],
  inLectureUntil: null,
  nextLectureAt: null,
  generationsHeld: 0,
  hasBundle: false,
  ...over,
});
const entry = (
  containerId: string,
  nodeId: string,
  source: Partial<RebalanceEntry['source']>,
  targets: NodeFacts[],
): RebalanceEntry => ({
  containerId,
  nodeId,
  source: { cpu: 0.2, memory: 0.2, inLectureUntil: null, nextLectureAt: null, ...source },
  decision: decidePlacement(
    { containerId, sourceNode: nodeId, memoryNeededBytes: 2 ** 28, totalGenerations: 1, requiredCpuFlags: [], now },
    [fact(nodeId), ...targets],
  ),
});
const options: RebalanceOptions = {
  weights: DEFAULT_POLICY.weights,
  lectureMarginMs: 15 * 60_000,
  overloadThreshold: 1.5,
  gainThreshold: 0.3,
  maxMigrations: 5,
  now,
};

describe('rebalancing plan', () => {
  it('moves what is still on a PC its user is at, and nothing once the idle time after the logout has passed', () => {
    const atIt = { by: 'student', until: null };
    const plan = planRebalance(
      [
        entry('a', 'pc1', { inUse: atIt }, [fact('pc2')]),
        entry('b', 'pc3', { inUse: { by: 'student', until: new Date(now.getTime() - 1) } }, [fact('pc2')]),
      ],
      options,
    );
    expect(plan.moves).toEqual([
      { containerId: 'a', from: 'pc1', to: 'pc2', reason: 'pc1 is in use by student', gain: null },
    ]);
    expect(
      mayMoveFrom({ cpu: 0.1, memory: 0.1, inLectureUntil: null, nextLectureAt: null, inUse: atIt }, options),
    ).toBe(true);
  });

  it('evacuates a PC whose lecture starts within the margin, and leaves quiet PCs alone', () => {
    const plan = planRebalance(
      [
        entry('a', 'pc1', { nextLectureAt: new Date(now.getTime() + 10 * 60_000) }, [fact('pc2')]),
        entry('b', 'pc3', { nextLectureAt: new Date(now.getTime() + 60 * 60_000) }, [fact('pc2')]),
      ],
      options,
    );
    expect(plan.moves).toEqual([
      {
        containerId: 'a',
        from: 'pc1',
        to: 'pc2',
        reason: 'a lecture starts on pc1 at 2026-11-26T10:10:00.000Z',
        gain: null,
      },
    ]);
    expect(plan.skipped).toEqual([]);
  });

  it('moves off an overloaded PC only when the gain exceeds the threshold', () => {
    const busy = { cpu: 0.95, memory: 0.9 };
    const plan = planRebalance(
      [
        entry('hot', 'pc1', busy, [fact('pc2')]),
        entry('warm', 'pc3', { cpu: 0.7, memory: 0.7 }, [fact('pc2')]), // not over the overload threshold
        entry('meh', 'pc4', busy, [fact('pc2', { cpu: 0.8, memory: 0.8 })]), // target nearly as busy: no gain
      ],
      options,
    );
    // stay: 1.85 - 0.5·2 - 0.5·1 = 0.35; pc2: 0.2 - 0.5·1 = -0.3; gain 0.65 > 0.3
    expect(plan.moves.map((p) => [p.containerId, p.to, p.gain])).toEqual([['hot', 'pc2', 0.65]]);
  });

  it('caps a run, lecture evacuations first, and says what waits or cannot move', () => {
    const soon = { nextLectureAt: new Date(now.getTime() + 60_000) };
    const plan = planRebalance(
      [
        entry('x', 'pc1', { cpu: 0.95, memory: 0.95 }, [fact('pc2')]),
        entry('y', 'pc3', soon, [fact('pc2')]),
        entry('z', 'pc4', soon, [fact('pc5', { lastReportAt: null })]),
      ],
      { ...options, maxMigrations: 1 },
    );
    expect(plan.moves.map((p) => p.containerId)).toEqual(['y']);
    expect(plan.skipped.map((s) => s.containerId)).toEqual(['z', 'x']);
    expect(plan.skipped[0]!.reason).toMatch(/but no node can take z/);
    expect(plan.skipped[1]!.reason).toMatch(/over this run's limit of 1/);
  });
});

describe('which containers a run asks placement about (mayMoveFrom)', () => {
  const o = { lectureMarginMs: 15 * 60_000, overloadThreshold: 1.5, now };
  const source = (over: Partial<RebalanceEntry['source']>) => ({
    cpu: 0.2,
    memory: 0.2,
    inLectureUntil: null,
    nextLectureAt: null,
    ...over,
  });
  const inMinutes = (m: number) => new Date(now.getTime() + m * 60_000);

  it('asks for containers of PCs in a lecture, with one inside the margin, or overloaded; never the others', () => {
    expect(mayMoveFrom(source({ inLectureUntil: inMinutes(30) }), o)).toBe(true);
    expect(mayMoveFrom(source({ inLectureUntil: inMinutes(-1) }), o)).toBe(false); // ended
    expect(mayMoveFrom(source({ nextLectureAt: inMinutes(10) }), o)).toBe(true);
    expect(mayMoveFrom(source({ nextLectureAt: inMinutes(20) }), o)).toBe(false);
    expect(mayMoveFrom(source({ cpu: 0.9, memory: 0.7 }), o)).toBe(true);
    expect(mayMoveFrom(source({ cpu: 0.8, memory: 0.7 }), o)).toBe(false);
  });

  it('agrees with planRebalance: a container it leaves out is one a plan never moves', () => {
    const idle = entry('c1', 'pc1', { nextLectureAt: inMinutes(20) }, [fact('pc2')]);
    expect(mayMoveFrom(idle.source, o)).toBe(false);
    expect(planRebalance([idle], { ...options, ...o }).moves).toEqual([]);
  });
});
