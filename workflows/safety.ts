import { ApplicationFailure, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control';
import { ErrorType } from '../common/errors';
import { nodeActivities, NodeTimeouts } from './node-activities';

const control = proxyActivities<ControlActivities>({ startToCloseTimeout: '60s', retry: { maximumAttempts: 3 } });

export interface SafetyCheckpointResult {
  containerId: string;
  source: string;
  /** The PC that now holds the checkpoint (null: none could take it). */
  holder: string | null;
  generation: number | null;
  wireBytes: number;
  note?: string;
}

/**
 * A checkpoint of a running container, taken without stopping it (leave-running) and kept on the best remnant holder,
 * so that a PC switched off without warning loses at most one interval of work. Runs as migrate-<container> so that
 * it never overlaps a migration of the same container.
 */
export async function safetyCheckpoint(input: { containerId: string; timeouts?: NodeTimeouts }): Promise<SafetyCheckpointResult> {
  const { containerId } = input ?? {};
  if (!containerId) throw ApplicationFailure.create({ type: ErrorType.InvalidInput, nonRetryable: true, message: 'safetyCheckpoint needs {"containerId"}' });
  const c = await control.loadContainer({ containerId, migrationId: `${containerId}-${workflowInfo().runId}` });
  if (c.state !== 'running' || !c.nodeId) return { containerId, source: c.nodeId ?? '-', holder: null, generation: null, wireBytes: 0, note: `not running (${c.state})` };
  const decision = await control.selectTarget({ containerId, exclude: [] });
  if (!decision.chosen) return { containerId, source: c.nodeId, holder: null, generation: null, wireBytes: 0, note: decision.explanation };
  const source = nodeActivities(c.nodeId, input.timeouts);
  const holder = nodeActivities(decision.chosen, input.timeouts);
  const receive = await holder.prepareReceive({ containerId });
  const dest = { address: receive.address, transferId: receive.transferId, token: receive.token };
  try {
    const bundle = await source.syncBundle({ containerId, target: dest, final: false });
    const cp = await source.checkpointContainer({ containerId, leaveRunning: true });
    const image = await source.sendCheckpoint({ containerId, generation: cp.generation, target: dest });
    await holder.storeFromTransfer({ transferId: dest.transferId, spec: cp.spec, meta: cp.meta });
    return { containerId, source: c.nodeId, holder: decision.chosen, generation: cp.generation, wireBytes: bundle.wireBytes + image.wireBytes };
  } catch (err) {
    await holder.abortReceive({ transferId: dest.transferId }).catch(() => undefined);
    throw err;
  }
}

/** Safety checkpoints of every running container, one after another (a Temporal Schedule runs this). */
export async function safetyCheckpoints(input: { timeouts?: NodeTimeouts } = {}): Promise<{ results: SafetyCheckpointResult[]; errors: { containerId: string; error: string }[] }> {
  const results: SafetyCheckpointResult[] = [];
  const errors: { containerId: string; error: string }[] = [];
  for (const c of await control.runningContainers()) {
    try {
      results.push(await executeChild(safetyCheckpoint, { workflowId: `migrate-${c.id}`, args: [{ containerId: c.id, timeouts: input.timeouts }] }));
    } catch (err) {
      errors.push({ containerId: c.id, error: (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message });
    }
  }
  return { results, errors };
}

export interface RecoveryResult {
  containerId: string;
  deadNode: string;
  restoredOn: string | null;
  generation: number | null;
  /** How old the checkpoint was: the work lost. */
  checkpointAgeMs: number | null;
  error?: string;
}

/**
 * Crash recovery (a Temporal Schedule runs this every minute): containers of a PC that stopped reporting are
 * restored on the live PC holding their newest checkpoint, and the history says how old that checkpoint was.
 * First the dead PC is asked once more: if its worker answers that the container still runs, it is left alone
 * (restoring it elsewhere would run it twice).
 */
export async function recoverCrashedNodes(input: { offlineAfterSeconds?: number; timeouts?: NodeTimeouts } = {}): Promise<RecoveryResult[]> {
  const offlineAfterSeconds = input.offlineAfterSeconds ?? 60;
  const out: RecoveryResult[] = [];
  for (const c of await control.crashedContainers({ offlineAfterSeconds })) {
    const id = `${c.containerId}-recovery-${workflowInfo().runId}`;
    const base = { id, workflowId: workflowInfo().workflowId, runId: workflowInfo().runId, containerId: c.containerId, from: c.deadNode };
    const stillThere = await nodeActivities(c.deadNode, { answerSeconds: 5 }).containerState({ containerId: c.containerId }).catch(() => null);
    if (stillThere?.status === 'running') continue;
    if (!c.holder) {
      const error = `no live PC holds a checkpoint of ${c.containerId}: it is lost until ${c.deadNode} returns`;
      await control.recordRecovery({ ...base, to: null, generation: null, checkpointAgeMs: null, error });
      out.push({ containerId: c.containerId, deadNode: c.deadNode, restoredOn: null, generation: null, checkpointAgeMs: null, error });
      continue;
    }
    try {
      const r = await nodeActivities(c.holder.nodeId, input.timeouts).restoreLocal({ containerId: c.containerId, generation: c.holder.generation });
      const checkpointAgeMs = Date.now() - Date.parse(r.checkpointCreatedAt);
      await control.recordRecovery({ ...base, to: c.holder.nodeId, generation: c.holder.generation, checkpointAgeMs });
      out.push({ containerId: c.containerId, deadNode: c.deadNode, restoredOn: c.holder.nodeId, generation: c.holder.generation, checkpointAgeMs });
    } catch (err) {
      const error = `restoring ${c.containerId} on ${c.holder.nodeId} failed: ${(err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message}`;
      await control.recordRecovery({ ...base, to: null, generation: c.holder.generation, checkpointAgeMs: null, error });
      out.push({ containerId: c.containerId, deadNode: c.deadNode, restoredOn: null, generation: c.holder.generation, checkpointAgeMs: null, error });
    }
  }
  return out;
}

/** Remnant lifecycle (a Temporal Schedule runs this hourly): every live PC expires its old remnants and checkpoints. */
export async function collectRemnants(input: { offlineAfterSeconds?: number } = {}): Promise<{ nodeId: string; removed?: unknown; error?: string }[]> {
  const out = [];
  for (const nodeId of await control.liveNodes({ offlineAfterSeconds: input.offlineAfterSeconds ?? 60 })) {
    try {
      out.push({ nodeId, removed: await nodeActivities(nodeId).collectGarbage() });
    } catch (err) {
      out.push({ nodeId, error: (err as Error).message });
    }
  }
  return out;
}
