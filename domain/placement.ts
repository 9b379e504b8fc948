/**
 * Target selection (paper, formula 1, with our sign decision; see mission.md):
 *   cost = k(C + M) - l(P + B) - mL      lowest cost wins
 * C, M: CPU and memory utilisation of the node; P: share of the container's checkpoint generations the node
 * holds; B: 1 if it holds the container's bundle; L: time until the node's next lecture, scaled to [0, 1]
 * (1 = none within 24 h, 0 = in use). Nodes that cannot take the container are excluded with the reason.
 * A container's first start goes, before cost, to the PCs whose CPU the most PCs can follow: a process started on a
 * newer CPU can never move to one lacking its instructions (the campus simulator found them caught by lectures).
 * Pure: no I/O, no clock (the caller passes `now`).
 */

export interface PlacementWeights {
  /** Weight of load (C + M). @default 1 */
  k: number;
  /** Weight of remnants (P + B). @default 0.5 */
  l: number;
  /** Weight of free time before the next lecture (L). @default 0.5 */
  m: number;
}

export interface PlacementPolicy {
  weights: PlacementWeights;
  /** A node whose last report is older than this is offline. @default 30 s (three missed reports) */
  offlineAfterMs: number;
  /** A node whose lecture starts within this margin is never chosen. @default 15 min */
  lectureMarginMs: number;
}

/**
 * Defaults: a remnant (P + B up to 2) is worth as much as one unit of load at l = 0.5, so a remnant holder wins
 * when loads are similar, and a node near saturation (C + M close to 2) loses to an idle one.
 */
export const DEFAULT_POLICY: PlacementPolicy = {
  weights: { k: 1, l: 0.5, m: 0.5 },
  offlineAfterMs: 30_000,
  lectureMarginMs: 15 * 60_000,
};

export interface NodeFacts {
  nodeId: string;
  lastReportAt: Date | null;
  cpu: number;
  memory: number;
  memoryAvailableBytes: number;
  cpuFlags: string[];
  /** Current lecture's end, if the node is in one now. */
  inLectureUntil: Date | null;
  /** Start of the next lecture (after now), if any is known. */
  nextLectureAt: Date | null;
  /**
   * Its user at its own keyboard (domain/seat.ts): in use like a lecture, until `until` (the idle time after the
   * last logout; null while a session is open). Absent: not in use.
   */
  inUse?: { by: string | null; until: Date | null } | null;
  /** Generations of this container the node holds. */
  generationsHeld: number;
  hasBundle: boolean;
}

export interface PlacementRequest {
  containerId: string;
  /** Where the container runs now (never a candidate). */
  sourceNode: string | null;
  memoryNeededBytes: number;
  /** All checkpoint generations the container has had (P's denominator). */
  totalGenerations: number;
  /** CPU features of the source's CPU: a restored process that meets a missing one dies with SIGILL. */
  requiredCpuFlags: string[];
  now: Date;
  /** Nodes ruled out by the caller, with the reason (e.g. they died during this migration). */
  exclude?: { nodeId: string; reason: string }[];
}

export interface Terms {
  C: number;
  M: number;
  P: number;
  B: number;
  L: number;
}

export interface CandidateVerdict {
  nodeId: string;
  eligible: boolean;
  /** Why the node cannot take the container (empty when eligible). */
  excludedBecause: string[];
  terms: Terms;
  /** k(C+M) - l(P+B) - mL; null when excluded. */
  cost: number | null;
}

export interface PlacementDecision {
  containerId: string;
  chosen: string | null;
  policy: PlacementPolicy;
  /** Eligible nodes by rising cost, then excluded ones. */
  candidates: CandidateVerdict[];
  explanation: string;
}

const DAY_MS = 24 * 3_600_000;

/**
 * CPU flags (as /proc/cpuinfo names them) that are instructions a program may use: a process restored on a CPU
 * without one dies with SIGILL the first time it runs it. Others (virtualisation, power, bug flags) do not matter.
 */
