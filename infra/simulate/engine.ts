// One policy through one semester, minute by minute on a simulated clock, driving the real domain code: placement
// (domain/placement.ts, through the policy), the lecture-driven evacuation (domain/lecture-evacuation.ts), the
// rebalancing decisions (domain/rebalance.ts), the timetable's "when is this PC needed" (domain/timetable.ts) and
// the move-cost model fitted to this project's measurements (domain/move-cost.ts).
import { seededRandom } from '../../common/seeded-random';
import { planLectureEvacuations } from '../../domain/lecture-evacuation';
import type { PcInUse } from '../../domain/lecture-evacuation';
import { downtimeSeconds, moveSeconds } from '../../domain/move-cost';
import { DEFAULT_POLICY, verdictFor } from '../../domain/placement';
import type { NodeFacts, PlacementRequest } from '../../domain/placement';
import { planRebalance } from '../../domain/rebalance';
import type { RebalanceEntry } from '../../domain/rebalance';
import { nodeNeed } from '../../domain/timetable';
import type { LectureOccurrence, NodeNeed } from '../../domain/timetable';
import type { Campus, SimPc } from './campus';
import type { Policy } from './policies';
import type { Arrival, Workload } from './workload';

const MINUTE = 60_000;
const PAGE = 4096;
/** A first move also sends the rootfs (the demo's images are 30-200 MB). */
const ROOTFS_BYTES = 100 * 2 ** 20;
/** Production defaults: safety checkpoints every 10 min, remnants kept 24 h, rebalancing every 5 min (3 moves). */
const SAFETY_EVERY_MS = 10 * MINUTE;
const REMNANT_RETENTION_MS = 24 * 60 * MINUTE;
const REBALANCE_EVERY_MS = 5 * MINUTE;
const REBALANCE_MAX_MOVES = 3;
const LECTURE_MARGIN_MS = 15 * MINUTE;
/** Costs for rebalancing's gains: our formula, no lecture margin (planRebalance applies its own). */
const REBALANCE_POLICY = { ...DEFAULT_POLICY, lectureMarginMs: 0 };
/** Evacuations look this far ahead (a longer lead than this would take hours of moves). */
const EVACUATION_HORIZON_MS = 2 * 60 * MINUTE;
/** Migrations at once from one PC. */
const LANES = 2;

export interface SimulationSettings {
  /** Chance that a PC whose lecture starts is switched off or restarted then (for 2 min). @default 0.25 */
  lectureRebootChance: number;
  seed: number;
}

export interface PolicyOutcome {
  description: string;
  migrations: number;
  bytesMoved: number;
  /** Share of migrations onto a PC that held a remnant of the container. */
  remnantHitRate: number;
  /** A container on a PC when a lecture started there (once per container and lecture). */
  lectureConflicts: number;
  /** Work since the last safety checkpoint, lost by containers whose PC went off, summed. */
  workLostSeconds: number;
  /** Downtime of the migrations, summed (the container is frozen). */
  frozenSeconds: number;
  recoveries: number;
  /** Moves whose target went off before they ended (the container stayed where it was). */
  failedMoves: number;
  movesByReason: { lecture: number; rebalance: number };
  /** Container-seconds spent waiting for a PC (after a power-off, or at start when none could take it). */
  waitingSeconds: number;
  safetyCheckpointBytes: number;
}

interface Load {
  cpu: number;
  memory: number;
  usedBytes: number;
}

interface Move {
  from: string;
  to: string;
  doneAt: number;
  remnant: boolean;
  bytes: number;
  frozenS: number;
}

interface Ctr {
  a: Arrival;
  /** The PC it runs on; null while it waits for one. */
  node: string | null;
  requiredFlags: string[];
  lastCheckpointAt: number;
  /** PCs holding a copy (a remnant it left, or its safety checkpoint), with when the copy was made. */
  copies: Map<string, number>;
  /** Where its safety checkpoints go. */
  safetyHolder: string | null;
  moving: Move | null;
  waitingSince: number | null;
}

