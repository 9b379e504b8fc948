// A semester for every policy on one seed: the campus and the workload are drawn once, then each policy lives
// through them (engine.ts).
import { seededRandom } from '../../common/seeded-random';
import { generateCampus } from './campus';
import { simulatePolicy } from './engine';
import type { PolicyOutcome } from './engine';
import { POLICIES, POLICY_NAMES } from './policies';
import type { PolicyName } from './policies';
import { CONTAINER_KINDS, generateWorkload } from './workload';

export const SIM_DEFAULTS = { containersPerPc: 0.5, powerOffsPerPcWeek: 1, lectureRebootChance: 0.25 };

export interface SemesterReport {
  pcs: number;
  weeks: number;
  seed: number;
  settings: typeof SIM_DEFAULTS;
  campus: {
    rooms: number;
    lectures: number;
    meanLectureMinutesPerPcDay: number;
    cpuModels: Record<string, number>;
  };
  workload: { containers: number; powerOffs: number; kinds: typeof CONTAINER_KINDS; medianLifetimeHours: number };
  policies: Record<PolicyName, PolicyOutcome & { simulatedInSeconds: number }>;
}

export function simulateSemester(
  o: { pcs: number; weeks: number; seed: number },
  log: (line: string) => void = () => {},
): SemesterReport {
  const rnd = seededRandom(o.seed);
  const campus = generateCampus({ pcs: o.pcs, weeks: o.weeks, rnd });
  const workload = generateWorkload(campus, SIM_DEFAULTS, rnd);
  const cpuModels: Record<string, number> = {};
  for (const pc of campus.pcs) cpuModels[pc.cpuModel] = (cpuModels[pc.cpuModel] ?? 0) + 1;
  const policies = {} as SemesterReport['policies'];
  for (const name of POLICY_NAMES) {
    const t0 = Date.now();
    log(`simulating ${name} (${o.pcs} PCs, ${o.weeks} weeks, ${workload.arrivals.length} containers) ...`);
    const outcome = simulatePolicy(campus, workload, POLICIES[name], { seed: o.seed, ...SIM_DEFAULTS });
    policies[name] = { ...outcome, simulatedInSeconds: Math.round((Date.now() - t0) / 100) / 10 };
  }
  return {
    pcs: o.pcs,
    weeks: o.weeks,
    seed: o.seed,
    settings: SIM_DEFAULTS,
    campus: {
      rooms: campus.rooms.length,
      lectures: campus.lectures,
      meanLectureMinutesPerPcDay: campus.meanLectureMinutesPerPcDay,
      cpuModels,
    },
    workload: {
      containers: workload.arrivals.length,
      powerOffs: workload.powerOffs.length,
      kinds: CONTAINER_KINDS,
      medianLifetimeHours: workload.medianLifetimeHours,
    },
    policies,
  };
}