const INSTRUCTION_FLAG =
  /^(avx|sse|ssse|sha|aes|vaes|bmi|fma|f16c|adx|rdrand|rdseed|popcnt|abm|movbe|pclmul|vpclmul|gfni|xsave|xgetbv|clflushopt|clwb|rdpid|movdir|fsrm|erms|serialize|amx|mmx|3dnow|xop|tbm|cx8|cx16|cmov|fxsr|lahf_lm|lm$|pni$|fsgsbase|pku|rtm|hle|clzero|wbnoinvd|rdpru|sm3|sm4)/;

export function instructionFlags(flags: string[]): string[] {
  return flagsOf(flags).instructions;
}

/**
 * A flag list's instruction flags, as a set too and as a sorted key, worked out once per list: placement compares
 * every candidate's list with the source's, and at 1,000 PCs the regular expression and the sets were most of a
 * decision's time (the campus simulator's profile). Lists are never changed once made (a report makes a new one).
 */
const flagLists = new WeakMap<string[], { instructions: string[]; all: Set<string>; key: string }>();
function flagsOf(flags: string[]): { instructions: string[]; all: Set<string>; key: string } {
  let known = flagLists.get(flags);
  if (!known) {
    const instructions = flags.filter((f) => INSTRUCTION_FLAG.test(f));
    known = { instructions, all: new Set(flags), key: [...instructions].sort().join(' ') };
    flagLists.set(flags, known);
  }
  return known;
}

/** The instruction flags of the source's CPU that the target's lacks. */
export function cpuFlagsLacking(source: string[], target: string[]): string[] {
  const has = flagsOf(target).all;
  return flagsOf(source).instructions.filter((f) => !has.has(f));
}

/** Why a CPU cannot take a process from another, or null when it can. */
export function cpuIncompatibility(from: string, source: string[], to: string, target: string[]): string | null {
  const lacking = cpuFlagsLacking(source, target);
  if (!lacking.length) return null;
  const list = `${lacking.slice(0, 8).join(', ')}${lacking.length > 8 ? ` and ${lacking.length - 8} more` : ''}`;
  return `the CPU of ${to} lacks ${list}, which ${from}'s CPU has: a process restored there would die the first time it used one of them`;
}
const round = (x: number): number => Math.round(x * 10_000) / 10_000;

/** Whether a PC's user holds it now: logged in, or logged out less than the idle time ago. */
export function isInUse(f: Pick<NodeFacts, 'inUse'>, now: Date): boolean {
  return !!f.inUse && (f.inUse.until === null || f.inUse.until > now);
}

/** L: 0 while in use, rising linearly to 1 when the next lecture is 24 h or more away (or unknown). */
export function freeTimeTerm(f: Pick<NodeFacts, 'inLectureUntil' | 'nextLectureAt'>, now: Date): number {
  if (f.inLectureUntil && f.inLectureUntil > now) return 0;
  if (!f.nextLectureAt) return 1;
  return round(Math.min(1, Math.max(0, (f.nextLectureAt.getTime() - now.getTime()) / DAY_MS)));
}

const minutes = (ms: number): string => `${Math.round(ms / 60_000)} min`;

/** Ids in the order String#localeCompare gives, with one collator made once (a decision compares thousands). */
const byId = new Intl.Collator().compare;

/** The paper's terms for one node and one container. */
function termsOf(req: PlacementRequest, n: NodeFacts): Terms {
  return {
    C: round(n.cpu),
    M: round(n.memory),
    P: req.totalGenerations > 0 ? round(Math.min(1, n.generationsHeld / req.totalGenerations)) : 0,
    B: n.hasBundle ? 1 : 0,
    L: freeTimeTerm(n, req.now),
  };
}

const costOf = ({ k, l, m }: PlacementWeights, t: Terms): number => round(k * (t.C + t.M) - l * (t.P + t.B) - m * t.L);

/**
 * Why a node cannot take the container: every reason, or with `firstOnly` just whether there is one (the reasons
 * are not even worded: the campus simulator asks a million times).
 */