interface Pc {
  pc: SimPc;
  index: number;
  offUntil: number;
  offSince: number;
  containers: Set<Ctr>;
  /** Memory held for moves on their way here. */
  incomingBytes: number;
  lanes: number[];
}

/**
 * Memory a container changes in `ms`: its page writes, up to its write set (programs rewrite a hot part of their
 * memory: 20,000 random SETs on a 300 MiB redis changed 3 % of its pages, infra/experiments/uffd-wp).
 */
const WRITE_SET_SHARE = 0.25;
function changedBytes(a: Arrival, ms: number): number {
  return Math.min(a.memoryBytes * WRITE_SET_SHARE, a.dirtyPagesPerSec * PAGE * (ms / 1000));
}

/** A room's lectures seen from a moving clock: the one now (if any) and the next. */
class RoomClock {
  private i = 0;
  constructor(private readonly lectures: LectureOccurrence[]) {}
  /** Lectures not ended at `t`, the first two (enough for "now" and "next"). */
  around(t: number): LectureOccurrence[] {
    while (this.i < this.lectures.length && this.lectures[this.i]!.endsAt.getTime() <= t) this.i++;
    return this.lectures.slice(this.i, this.i + 2);
  }
  /** A lecture that started in (t - step, t]. */
  startedWithin(t: number, stepMs: number): LectureOccurrence | undefined {
    return this.around(t).find((l) => l.startsAt.getTime() <= t && l.startsAt.getTime() > t - stepMs);
  }
}

