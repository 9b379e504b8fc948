import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';
import type { CheckpointReport, RestoreReport, TransferReport } from '../node/executor';
import { nodeActivities, NodeTimeouts } from './node-activities';
import { ErrorType } from '../common/errors';

export interface StepReport {
  step: string;
  node: string;
  startedAt: number;
  ms: number;
}

export interface MoveReport {
  containerId: string;
  from: string;
  to: string;
  generation: number;
  strategy: string;
  /** From the checkpoint's start to the restored container running, as the workflow saw it. */
  downtimeMs: number;
  /** Bytes that crossed the data plane (bundle syncs, checkpoint, manifests). */
  wireBytes: number;
  /** Size of the full image plus the rootfs: what a move without remnants would send. */
  fullBytes: number;
  /** Whether the target already held remnants of this container. */
  targetHadRemnant: boolean;
  /** Set when the source could not be marked as holding a remnant (the move itself succeeded). */
  remnantError?: string;
  steps: StepReport[];
  transfers: TransferReport[];
  checkpoint: CheckpointReport;
  restore: RestoreReport;
}

export type MoveOutcome =
  | { ok: true; report: MoveReport }
  | {
    ok: false;
    /** Set once the source took its checkpoint: the container is stopped there and this image is the way back. */
    checkpoint: CheckpointReport | null;
    /** The target stopped answering (PC off, worker or data plane down): another target may do. */
    targetFailed: boolean;
    error: string;
  };

/**
 * True when a failure means the target is gone (not that it refused): a target-side step that timed out (its worker
 * does not answer), or a source-side step that could not reach the target's data plane. A source-side timeout
 * means the source itself is gone, which another target cannot fix.
 */
function targetIsDown(err: unknown, ranOn: 'source' | 'target'): boolean {
  if (!(err instanceof ActivityFailure)) return false;
  if (err.cause instanceof ApplicationFailure && err.cause.type === ErrorType.TargetUnreachable) return true;
  return ranOn === 'target' && err.cause instanceof TimeoutFailure;
}

const describe = (err: unknown): string => {
  const e = err as { cause?: { message?: string }; message?: string };
  return e.cause?.message ?? e.message ?? String(err);
};

export interface MoveOnceInput {
  containerId: string;
  from: string;
  to: string;
  /** Resend this checkpoint instead of taking one (the container is already stopped on the source). */
  checkpoint?: CheckpointReport;
  timeouts?: NodeTimeouts;
  /** Receives each step as it completes (for progress queries). */
  onStep?: (s: StepReport) => void;
}

/**
 * One attempt to move a container to one target, the paper's steps in order. It never throws for a failed
 * step: it says how far it got, so the caller can choose another target or restore on the source.
 */
export async function moveOnce(input: MoveOnceInput): Promise<MoveOutcome> {
  const { containerId, from, to } = input;
  const source = nodeActivities(from, input.timeouts);
  const target = nodeActivities(to, input.timeouts);
  const steps: StepReport[] = [];
  let ranOn: 'source' | 'target' = 'target';
  const step = async <T>(name: string, node: string, run: () => Promise<T>): Promise<T> => {
    ranOn = node === to ? 'target' : 'source';
    const startedAt = Date.now();
    const result = await run();
    const s = { step: name, node, startedAt, ms: Date.now() - startedAt };
    steps.push(s);
    input.onStep?.(s);
    return result;
  };
  let checkpoint: CheckpointReport | null = input.checkpoint ?? null;
  let dest: { address: string; transferId: string; token: string } | null = null;
  try {
    // 1-2. The target opens a transfer; whatever it holds of this container (its remnant) is reused.
    const receive = await step('prepare target', to, () => target.prepareReceive({ containerId }));
    dest = { address: receive.address, transferId: receive.transferId, token: receive.token };
    const transfers: TransferReport[] = [];
    if (!checkpoint) {
      // Sync the rootfs while the container still runs, so the downtime carries only the last delta.
      transfers.push(await step('sync bundle (running)', from, () => source.syncBundle({ containerId, target: dest!, final: false })));
      // 3. Checkpoint: the container stops here; downtime starts.
      checkpoint = await step('checkpoint', from, () => source.checkpointContainer({ containerId, leaveRunning: false }));
    }
    const frozenAt = Date.now();
    const cp = checkpoint;
    // 4. Only the difference: the rootfs after the freeze, then the pages the target holds nowhere.
    transfers.push(await step('sync bundle (frozen)', from, () => source.syncBundle({ containerId, target: dest!, final: true })));
    transfers.push(await step('transfer checkpoint', from, () => source.sendCheckpoint({ containerId, generation: cp.generation, target: dest! })));
    // 5. Restore on the target.
    const restore: RestoreReport = await step('restore', to, () => target.restoreFromTransfer({ transferId: dest!.transferId, spec: cp.spec, meta: cp.meta }));
    const downtimeMs = Date.now() - (input.checkpoint ? frozenAt : steps.find((s) => s.step === 'checkpoint')!.startedAt);
    // 6. The source keeps the bundle and checkpoints as a remnant for the next move back. The container runs on
    // the target now: whatever happens here must not undo the move (that could leave it on two PCs).
    const remnantError = await step('leave remnant', from, () => source.leaveRemnant({ containerId })).then(() => undefined, (err: unknown) => describe(err));
    const bundleBytes = transfers.find((t) => t.kind === 'bundle')?.manifest.bytes ?? 0;
    return {
      ok: true,
      report: {
        containerId, from, to, generation: cp.generation, strategy: cp.strategy, downtimeMs,
        wireBytes: transfers.reduce((n, t) => n + t.wireBytes, 0), fullBytes: cp.image.bytes + bundleBytes,
        targetHadRemnant: receive.hasBundle || receive.heldGenerations.length > 0, steps, transfers, checkpoint: cp, restore,
        ...(remnantError ? { remnantError } : {}),
      },
    };
  } catch (err) {
    if (dest) await target.abortReceive({ transferId: dest.transferId }).catch(() => undefined);
    return { ok: false, checkpoint, targetFailed: targetIsDown(err, ranOn), error: describe(err) };
  }
}