function exclusions(req: PlacementRequest, n: NodeFacts, policy: PlacementPolicy, firstOnly: boolean): string[] {
  const why: string[] = [];
  const now = req.now.getTime();
  const no = (reason: () => string): boolean => {
    why.push(firstOnly ? '' : reason());
    return firstOnly;
  };
  if (n.nodeId === req.sourceNode && no(() => 'it is the source')) return why;
  for (const x of req.exclude ?? []) if (x.nodeId === n.nodeId && no(() => x.reason)) return why;
  if (!n.lastReportAt) {
    if (no(() => 'it never reported')) return why;
  } else if (now - n.lastReportAt.getTime() > policy.offlineAfterMs) {
    if (no(() => `offline: last report ${Math.round((now - n.lastReportAt!.getTime()) / 1000)} s ago`)) return why;
  }
  if (isInUse(n, req.now)) {
    const u = n.inUse!;
    if (
      no(() =>
        u.until
          ? `in use: ${u.by ?? 'its user'} logged out, offered again at ${u.until.toISOString()}`
          : `in use: ${u.by ?? 'its user'} is logged in at it`,
      )
    )
      return why;
  }
  if (n.inLectureUntil && n.inLectureUntil.getTime() > now) {
    if (no(() => `in a lecture until ${n.inLectureUntil!.toISOString()}`)) return why;
  } else if (n.nextLectureAt && n.nextLectureAt.getTime() - now < policy.lectureMarginMs) {
    const soon = n.nextLectureAt.getTime() - now;
    if (no(() => `a lecture starts in ${minutes(soon)} (margin ${minutes(policy.lectureMarginMs)})`)) return why;
  }
  if (
    n.memoryAvailableBytes < req.memoryNeededBytes &&
    no(
      () =>
        `${(n.memoryAvailableBytes / 2 ** 20).toFixed(0)} MiB free, ${(req.memoryNeededBytes / 2 ** 20).toFixed(0)} MiB needed`,
    )
  )
    return why;
  const lacking = cpuFlagsLacking(req.requiredCpuFlags, n.cpuFlags);
  if (
    lacking.length &&
    no(
      () =>
        `its CPU lacks ${lacking.slice(0, 8).join(', ')}${lacking.length > 8 ? ` and ${lacking.length - 8} more` : ''}`,
    )
  )
    return why;
  return why;
}

/** A candidate the chosen one must beat: (widest reach for a first start), lowest cost, then node id. */
interface Ranked {
  nodeId: string;
  cost: number;
  reach: number;
}
const rankOrder = (a: Ranked, b: Ranked): number => b.reach - a.reach || a.cost - b.cost || byId(a.nodeId, b.nodeId);

export function decidePlacement(
  req: PlacementRequest,
  nodes: NodeFacts[],
  policy: PlacementPolicy = DEFAULT_POLICY,
): PlacementDecision {
  const { k, l, m } = policy.weights;
  const verdicts = nodes.map((n) => verdictFor(req, n, policy));
  // A first start binds the container to its CPU's instructions for good: it starts where the most PCs can follow.
  const reach = firstStart(req) ? reachOfCpus(nodes) : null;
  const reachOf = (v: CandidateVerdict) => (reach ? reach.get(v.nodeId)! : 0);
  const ranked = (v: CandidateVerdict): Ranked => ({ nodeId: v.nodeId, cost: v.cost ?? 0, reach: reachOf(v) });
  // Deterministic: eligible ones ranked (see rankOrder); excluded nodes after, by id.
  verdicts.sort((a, b) => (a.eligible === b.eligible ? rankOrder(ranked(a), ranked(b)) : a.eligible ? -1 : 1));
  const chosen = verdicts[0]?.eligible ? verdicts[0].nodeId : null;
  const narrowed =
    reach && chosen && verdicts.some((v) => v.eligible && reachOf(v) < reachOf(verdicts[0]!))
      ? ` among the PCs whose CPU ${reachOf(verdicts[0]!)} of ${nodes.length} PCs can take a process from (a first start)`
      : '';
  const explanation = chosen
    ? `${chosen} has the lowest cost ${verdicts[0]!.cost} = ${k}(C+M) - ${l}(P+B) - ${m}L with ${JSON.stringify(verdicts[0]!.terms)}${narrowed}`
    : `no node can take ${req.containerId}: ${verdicts.map((v) => `${v.nodeId} (${v.excludedBecause.join('; ')})`).join(', ') || 'no nodes known'}`;
  return { containerId: req.containerId, chosen, policy, candidates: verdicts, explanation };
}

