/**
 * Lectures drive evacuation: each PC's containers leave before its next lecture starts. The lead time is what
 * moving them all takes (domain/move-cost.ts, `parallel` at a time, the largest first), plus a safety margin, plus
 * one planning interval (the planner runs every minute; an evacuation due between two runs starts at the earlier).
 * A container still on a PC when its lecture has started is a lecture conflict. Pure: the lecture-evacuation
 * workflow's activity and the simulator run this same code.
 */
import { moveSeconds } from './move-cost';

export interface PcInUse {
  nodeId: string;
  /** Its rooms' lectures that have not ended (any order). */
  lectures: { startsAt: Date; endsAt: Date }[];
  containers: { id: string; memoryBytes: number }[];
}

export interface LectureEvacuationOptions {
  now: Date;
  /** Migrations at the same time in one PC's evacuation. @default 2 */
  parallel?: number;
  /** How often the planner runs. @default 60 s */
  intervalMs?: number;
  /** Added to the estimated time (a retry, a slow target). @default 120 s */
  safetyMs?: number;
  linkBytesPerSecond?: number;
}

export interface DueEvacuation {
  nodeId: string;
  lectureAt: Date;
  /** How long before the lecture it had to start. */
  leadMs: number;
  /** Until the lecture starts (no migration starts after it); at least a minute for a PC already in one. */
  deadlineSeconds: number;
  reason: string;
  containers: string[];
}

export interface LectureConflict {
  nodeId: string;
  containerId: string;
  /** Start of the lecture it was caught in. */
  lectureAt: Date;
}

export interface LectureEvacuationPlan {
  due: DueEvacuation[];
  conflicts: LectureConflict[];
}

/** Time for `parallel` lanes to move these containers, the largest first onto the least busy lane (first moves). */
export function evacuationSeconds(memoryBytes: number[], parallel: number, linkBytesPerSecond?: number): number {
  const lanes = new Array<number>(Math.max(1, parallel)).fill(0);
  for (const bytes of [...memoryBytes].sort((a, b) => b - a)) {
    const i = lanes.indexOf(Math.min(...lanes));
    lanes[i] =
      lanes[i]! +
      moveSeconds({ memoryBytes: bytes, remnant: false, ...(linkBytesPerSecond ? { linkBytesPerSecond } : {}) });
  }
  return Math.max(...lanes);
}

export function planLectureEvacuations(pcs: PcInUse[], o: LectureEvacuationOptions): LectureEvacuationPlan {
  const now = o.now.getTime();
  const parallel = o.parallel ?? 2;
  const intervalMs = o.intervalMs ?? 60_000;
  const safetyMs = o.safetyMs ?? 120_000;
  const due: DueEvacuation[] = [];
  const conflicts: LectureConflict[] = [];
  for (const pc of pcs) {
    if (pc.containers.length === 0) continue;
    const current = pc.lectures
      .filter((l) => l.startsAt.getTime() <= now && l.endsAt.getTime() > now)
      .sort((a, b) => a.startsAt.getTime() - b.startsAt.getTime())[0];
    const next = pc.lectures
      .filter((l) => l.startsAt.getTime() > now)
      .sort((a, b) => a.startsAt.getTime() - b.startsAt.getTime())[0];
    const ids = pc.containers.map((c) => c.id);
    const leadMs =
      Math.ceil(
        evacuationSeconds(
          pc.containers.map((c) => c.memoryBytes),
          parallel,
          o.linkBytesPerSecond,
        ) * 1000,
      ) +
      safetyMs +
      intervalMs;
    if (current) {
      for (const id of ids) conflicts.push({ nodeId: pc.nodeId, containerId: id, lectureAt: current.startsAt });
      due.push({
        nodeId: pc.nodeId,
        lectureAt: current.startsAt,
        leadMs,
        deadlineSeconds: Math.max(60, Math.floor((current.endsAt.getTime() - now) / 1000)),
        reason: `${pc.nodeId} is in a lecture since ${current.startsAt.toISOString()}`,
        containers: ids,
      });
    } else if (next && next.startsAt.getTime() - now <= leadMs) {
      due.push({
        nodeId: pc.nodeId,
        lectureAt: next.startsAt,
        leadMs,
        deadlineSeconds: Math.max(1, Math.floor((next.startsAt.getTime() - now) / 1000)),
        reason: `a lecture starts on ${pc.nodeId} at ${next.startsAt.toISOString()} (moving its ${ids.length} container(s) takes ~${Math.round(leadMs / 1000)} s with the margins)`,
        containers: ids,
      });
    }
  }
  return { due, conflicts };
}
