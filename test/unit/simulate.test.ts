// The campus simulator (infra/simulate): a short semester on a small campus, every policy on one seed.
import { generateCampus } from '../../infra/simulate/campus';
import { markdownTable, seriesPer100Pcs } from '../../bench/semester-chart';
import { POLICY_NAMES } from '../../infra/simulate/policies';
import { simulateOnePolicy, simulateSemester } from '../../infra/simulate/semester';
import { seededRandom } from '../../common/seeded-random';

describe('campus simulator', () => {
  const report = simulateSemester({ pcs: 48, weeks: 2, seed: 3 });

  it('reports every policy with the figures the issue names', () => {
    expect(Object.keys(report.policies)).toEqual([...POLICY_NAMES]);
    for (const p of Object.values(report.policies)) {
      for (const key of ['migrations', 'bytesMoved', 'lectureConflicts', 'workLostSeconds', 'frozenSeconds'] as const)
        expect(p[key]).toBeGreaterThanOrEqual(0);
      expect(p.remnantHitRate).toBeGreaterThanOrEqual(0);
      expect(p.remnantHitRate).toBeLessThanOrEqual(1);
    }
    expect(report.workload.containers).toBeGreaterThan(100);
    expect(report.campus.lectures).toBeGreaterThan(0);
  });

  it('leaves no container on a PC when its lecture starts with the lecture-driven evacuation, unlike rebalancing alone', () => {
    expect(report.policies.zanshin.lectureConflicts).toBe(0);
    expect(report.policies.random.lectureConflicts).toBeGreaterThan(0);
    expect(report.policies.zanshin.migrations).toBeGreaterThan(0);
  });

  it('is the same semester for the same seed, and another for another', () => {
    const again = simulateSemester({ pcs: 48, weeks: 2, seed: 3 });
    const figures = (p: (typeof report.policies)['zanshin']) => ({ ...p, simulatedInSeconds: 0 });
    for (const name of POLICY_NAMES) expect(figures(again.policies[name])).toEqual(figures(report.policies[name]));
    expect(simulateSemester({ pcs: 48, weeks: 2, seed: 4 }).policies.zanshin).not.toEqual(report.policies.zanshin);
  });

  it('gives one policy run alone (as each worker thread runs it) the figures it has among all', () => {
    const figures = (p: (typeof report.policies)['zanshin']) => ({ ...p, simulatedInSeconds: 0 });
    const alone = simulateOnePolicy({ pcs: 48, weeks: 2, seed: 3 }, 'least-loaded');
    expect(figures(alone)).toEqual(figures(report.policies['least-loaded']));
  });

  it('generates a timetable the importer takes, with an open lab of older PCs', () => {
    const campus = generateCampus({ pcs: 200, weeks: 15, rnd: seededRandom(1) });
    expect(campus.pcs).toHaveLength(200);
    expect(campus.rooms[0]).toEqual({ id: 'LAB', pcs: 20, utilisation: 0 });
    expect(campus.lecturesByRoom.get('LAB')).toEqual([]);
    expect(campus.lectures).toBeGreaterThan(100);
  });

  it("gives the README's table and plot series from reports of several sizes", () => {
    const larger = { ...report, pcs: 96 }; // the same figures on twice the PCs: half per 100 PCs
    const rows = markdownTable([larger, report]).split('\n');
    expect(rows).toHaveLength(2 + 2 * POLICY_NAMES.length);
    expect(rows[2]).toMatch(/^\| 48, 2, 3 \| random \| /); // smallest campus first
    const conflicts = seriesPer100Pcs([report, larger], (p) => p.lectureConflicts);
    const random = conflicts.find((s) => s.name === 'random')!;
    expect(random.points.map((p) => p.x)).toEqual([48, 96]);
    expect(random.points[1]!.y).toBeCloseTo(random.points[0]!.y / 2, 0);
    expect(conflicts.find((s) => s.name === 'zanshin')!.points.map((p) => p.y)).toEqual([0, 0]);
  });
});