/**
 * The node decidePlacement would choose, and its cost, in one pass without wording or sorting anything: for callers
 * that need only the choice (the campus simulator: ~2 million decisions over a 1,000-PC semester). Null: none can.
 */
export function choosePlacement(
  req: PlacementRequest,
  nodes: NodeFacts[],
  policy: PlacementPolicy = DEFAULT_POLICY,
): { nodeId: string; cost: number } | null {
  const reach = firstStart(req) ? reachOfCpus(nodes) : null;
  let best: Ranked | null = null;
  for (const n of nodes) {
    if (exclusions(req, n, policy, true).length) continue;
    const candidate = {
      nodeId: n.nodeId,
      cost: costOf(policy.weights, termsOf(req, n)),
      reach: reach?.get(n.nodeId) ?? 0,
    };
    if (!best || rankOrder(candidate, best) < 0) best = candidate;
  }
  return best && { nodeId: best.nodeId, cost: best.cost };
}

/** The nodes that can take the container, in the order given, with their terms and cost (no wording, no sort). */
export function eligibleNodes(
  req: PlacementRequest,
  nodes: NodeFacts[],
  policy: PlacementPolicy = DEFAULT_POLICY,
): { nodeId: string; terms: Terms; cost: number }[] {
  const out: { nodeId: string; terms: Terms; cost: number }[] = [];
  for (const n of nodes) {
    if (exclusions(req, n, policy, true).length) continue;
    const terms = termsOf(req, n);
    out.push({ nodeId: n.nodeId, terms, cost: costOf(policy.weights, terms) });
  }
  return out;
}

/** One node's verdict for the container: its terms, its cost by the formula, or why it cannot take it. */
export function verdictFor(
  req: PlacementRequest,
  n: NodeFacts,
  policy: PlacementPolicy = DEFAULT_POLICY,
): CandidateVerdict {
  const terms = termsOf(req, n);
  const why = exclusions(req, n, policy, false);
  const cost = why.length ? null : costOf(policy.weights, terms);
  return { nodeId: n.nodeId, eligible: why.length === 0, excludedBecause: why, terms, cost };
}

/** A container that has never run: nothing binds it to a CPU yet. */
const firstStart = (req: PlacementRequest): boolean => req.sourceNode === null && req.requiredCpuFlags.length === 0;

/** For each PC, how many PCs have every instruction its CPU has (where a process started on it could go). */
function reachOfCpus(nodes: NodeFacts[]): Map<string, number> {
  const byFlags = new Map<string, number>();
  const out = new Map<string, number>();
  for (const n of nodes) {
    const key = flagsOf(n.cpuFlags).key;
    let count = byFlags.get(key);
    if (count === undefined) {
      count = nodes.filter((o) => cpuFlagsLacking(n.cpuFlags, o.cpuFlags).length === 0).length;
      byFlags.set(key, count);
    }
    out.set(n.nodeId, count);
  }
  return out;
}

/**
 * A decision as workflows and the migration history keep it: the chosen PC and the next best, the first excluded
 * ones, and how many were left out. At 1,000 PCs the whole decision is ~200 kB, in every migration's row and in
 * Temporal's history (whose payloads have limits); GET /v1/containers/{id}/placement explains every PC.
 */
export function recordedDecision(d: PlacementDecision, keep = 8): PlacementDecision & { omittedCandidates?: number } {
  const eligible = d.candidates.filter((c) => c.eligible);
  const excluded = d.candidates.filter((c) => !c.eligible);
  const kept = [...eligible.slice(0, keep), ...excluded.slice(0, keep)];
  const omitted = d.candidates.length - kept.length;
  return omitted ? { ...d, candidates: kept, omittedCandidates: omitted } : d;
}
