import { executeChild } from '@temporalio/workflow';
import { migrationWorkflowId } from '../common/names';
import type { RebalancePlan } from '../domain/rebalance';
import { controlActivities } from './activity-proxies';
import { migrateContainer } from './migrate-container';
import { failureMessage, forEachBounded } from './workflow-helpers';

export interface RebalanceInput {
  /** Migrations at most per run. @default 3 */
  maxMigrations?: number;
  /** Move off an overloaded PC only for a cost gain above this. @default 0.3 */
  gainThreshold?: number;
  /** C + M above this makes a PC overloaded. @default 1.5 */
  overloadThreshold?: number;
  /** Migrations at the same time. @default 2 */
  parallel?: number;
}

export interface RebalanceResult {
  plan: RebalancePlan;
  results: { containerId: string; outcome: 'moved' | 'failed'; to?: string; error?: string }[];
}

const control = controlActivities();

/**
 * One rebalancing run (a Temporal Schedule starts it every few minutes): evacuates PCs whose lecture is about to
 * start and relieves overloaded PCs when the policy says it is worth it, never more than maxMigrations at once.
 */
export async function rebalance(input: RebalanceInput = {}): Promise<RebalanceResult> {
  const plan = await control.planRebalance({
    maxMigrations: input.maxMigrations ?? 3,
    gainThreshold: input.gainThreshold ?? 0.3,
    overloadThreshold: input.overloadThreshold ?? 1.5,
  });
  const results: RebalanceResult['results'] = [];
  await forEachBounded(plan.moves, input.parallel ?? 2, async (m) => {
    try {
      const r = await executeChild(migrateContainer, {
        workflowId: migrationWorkflowId(m.containerId),
        args: [{ containerId: m.containerId, to: m.to, reason: `rebalance: ${m.reason}` }],
      });
      results.push({ containerId: m.containerId, outcome: 'moved', to: r.to });
    } catch (err) {
      results.push({ containerId: m.containerId, outcome: 'failed', error: failureMessage(err) });
    }
  });
  return { plan, results };
}
