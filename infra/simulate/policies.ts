// The placement policies the simulator compares. All see the same facts through the real placement code (its hard
// exclusions: offline, in a lecture, short of memory, lacking CPU instructions); they differ in how they choose among
// the eligible PCs, and in how containers leave a PC before its lecture. They use the placement functions that only
// choose (choosePlacement, eligibleNodes: the same rules as decidePlacement, without its wording and sorting).
import { choosePlacement, DEFAULT_POLICY, eligibleNodes } from '../../domain/placement';
import type { NodeFacts, PlacementPolicy, PlacementRequest } from '../../domain/placement';

export const POLICY_NAMES = ['random', 'least-loaded', 'paper', 'zanshin'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

export interface Policy {
  name: PolicyName;
  /** How it is chosen, for the report. */
  description: string;
  /** Containers leave PCs before lectures by the lecture-driven evacuation (else only by rebalancing). */
  lectureEvacuation: boolean;
  choose(req: PlacementRequest, nodes: NodeFacts[], rnd: () => number): string | null;
}

/** Only PCs in a lecture are excluded for lectures (no margin before one): the baselines know nothing of lead times. */
const NO_MARGIN: PlacementPolicy = { ...DEFAULT_POLICY, lectureMarginMs: 0 };

const eligible = eligibleNodes;
const byId = new Intl.Collator().compare;

/** The candidate with the lowest `key`, ties to the first id (one pass: no sort). */
function lowest<T extends { nodeId: string }>(list: T[], key: (c: T) => number): string | null {
  let best: T | null = null;
  for (const c of list)
    if (!best || key(c) - key(best) < 0 || (key(c) === key(best) && byId(c.nodeId, best.nodeId) < 0)) best = c;
  return best?.nodeId ?? null;
}

export const POLICIES: Record<PolicyName, Policy> = {
  random: {
    name: 'random',
    description: 'any eligible PC, uniformly; leaves lecture PCs by rebalancing (3 moves per 5 min)',
    lectureEvacuation: false,
    choose(req, nodes, rnd) {
      const ok = eligible(req, nodes, NO_MARGIN);
      return ok.length ? ok[Math.floor(rnd() * ok.length)]!.nodeId : null;
    },
  },
  'least-loaded': {
    name: 'least-loaded',
    description: 'the eligible PC with the lowest C + M; leaves lecture PCs by rebalancing',
    lectureEvacuation: false,
    choose(req, nodes) {
      return lowest(eligible(req, nodes, NO_MARGIN), (c) => c.terms.C + c.terms.M);
    },
  },
  paper: {
    name: 'paper',
    description:
      "the paper's formula 1 as written, lowest k(C+M) - l(P+B) + mL (free time raises the cost); leaves lecture PCs by rebalancing",
    lectureEvacuation: false,
    choose(req, nodes) {
      const asWritten = { ...NO_MARGIN, weights: { ...NO_MARGIN.weights, m: -NO_MARGIN.weights.m } };
      return lowest(eligible(req, nodes, asWritten), (c) => c.cost);
    },
  },
  zanshin: {
    name: 'zanshin',
    description:
      'decidePlacement with the defaults, lowest k(C+M) - l(P+B) - mL, 15 min lecture margin; lecture-driven evacuation',
    lectureEvacuation: true,
    choose(req, nodes) {
      return choosePlacement(req, nodes, DEFAULT_POLICY)?.nodeId ?? null;
    },
  },
};
