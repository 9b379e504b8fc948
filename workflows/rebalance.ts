import { executeChild, proxyActivities } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control';
import type { RebalancePlan } from '../domain/rebalance';
import { migrateContainer } from './migrate-container';

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

const control = proxyActivities<ControlActivities>({ startToCloseTimeout: '60s', retry: { maximumAttempts: 3 } });

/**
 * One rebalancing run (a Temporal Schedule starts it every few minutes): evacuates PCs whose lecture is about to
 * start and relieves overloaded PCs when the policy says it is worth it, never more than maxMigrations at once.
 */
export async function rebalance(input: RebalanceInput = {}): Promise<RebalanceResult> {
  const plan = await control.planRebalance({
    maxMigrations: input.maxMigrations ?? 3, gainThreshold: input.gainThreshold ?? 0.3, overloadThreshold: input.overloadThreshold ?? 1.5,
  });
  const queue = [...plan.moves];
  const results: RebalanceResult['results'] = [];
  const next = async (): Promise<void> => {
    for (let m = queue.shift(); m; m = queue.shift()) {
      try {
        const r = await executeChild(migrateContainer, { workflowId: `migrate-${m.containerId}`, args: [{ containerId: m.containerId, to: m.to, reason: `rebalance: ${m.reason}` }] });
        results.push({ containerId: m.containerId, outcome: 'moved', to: r.to });
      } catch (err) {
        results.push({ containerId: m.containerId, outcome: 'failed', error: (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, input.parallel ?? 2) }, next));
  return { plan, results };
}
