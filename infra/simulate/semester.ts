// A semester for every policy on one seed: the campus and the workload are drawn once, then each policy lives
// through them (engine.ts).
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { forEachBounded } from '../../common/bounded';
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

type Outcome = PolicyOutcome & { simulatedInSeconds: number };

/** The campus and workload of a seed: drawn the same wherever they are drawn (each worker thread draws its own). */
function drawSemester(o: { pcs: number; weeks: number; seed: number }) {
  const rnd = seededRandom(o.seed);
  const campus = generateCampus({ pcs: o.pcs, weeks: o.weeks, rnd });
  const workload = generateWorkload(campus, SIM_DEFAULTS, rnd);
  return { campus, workload };
}

function runPolicy(seed: number, { campus, workload }: ReturnType<typeof drawSemester>, name: PolicyName): Outcome {
  const t0 = Date.now();
  const outcome = simulatePolicy(campus, workload, POLICIES[name], { seed, ...SIM_DEFAULTS });
  return { ...outcome, simulatedInSeconds: Math.round((Date.now() - t0) / 100) / 10 };
}

/** One policy through the semester of a seed. */
export function simulateOnePolicy(o: { pcs: number; weeks: number; seed: number }, name: PolicyName): Outcome {
  return runPolicy(o.seed, drawSemester(o), name);
}

function reportOf(
  o: { pcs: number; weeks: number; seed: number },
  { campus, workload }: ReturnType<typeof drawSemester>,
  policies: SemesterReport['policies'],
): SemesterReport {
  const cpuModels: Record<string, number> = {};
  for (const pc of campus.pcs) cpuModels[pc.cpuModel] = (cpuModels[pc.cpuModel] ?? 0) + 1;
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

/** Every policy, one after another, in this thread. */
export function simulateSemester(
  o: { pcs: number; weeks: number; seed: number },
  log: (line: string) => void = () => {},
): SemesterReport {
  const drawn = drawSemester(o);
  const policies = {} as SemesterReport['policies'];
  for (const name of POLICY_NAMES) {
    log(`simulating ${name} (${o.pcs} PCs, ${o.weeks} weeks, ${drawn.workload.arrivals.length} containers) ...`);
    policies[name] = runPolicy(o.seed, drawn, name);
  }
  return reportOf(o, drawn, policies);
}

/**
 * Every policy, each in a worker thread of its own (policy-worker.js), as many at once as the machine has cores:
 * the same report as simulateSemester (each thread draws the same semester from the seed), in a fraction of the time.
 */
export async function simulateSemesterInThreads(
  o: { pcs: number; weeks: number; seed: number },
  log: (line: string) => void = () => {},
  threads = availableParallelism(),
): Promise<SemesterReport> {
  const drawn = drawSemester(o);
  const policies = {} as SemesterReport['policies'];
  const worker = path.join(__dirname, 'policy-worker.js');
  await forEachBounded([...POLICY_NAMES], threads, async (name) => {
    log(`simulating ${name} (${o.pcs} PCs, ${o.weeks} weeks, ${drawn.workload.arrivals.length} containers) ...`);
    policies[name] = await new Promise<Outcome>((resolve, reject) => {
      const w = new Worker(worker, { workerData: { o, name } });
      w.once('message', resolve);
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`the simulation of ${name} ended (exit ${code}) without a result`)));
    });
    log(`${name}: done in ${policies[name].simulatedInSeconds} s`);
  });
  // In the order of POLICY_NAMES, whichever thread finished first.
  return reportOf(
    o,
    drawn,
    Object.fromEntries(POLICY_NAMES.map((n) => [n, policies[n]])) as SemesterReport['policies'],
  );
}
