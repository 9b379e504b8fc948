import { decidePlacement, DEFAULT_POLICY, freeTimeTerm, NodeFacts, PlacementRequest } from '../../domain/placement';
import { cpuFlagsLacking, cpuIncompatibility, instructionFlags } from '../../domain/placement';
import { choosePlacement, eligibleNodes, recordedDecision, verdictFor } from '../../domain/placement';
import { seededRandom } from '../../common/seeded-random';

const now = new Date('2026-11-26T10:00:00Z');
const MiB = 2 ** 20;
const node = (nodeId: string, over: Partial<NodeFacts> = {}): NodeFacts => ({
  nodeId,
  lastReportAt: new Date(now.getTime() - 5_000),
  cpu: 0.2,
  memory: 0.3,
  memoryAvailableBytes: 4096 * MiB,
  cpuFlags: ['avx2', 'sse4_2'],
  inLectureUntil: null,
  nextLectureAt: null,
  generationsHeld: 0,
  hasBundle: false,
  ...over,
});
const request: PlacementRequest = {
  containerId: 'c1',
  sourceNode: 'pc1',
  memoryNeededBytes: 512 * MiB,
  totalGenerations: 2,
  requiredCpuFlags: ['avx2'],
  now,
};

describe('placement policy', () => {
  it('prefers the remnant holder when loads are similar', () => {
    const d = decidePlacement(request, [node('pc2'), node('pc3', { generationsHeld: 2, hasBundle: true, cpu: 0.25 })]);
    expect(d.chosen).toBe('pc3');
    expect(d.candidates.map((c) => [c.nodeId, c.cost])).toEqual([
      ['pc3', -0.95],
      ['pc2', 0],
    ]);
    expect(d.candidates[0]!.terms).toEqual({ C: 0.25, M: 0.3, P: 1, B: 1, L: 1 });
  });

  it('lets an idle node beat a heavily loaded remnant holder when the weights say load matters more', () => {
    const busyHolder = node('pc3', { cpu: 0.95, memory: 0.9, generationsHeld: 2, hasBundle: true });
    const idle = node('pc2', { cpu: 0.05, memory: 0.1 });
    expect(decidePlacement(request, [busyHolder, idle]).chosen).toBe('pc2'); // defaults: k=1, l=0.5
    expect(
      decidePlacement(request, [busyHolder, idle], { ...DEFAULT_POLICY, weights: { k: 0.2, l: 2, m: 0.5 } }).chosen,
    ).toBe('pc3');
  });

  it('never chooses a PC whose lecture starts in 10 minutes, or that is in one', () => {
    const d = decidePlacement(request, [
      node('pc2', { nextLectureAt: new Date(now.getTime() + 10 * 60_000), generationsHeld: 2, hasBundle: true }),
      node('pc3', { inLectureUntil: new Date(now.getTime() + 30 * 60_000) }),
      node('pc4', { cpu: 0.9, memory: 0.9 }),
    ]);
    expect(d.chosen).toBe('pc4');
    expect(d.candidates.find((c) => c.nodeId === 'pc2')!.excludedBecause).toEqual([
      'a lecture starts in 10 min (margin 15 min)',
    ]);
    expect(d.candidates.find((c) => c.nodeId === 'pc3')!.excludedBecause[0]).toMatch(/^in a lecture until/);
  });

  it('never chooses a PC its user is logged in at, nor one logged out of less than the idle time ago', () => {
    const d = decidePlacement(request, [
      node('pc2', { inUse: { by: 'student', until: null }, generationsHeld: 2, hasBundle: true }),
      node('pc3', { inUse: { by: 'student', until: new Date(now.getTime() + 60_000) } }),
      node('pc4', { inUse: { by: 'student', until: new Date(now.getTime() - 1) }, cpu: 0.9, memory: 0.9 }),
    ]);
    expect(d.chosen).toBe('pc4'); // its idle time after the logout has passed: offered again
    expect(d.candidates.find((c) => c.nodeId === 'pc2')!.excludedBecause).toEqual([
      'in use: student is logged in at it',
    ]);
    expect(d.candidates.find((c) => c.nodeId === 'pc3')!.excludedBecause).toEqual([
      'in use: student logged out, offered again at 2026-11-26T10:01:00.000Z',
    ]);
  });

  it('excludes offline, never-reporting, out-of-memory and CPU-incompatible nodes and the source, saying why', () => {
    const d = decidePlacement(request, [
      node('pc1'),
      node('pc2', { lastReportAt: new Date(now.getTime() - 120_000) }),
      node('pc3', { lastReportAt: null }),
      node('pc4', { memoryAvailableBytes: 100 * MiB }),
      node('pc5', { cpuFlags: ['sse4_2'] }),
    ]);
    expect(d.chosen).toBeNull();
    expect(Object.fromEntries(d.candidates.map((c) => [c.nodeId, c.excludedBecause]))).toEqual({
      pc1: ['it is the source'],
      pc2: ['offline: last report 120 s ago'],
      pc3: ['it never reported'],
      pc4: ['100 MiB free, 512 MiB needed'],
      pc5: ['its CPU lacks avx2'],
    });
    expect(d.explanation).toMatch(/^no node can take c1: pc1 \(it is the source\), pc2 \(offline/);
  });

  it("excludes nodes the caller rules out, with the caller's reason", () => {
    const d = decidePlacement({ ...request, exclude: [{ nodeId: 'pc2', reason: 'it died during this migration' }] }, [
      node('pc2'),
      node('pc3', { cpu: 0.9 }),
    ]);
    expect(d.chosen).toBe('pc3');
    expect(d.candidates.find((c) => c.nodeId === 'pc2')!.excludedBecause).toEqual(['it died during this migration']);
  });

  it('lists every candidate with its terms, and breaks ties by node id', () => {
    const d = decidePlacement(request, [node('pc9'), node('pc2'), node('pc1')]);
    expect(d.candidates.map((c) => c.nodeId)).toEqual(['pc2', 'pc9', 'pc1']);
    expect(d.chosen).toBe('pc2');
    for (const c of d.candidates) expect(Object.keys(c.terms)).toEqual(['C', 'M', 'P', 'B', 'L']);
    expect(d.explanation).toMatch(/^pc2 has the lowest cost 0 = 1\(C\+M\) - 0.5\(P\+B\) - 0.5L/);
  });

  it('scales L from 0 in a lecture to 1 a day or more before the next', () => {
    expect(freeTimeTerm({ inLectureUntil: new Date(now.getTime() + 1), nextLectureAt: null }, now)).toBe(0);
    expect(freeTimeTerm({ inLectureUntil: null, nextLectureAt: new Date(now.getTime() + 6 * 3_600_000) }, now)).toBe(
      0.25,
    );
    expect(freeTimeTerm({ inLectureUntil: null, nextLectureAt: new Date(now.getTime() + 48 * 3_600_000) }, now)).toBe(
      1,
    );
    expect(freeTimeTerm({ inLectureUntil: null, nextLectureAt: null }, now)).toBe(1);
  });
});

describe('the CPU rule', () => {
  const host = ['fpu', 'sse4_2', 'avx', 'avx2', 'aes', 'sha_ni', 'hypervisor', 'constant_tsc', 'vmx', 'lm'];
  const guest = ['fpu', 'sse4_2', 'aes', 'hypervisor', 'lm'];

  it('counts only instructions a program may use', () => {
    expect(instructionFlags(host)).toEqual(['sse4_2', 'avx', 'avx2', 'aes', 'sha_ni', 'lm']);
    expect(cpuFlagsLacking(host, guest)).toEqual(['avx', 'avx2', 'sha_ni']);
    // The other way round every instruction is there; flags that are no instructions never count.
    expect(cpuFlagsLacking(guest, host)).toEqual([]);
    expect(cpuFlagsLacking(['vmx', 'constant_tsc'], [])).toEqual([]);
  });

  it('explains a refusal naming both PCs and the missing instructions', () => {
    expect(cpuIncompatibility('pc1', host, 'vm1', guest)).toBe(
      "the CPU of vm1 lacks avx, avx2, sha_ni, which pc1's CPU has: a process restored there would die the first time it used one of them",
    );
    expect(cpuIncompatibility('vm1', guest, 'pc1', host)).toBeNull();
  });
});

describe('a first start', () => {
  const older = ['sse4_2', 'avx2'];
  const newer = ['sse4_2', 'avx2', 'vaes', 'gfni'];
  const first: PlacementRequest = { ...request, sourceNode: null, requiredCpuFlags: [], totalGenerations: 0 };

  it('goes where the most PCs can follow, even to a busier PC: a newer CPU would bind it to the newer PCs', () => {
    const nodes = [
      node('new1', { cpuFlags: newer, cpu: 0.05 }),
      node('old1', { cpuFlags: older, cpu: 0.6 }),
      node('old2', { cpuFlags: older, cpu: 0.4 }),
    ];
    const d = decidePlacement(first, nodes);
    expect(d.chosen).toBe('old2');
    expect(d.explanation).toContain('3 of 3 PCs can take a process from (a first start)');
    // A container that has run somewhere is bound already: load decides.
    expect(decidePlacement({ ...first, sourceNode: 'old1', requiredCpuFlags: older }, nodes).chosen).toBe('new1');
  });

  it('takes a newer CPU when no older one has room', () => {
    const nodes = [node('new1', { cpuFlags: newer }), node('old1', { cpuFlags: older, memoryAvailableBytes: 0 })];
    expect(decidePlacement(first, nodes).chosen).toBe('new1');
  });
});

describe('the choice alone (choosePlacement, eligibleNodes)', () => {
  it('chooses what decidePlacement chooses, at the cost it gives, over many random campuses', () => {
    const rnd = seededRandom(7);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const cpus = [['sse4_2'], ['sse4_2', 'avx2'], ['sse4_2', 'avx2', 'avx512f']];
    let chosenSome = 0;
    let chosenNone = 0;
    for (let round = 0; round < 300; round++) {
      const nodes = Array.from({ length: 1 + Math.floor(rnd() * 30) }, (_, i) =>
        node(`pc${Math.floor(rnd() * 40)}-${i}`, {
          cpu: Math.round(rnd() * 4) / 4, // ties in cost are common: the id breaks them
          memory: Math.round(rnd() * 4) / 4,
          memoryAvailableBytes: Math.floor(rnd() * 2048) * MiB,
          cpuFlags: pick(cpus),
          lastReportAt: rnd() < 0.1 ? null : new Date(now.getTime() - rnd() * 60_000),
          inLectureUntil: rnd() < 0.2 ? new Date(now.getTime() + 3_600_000) : null,
          nextLectureAt: rnd() < 0.4 ? new Date(now.getTime() + rnd() * 2 * 86_400_000) : null,
          generationsHeld: Math.floor(rnd() * 3),
          hasBundle: rnd() < 0.3,
        }),
      );
      const req: PlacementRequest = {
        ...request,
        sourceNode: rnd() < 0.3 ? null : pick(nodes).nodeId,
        requiredCpuFlags: rnd() < 0.3 ? [] : pick(cpus),
        exclude: rnd() < 0.3 ? [{ nodeId: pick(nodes).nodeId, reason: 'unreachable' }] : [],
      };
      const full = decidePlacement(req, nodes);
      const fast = choosePlacement(req, nodes);
      expect(fast?.nodeId ?? null).toBe(full.chosen);
      if (fast) expect(fast.cost).toBe(full.candidates[0]!.cost);
      if (fast)
        expect(
          verdictFor(
            req,
            nodes.find((n) => n.nodeId === fast.nodeId)!,
          ),
        ).toEqual(full.candidates[0]);
      const eligible = eligibleNodes(req, nodes).map((e) => `${e.nodeId} ${e.cost}`);
      const fromFull = full.candidates.filter((c) => c.eligible).map((c) => `${c.nodeId} ${c.cost}`);
      expect(eligible.sort()).toEqual(fromFull.sort());
      if (fast) chosenSome++;
      else chosenNone++;
    }
    // Both outcomes were exercised.
    expect(chosenSome).toBeGreaterThan(50);
    expect(chosenNone).toBeGreaterThan(5);
  });
});

describe('a decision as records keep it (recordedDecision)', () => {
  it('keeps the chosen PC and the next best and the first excluded, and says how many were left out', () => {
    const nodes = Array.from({ length: 40 }, (_, i) =>
      node(`pc${i + 2}`, { cpu: i / 40, inLectureUntil: i % 2 ? new Date(now.getTime() + 60_000) : null }),
    );
    const full = decidePlacement(request, nodes);
    const kept = recordedDecision(full, 3);
    expect(kept.chosen).toBe(full.chosen);
    expect(kept.candidates.map((c) => c.nodeId)).toEqual([
      ...full.candidates
        .filter((c) => c.eligible)
        .slice(0, 3)
        .map((c) => c.nodeId),
      ...full.candidates
        .filter((c) => !c.eligible)
        .slice(0, 3)
        .map((c) => c.nodeId),
    ]);
    expect(kept.candidates[0]).toEqual(full.candidates[0]);
    expect(kept.omittedCandidates).toBe(34);
    // A small campus is kept whole.
    expect(recordedDecision(decidePlacement(request, nodes.slice(0, 5)))).toEqual(
      decidePlacement(request, nodes.slice(0, 5)),
    );
  });
});