export function simulatePolicy(
  campus: Campus,
  workload: Workload,
  policy: Policy,
  s: SimulationSettings,
): PolicyOutcome {
  const rnd = seededRandom(s.seed ^ 0x9e3779b9);
  const pcs = new Map<string, Pc>(
    campus.pcs.map((pc, index) => [
      pc.id,
      { pc, index, offUntil: 0, offSince: 0, containers: new Set(), incomingBytes: 0, lanes: new Array(LANES).fill(0) },
    ]),
  );
  const rooms = new Map([...campus.lecturesByRoom].map(([room, ls]) => [room, new RoomClock(ls)]));
  const out: PolicyOutcome = {
    description: policy.description,
    migrations: 0,
    bytesMoved: 0,
    remnantHitRate: 0,
    lectureConflicts: 0,
    workLostSeconds: 0,
    frozenSeconds: 0,
    recoveries: 0,
    failedMoves: 0,
    movesByReason: { lecture: 0, rebalance: 0 },
    waitingSeconds: 0,
    safetyCheckpointBytes: 0,
  };
  let remnantHits = 0;
  const running = new Set<Ctr>();
  const waiting = new Set<Ctr>();
  let t = campus.termStart.getTime();
  const isOn = (p: Pc) => p.offUntil <= t;
  const needs = new Map<string, NodeNeed>();
  const needOf = (p: Pc) => needs.get(p.pc.room)!;

  // Loads change only with lectures (every step) and a PC's containers: computed once per step and PC.
  const loads = new Map<Pc, Load>();
  const changed = (p: Pc) => loads.delete(p);
  const loadOf = (p: Pc): Load => {
    let load = loads.get(p);
    if (!load) loads.set(p, (load = computeLoad(p)));
    return load;
  };
  const computeLoad = (p: Pc): Load => {
    const need = needOf(p);
    const inLecture = need.inLectureUntil !== null;
    let cpu = inLecture ? 0.5 : 0.05;
    let usedBytes = p.pc.memoryBytes * (inLecture ? 0.35 : 0.15) + p.incomingBytes;
    for (const c of p.containers) {
      cpu += c.a.cpuCores / p.pc.cores;
      usedBytes += c.a.memoryBytes;
    }
    return { cpu: Math.min(1, cpu), memory: Math.min(1, usedBytes / p.pc.memoryBytes), usedBytes };
  };
  const hasCopy = (c: Ctr, node: string) => {
    const at = c.copies.get(node);
    return at !== undefined && t - at < REMNANT_RETENTION_MS;
  };
  // A PC's facts change with the step and its load: made once for both, shared by every decision meanwhile (a
  // 1,000-PC decision would otherwise build 1,000 of them); only a container's own copies differ (generationsHeld).
  const factCache = new Map<Pc, { t: number; load: Load; facts: NodeFacts }>();
  const factsOf = (p: Pc): NodeFacts => {
    const load = loadOf(p);
    const known = factCache.get(p);
    if (known && known.t === t && known.load === load) return known.facts;
    const facts: NodeFacts = {
      nodeId: p.pc.id,
      lastReportAt: new Date(isOn(p) ? t : p.offSince),
      cpu: load.cpu,
      memory: load.memory,
      memoryAvailableBytes: p.pc.memoryBytes - load.usedBytes,
      cpuFlags: p.pc.cpuFlags,
      ...needOf(p),
      generationsHeld: 0,
      hasBundle: false,
    };
    factCache.set(p, { t, load, facts });
    return facts;
  };
  const facts = (c: Ctr | null): NodeFacts[] => {
    const out: NodeFacts[] = [];
    for (const p of pcs.values()) {
      const held = c !== null && c.copies.size > 0 && hasCopy(c, p.pc.id);
      out.push(held ? { ...factsOf(p), generationsHeld: 1, hasBundle: true } : factsOf(p));
    }
    return out;
  };
  const request = (c: Ctr, exclude: string[] = []): PlacementRequest => ({
    containerId: c.a.id,
    sourceNode: c.node,
    memoryNeededBytes: c.a.memoryBytes,
    totalGenerations: 1,
    requiredCpuFlags: c.requiredFlags,
    now: new Date(t),
    exclude: exclude.map((nodeId) => ({ nodeId, reason: 'its copy is unreachable' })),
  });

  const startMove = (c: Ctr, to: string, reason: keyof PolicyOutcome['movesByReason']) => {
    const from = pcs.get(c.node!)!;
    const target = pcs.get(to)!;
    const remnant = hasCopy(c, to);
    const lane = from.lanes.indexOf(Math.min(...from.lanes));
    const start = Math.max(t, from.lanes[lane]!);
    const input = { memoryBytes: c.a.memoryBytes, remnant };
    const doneAt = start + Math.round(moveSeconds(input) * 1000);
    from.lanes[lane] = doneAt;
    const bytes = remnant ? changedBytes(c.a, t - c.copies.get(to)!) + 2 ** 20 : c.a.memoryBytes + ROOTFS_BYTES;
    c.moving = { from: from.pc.id, to, doneAt, remnant, bytes, frozenS: downtimeSeconds(input) };
    target.incomingBytes += c.a.memoryBytes;
    changed(target);
    out.movesByReason[reason]++;
  };
  const endMove = (c: Ctr, completed: boolean) => {
    const m = c.moving!;
    c.moving = null;
    const target = pcs.get(m.to)!;
    target.incomingBytes -= c.a.memoryBytes;
    changed(target);
    if (!completed) return;
    pcs.get(m.from)!.containers.delete(c);
    changed(pcs.get(m.from)!);
    target.containers.add(c);
    c.node = m.to;
    c.copies.set(m.from, t);
    c.copies.delete(m.to);
    out.migrations++;
    out.bytesMoved += m.bytes;
    out.frozenSeconds += m.frozenS;
    if (m.remnant) remnantHits++;
  };
  const place = (c: Ctr): boolean => {
    const exclude = [...c.copies.keys()].filter((n) => !isOn(pcs.get(n)!));
    const to = policy.choose(request(c, exclude), facts(c), rnd);
    if (!to) return false;
    const p = pcs.get(to)!;
    if (c.requiredFlags.length === 0) c.requiredFlags = p.pc.cpuFlags;
    p.containers.add(c);
    changed(p);
    c.node = to;
    c.copies.delete(to);
    return true;
  };
  const powerOff = (p: Pc, forMs: number) => {
    if (!isOn(p)) return;
    p.offUntil = t + forMs;
    p.offSince = t;
    for (const c of p.containers) {
      if (c.moving) endMove(c, false);
      out.workLostSeconds += (t - c.lastCheckpointAt) / 1000;
      out.recoveries++;
      c.node = null;
      c.waitingSince = t;
      running.delete(c);
      waiting.add(c);
    }
    p.containers.clear();
    changed(p);
    // Moves on their way here fail: the container stays on its source.
    for (const c of running)
      if (c.moving?.to === p.pc.id) {
        endMove(c, false);
        out.failedMoves++;
      }
  };

  let nextArrival = 0;
  let nextPowerOff = 0;
  const end = campus.termEnd.getTime();
  for (; t <= end; t += MINUTE) {
    for (const [room, clock] of rooms) needs.set(room, nodeNeed(clock.around(t), new Date(t)));
    loads.clear();
    // Lectures that start now: what is still on their PCs is caught; some PCs are switched off or restarted.
    const startedNow = new Set([...rooms].filter(([, clock]) => clock.startedWithin(t, MINUTE)).map(([r]) => r));
    for (const p of pcs.values()) {
      if (!startedNow.has(p.pc.room) || !isOn(p)) continue;
      out.lectureConflicts += p.containers.size;
      if (seededRandom(s.seed ^ Math.imul(p.index + 1, 2654435761) ^ (t / MINUTE))() < s.lectureRebootChance)
        powerOff(p, 2 * MINUTE);
    }
    while (nextPowerOff < workload.powerOffs.length && workload.powerOffs[nextPowerOff]!.at <= t) {
      const off = workload.powerOffs[nextPowerOff++]!;
      powerOff(pcs.get(campus.pcs[off.pc]!.id)!, off.forMs);
    }
    for (const c of running) {
      if (c.moving && c.moving.doneAt <= t) endMove(c, true);
      if (c.a.endsAt <= t) {
        if (c.moving) endMove(c, false);
        pcs.get(c.node!)!.containers.delete(c);
        changed(pcs.get(c.node!)!);
        running.delete(c);
      }
    }
    for (const c of waiting)
      if (c.a.endsAt <= t) {
        out.waitingSeconds += (t - c.waitingSince!) / 1000;
        waiting.delete(c);
      }
    while (nextArrival < workload.arrivals.length && workload.arrivals[nextArrival]!.at <= t) {
      const a = workload.arrivals[nextArrival++]!;
      const c: Ctr = {
        a,
        node: null,
        requiredFlags: [],
        lastCheckpointAt: a.at,
        copies: new Map(),
        safetyHolder: null,
        moving: null,
        waitingSince: a.at,
      };
      waiting.add(c);
    }
    // Containers waiting for a PC: new ones, and those whose PC went off (restored from their safety checkpoint,
    // which must be reachable: a copy on a PC that is off waits for it).
    for (const c of waiting) {
      const recovering = c.copies.size > 0 || c.requiredFlags.length > 0;
      const reachable = !recovering || [...c.copies.keys()].some((n) => isOn(pcs.get(n)!));
      if (!reachable || !place(c)) continue;
      if (recovering) {
        const holder = c.node!;
        out.bytesMoved += hasCopy(c, holder) ? 0 : c.a.memoryBytes + ROOTFS_BYTES;
      }
      out.waitingSeconds += (t - c.waitingSince!) / 1000;
      c.waitingSince = null;
      c.lastCheckpointAt = t;
      waiting.delete(c);
      running.add(c);
    }
    if (policy.lectureEvacuation) {
      const horizon = t + EVACUATION_HORIZON_MS;
      const inUse: PcInUse[] = [];
      for (const p of pcs.values()) {
        if (!isOn(p) || p.containers.size === 0) continue;
        const need = needOf(p);
        if (!need.inLectureUntil && !(need.nextLectureAt && need.nextLectureAt.getTime() <= horizon)) continue;
        const lectures = rooms.get(p.pc.room)!.around(t);
        const staying = [...p.containers].filter((c) => !c.moving);
        if (staying.length)
          inUse.push({
            nodeId: p.pc.id,
            lectures,
            containers: staying.map((c) => ({ id: c.a.id, memoryBytes: c.a.memoryBytes })),
          });
      }
      const plan = planLectureEvacuations(inUse, { now: new Date(t) });
      for (const due of plan.due)
        for (const id of due.containers) {
          const c = [...pcs.get(due.nodeId)!.containers].find((x) => x.a.id === id)!;
          const to = policy.choose(request(c), facts(c), rnd);
          if (to) startMove(c, to, 'lecture');
        }
    }
    if ((t - campus.termStart.getTime()) % REBALANCE_EVERY_MS === 0) {
      // The rebalancer asks placement only for containers it could move: on a PC in or near a lecture, or overloaded.
      // Lecture moves are taken by container id up to the cap: those past it are not asked (1,000 PCs cost minutes).
      const entries: RebalanceEntry[] = [];
      const nearLecture: { c: Ctr; p: Pc }[] = [];
      const entryOf = (c: Ctr, p: Pc): RebalanceEntry => {
        const candidates = facts(c);
        const req = request(c);
        const chosen = policy.choose(req, candidates, rnd);
        // planRebalance weighs a move's gain with the chosen PC's cost by our formula, whoever chose it.
        const target = chosen === null ? null : candidates.find((n) => n.nodeId === chosen)!;
        return {
          containerId: c.a.id,
          nodeId: p.pc.id,
          source: { cpu: loadOf(p).cpu, memory: loadOf(p).memory, ...needOf(p) },
          decision: {
            containerId: c.a.id,
            chosen,
            policy: REBALANCE_POLICY,
            candidates: target ? [verdictFor(req, target, REBALANCE_POLICY)] : [],
            explanation: chosen ? `${chosen} chosen by ${policy.name}` : `no PC can take ${c.a.id}`,
          },
        };
      };
      for (const p of pcs.values()) {
        if (!isOn(p) || p.containers.size === 0) continue;
        const need = needOf(p);
        const load = loadOf(p);
        const near =
          need.inLectureUntil !== null ||
          (need.nextLectureAt !== null && need.nextLectureAt.getTime() - t < LECTURE_MARGIN_MS);
        if (!near && load.cpu + load.memory <= 1.5) continue;
        for (const c of p.containers) {
          if (c.moving) continue;
          if (near) nearLecture.push({ c, p });
          else entries.push(entryOf(c, p));
        }
      }
      nearLecture.sort((x, y) => x.c.a.id.localeCompare(y.c.a.id));
      let withTarget = 0;
      for (const { c, p } of nearLecture) {
        if (withTarget >= REBALANCE_MAX_MOVES) break;
        const entry = entryOf(c, p);
        if (entry.decision.chosen) withTarget++;
        entries.push(entry);
      }
      const plan = planRebalance(entries, {
        weights: DEFAULT_POLICY.weights,
        lectureMarginMs: LECTURE_MARGIN_MS,
        overloadThreshold: 1.5,
        gainThreshold: 0.3,
        maxMigrations: REBALANCE_MAX_MOVES,
        now: new Date(t),
      });
      for (const mv of plan.moves) {
        const c = [...pcs.get(mv.from)!.containers].find((x) => x.a.id === mv.containerId)!;
        startMove(c, mv.to, 'rebalance');
      }
    }
    if ((t - campus.termStart.getTime()) % SAFETY_EVERY_MS === 0)
      for (const c of running) {
        if (c.moving) continue;
        if (!c.safetyHolder || c.safetyHolder === c.node || !isOn(pcs.get(c.safetyHolder)!)) {
          c.safetyHolder = policy.choose(request(c), facts(c), rnd);
          if (c.safetyHolder) out.safetyCheckpointBytes += c.a.memoryBytes;
        } else out.safetyCheckpointBytes += changedBytes(c.a, t - c.lastCheckpointAt);
        c.lastCheckpointAt = t;
        if (c.safetyHolder) c.copies.set(c.safetyHolder, t);
      }
  }
  out.remnantHitRate = out.migrations ? Math.round((remnantHits / out.migrations) * 1000) / 1000 : 0;
  out.workLostSeconds = Math.round(out.workLostSeconds);
  out.frozenSeconds = Math.round(out.frozenSeconds);
  out.waitingSeconds = Math.round(out.waitingSeconds);
  return out;
}
