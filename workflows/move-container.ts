import { ApplicationFailure, defineQuery, log, setHandler } from '@temporalio/workflow';
import { ErrorType } from '../common/errors';
import { isValidNodeId, NODE_ID_RULE } from '../common/names';
import type { CheckpointReport, RestoreReport, TransferReport } from '../node/executor';
import { nodeActivities } from './node-activities';

export interface MoveContainerInput {
  containerId: string;
  /** The PC the container runs on now. */
  from: string;
  /** The PC to move it to. */
  to: string;
}

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
  steps: StepReport[];
  transfers: TransferReport[];
  checkpoint: CheckpointReport;
  restore: RestoreReport;
}

export const moveProgressQuery = defineQuery<StepReport[]>('progress');

/**
 * Moves a running container between two PCs, the paper's steps in order: reuse the bundle on the target,
 * checkpoint, transfer only what the target lacks, restore there, leave a remnant behind. If anything fails after
 * the checkpoint, the container is restored where it was: it never runs on two nodes, and never on none.
 */
export async function moveContainer(input: MoveContainerInput): Promise<MoveReport> {
  const { containerId, from, to } = input ?? ({} as MoveContainerInput);
  if (!containerId || !isValidNodeId(from) || !isValidNodeId(to) || from === to) {
    throw ApplicationFailure.create({
      type: ErrorType.InvalidInput, nonRetryable: true,
      message: `moveContainer needs {"containerId", "from", "to"} with two different PCs (${NODE_ID_RULE}); got ${JSON.stringify(input)}`,
    });
  }
  const source = nodeActivities(from);
  const target = nodeActivities(to);
  const steps: StepReport[] = [];
  setHandler(moveProgressQuery, () => steps);
  const step = async <T>(name: string, node: string, run: () => Promise<T>): Promise<T> => {
    const startedAt = Date.now();
    const result = await run();
    steps.push({ step: name, node, startedAt, ms: Date.now() - startedAt });
    return result;
  };

  // 1-2. Choose-and-reuse: the target opens a transfer; whatever it holds of this container is reused.
  const receive = await step('prepare target', to, () => target.prepareReceive({ containerId }));
  const dest = { address: receive.address, transferId: receive.transferId, token: receive.token };
  const transfers: TransferReport[] = [];
  let checkpoint: CheckpointReport;
  try {
    // Sync the rootfs while the container still runs, so the downtime carries only the last delta.
    transfers.push(await step('sync bundle (running)', from, () => source.syncBundle({ containerId, target: dest, final: false })));
    // 3. Checkpoint: the container stops here; downtime starts.
    checkpoint = await step('checkpoint', from, () => source.checkpointContainer({ containerId, leaveRunning: false }));
  } catch (err) {
    await target.abortReceive({ transferId: dest.transferId }).catch(() => undefined);
    throw err;
  }
  const frozenAt = steps[steps.length - 1]!.startedAt;
  let restore: RestoreReport;
  try {
    // 4. Transfer only the difference: the rootfs after the freeze, then the checkpoint's missing pages.
    transfers.push(await step('sync bundle (frozen)', from, () => source.syncBundle({ containerId, target: dest, final: true })));
    transfers.push(await step('transfer checkpoint', from, () => source.sendCheckpoint({ containerId, generation: checkpoint.generation, target: dest })));
    // 5. Restore on the target.
    restore = await step('restore', to, () => target.restoreFromTransfer({ transferId: dest.transferId, spec: checkpoint.spec, meta: checkpoint.meta }));
  } catch (err) {
    // Compensation: the container runs again where it was, from the checkpoint just taken.
    log.warn('move failed after the checkpoint; restoring on the source', { containerId, from, to, error: String(err) });
    await target.abortReceive({ transferId: dest.transferId }).catch(() => undefined);
    await step('restore on source (rollback)', from, () => source.restoreLocal({ containerId, generation: checkpoint.generation }));
    throw err;
  }
  const downtimeMs = Date.now() - frozenAt;
  // 6. The source keeps the bundle and checkpoints as a remnant for the next move back.
  await step('leave remnant', from, () => source.leaveRemnant({ containerId }));
  const bundleBytes = transfers.find((t) => t.kind === 'bundle')?.manifest.bytes ?? 0;
  return {
    containerId, from, to, generation: checkpoint.generation, strategy: checkpoint.strategy, downtimeMs,
    wireBytes: transfers.reduce((n, t) => n + t.wireBytes, 0),
    fullBytes: checkpoint.image.bytes + bundleBytes,
    targetHadRemnant: receive.hasBundle || receive.heldGenerations.length > 0,
    steps, transfers, checkpoint, restore,
  };
}
