// The placement policies the simulator compares. All see the same facts through the real decidePlacement (its hard
// exclusions: offline, in a lecture, short of memory, lacking CPU instructions); they differ in how they choose among
// the eligible PCs, and in how containers leave a PC before its lecture.
import { DEFAULT_POLICY, decidePlacement } from '../../domain/placement';
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

const eligible = (req: PlacementRequest, nodes: NodeFacts[], policy: PlacementPolicy) =>
  decidePlacement(req, nodes, policy).candidates.filter((c) => c.eligible);

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
      const ok = eligible(req, nodes, NO_MARGIN);
      ok.sort((a, b) => a.terms.C + a.terms.M - (b.terms.C + b.terms.M) || a.nodeId.localeCompare(b.nodeId));
      return ok[0]?.nodeId ?? null;
    },
  },
  paper: {
    name: 'paper',
    description:
      "the paper's formula 1 as written, lowest k(C+M) - l(P+B) + mL (free time raises the cost); leaves lecture PCs by rebalancing",
    lectureEvacuation: false,
    choose(req, nodes) {
      const asWritten = { ...NO_MARGIN, weights: { ...NO_MARGIN.weights, m: -NO_MARGIN.weights.m } };
      const ok = eligible(req, nodes, asWritten);
      ok.sort((a, b) => a.cost! - b.cost! || a.nodeId.localeCompare(b.nodeId));
      return ok[0]?.nodeId ?? null;
    },
  },
  zanshin: {
    name: 'zanshin',
    description:
      'decidePlacement with the defaults, lowest k(C+M) - l(P+B) - mL, 15 min lecture margin; lecture-driven evacuation',
    lectureEvacuation: true,
    choose(req, nodes) {
      return decidePlacement(req, nodes, DEFAULT_POLICY).chosen;
    },
  },
};
