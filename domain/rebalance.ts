/**
 * Scheduled rebalancing: which containers to move in one run, and why. Pure: the caller gathers, for each running
 * container, its PC's load and lectures and the placement decision for moving it.
 *   1. Evacuate PCs in a lecture or with one starting within the margin, and PCs their user is at (always worth it).
 *   2. Move containers off overloaded PCs when the best target's cost beats staying by more than the threshold.
 * Never more than `maxMigrations` per run; lecture evacuations first, then the largest gains.
 */
import type { NodeFacts as PlacementFacts, PlacementDecision, PlacementWeights } from './placement';
import { freeTimeTerm, isInUse } from './placement';

export interface RebalanceEntry {
  containerId: string;
  nodeId: string;
  /** The PC's current load and lectures. */
  source: {
    cpu: number;
    memory: number;
    inLectureUntil: Date | null;
    nextLectureAt: Date | null;
    /** Its user at its keyboard (domain/seat.ts); absent or null: not in use. */
    inUse?: PlacementFacts['inUse'];
  };
  /** Where the container would go now (its source excluded). */
  decision: PlacementDecision;
}

export interface RebalanceOptions {
  weights: PlacementWeights;
  lectureMarginMs: number;
  /** A PC whose C + M exceeds this is overloaded. @default 1.5 */
  overloadThreshold: number;
  /** Move off an overloaded PC only when staying costs more than the best target by this much. @default 0.3 */
  gainThreshold: number;
  maxMigrations: number;
  now: Date;
}

export interface PlannedMove {
  containerId: string;
  from: string;
  to: string;
  reason: string;
  gain: number | null;
}

export interface RebalancePlan {
  moves: PlannedMove[];
  /** Containers that should move but cannot (no target) or wait for a later run (the cap). */
  skipped: { containerId: string; reason: string }[];
}

/**
 * Whether a container on a PC in this state could be moved by a run: its PC is in a lecture, has one starting within
 * the margin, or is overloaded. Others are not asked about at all (a 1,000-PC run asks placement only for these).
 */
export function mayMoveFrom(
  s: RebalanceEntry['source'],
  o: Pick<RebalanceOptions, 'lectureMarginMs' | 'overloadThreshold' | 'now'>,
): boolean {
  const inLecture = s.inLectureUntil !== null && s.inLectureUntil > o.now;
  const lectureSoon = s.nextLectureAt !== null && s.nextLectureAt.getTime() - o.now.getTime() < o.lectureMarginMs;
  return inLecture || lectureSoon || isInUse(s, o.now) || s.cpu + s.memory > o.overloadThreshold;
}

export function planRebalance(entries: RebalanceEntry[], o: RebalanceOptions): RebalancePlan {
  const lecture: PlannedMove[] = [];
  const load: PlannedMove[] = [];
  const skipped: RebalancePlan['skipped'] = [];
  const { k, l, m } = o.weights;
  for (const e of entries) {
    const s = e.source;
    const inLecture = s.inLectureUntil !== null && s.inLectureUntil > o.now;
    const lectureSoon =
      !inLecture && s.nextLectureAt !== null && s.nextLectureAt.getTime() - o.now.getTime() < o.lectureMarginMs;
    const to = e.decision.chosen;
    // A container the login's evacuation did not move (its deadline passed, no target then) leaves at the next run.
    const inUse = isInUse(s, o.now);
    if (inLecture || lectureSoon || inUse) {
      const why = inLecture
        ? `${e.nodeId} is in a lecture`
        : inUse
          ? `${e.nodeId} is in use by ${s.inUse?.by ?? 'its user'}`
          : `a lecture starts on ${e.nodeId} at ${s.nextLectureAt!.toISOString()}`;
      if (to) lecture.push({ containerId: e.containerId, from: e.nodeId, to, reason: why, gain: null });
      else skipped.push({ containerId: e.containerId, reason: `${why}, but ${e.decision.explanation}` });
      continue;
    }
    if (s.cpu + s.memory <= o.overloadThreshold || !to) continue;
    // Staying costs the source's load, with the remnant terms at their best (it holds the live bundle and state).
    const stay = k * (s.cpu + s.memory) - l * 2 - m * freeTimeTerm(s, o.now);
    const best = e.decision.candidates.find((c) => c.nodeId === to)!.cost!;
    const gain = Math.round((stay - best) * 10_000) / 10_000;
    if (gain > o.gainThreshold)
      load.push({
        containerId: e.containerId,
        from: e.nodeId,
        to,
        reason: `${e.nodeId} is overloaded (C+M = ${(s.cpu + s.memory).toFixed(2)})`,
        gain,
      });
  }
  load.sort((a, b) => b.gain! - a.gain! || a.containerId.localeCompare(b.containerId));
  const all = [...lecture.sort((a, b) => a.containerId.localeCompare(b.containerId)), ...load];
  for (const p of all.slice(o.maxMigrations))
    skipped.push({
      containerId: p.containerId,
      reason: `over this run's limit of ${o.maxMigrations} migrations (${p.reason})`,
    });
  return { moves: all.slice(0, o.maxMigrations), skipped };
}
