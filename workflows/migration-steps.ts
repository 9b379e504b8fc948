// The paper's migration steps (Fig. 3), in the order they run, numbered as in the README's table:
//   1. select the target                        (migrateContainer; or given)
//   2. prepare the target: reuse its remnant     target opens a transfer and says what it holds
//   3. sync the bundle while the container runs  source -> target, only what the target lacks
//  3'. pre-copy                                  checkpoints that leave it running, sent while it runs: with the
//                                                kernel strategy pre-dumps of the pages dirtied since the last one,
//                                                kept on the target; else (no remnant there) full dumps
//   4. checkpoint (dump)                         source; the container stops here: downtime starts; with the kernel
//                                                strategy only the pages dirtied since the last pre-dump
//   5. transfer the difference                   rootfs once more (frozen), then only pages the target holds nowhere
//   6. restore on the target                     (a safety checkpoint stores instead: 6'. keep on the holder)
//   7. leave a remnant on the source
//  7'. merge (kernel strategy)                   the target merges a chain of differential checkpoints past the
//                                                threshold into one, after the container runs
// Steps 2-5 are shared by moves and safety checkpoints. Every step reports how long it took; a failed step says
// on which side it failed and whether that side is gone, so the caller can pick another target or roll back.
import { ActivityFailure, ApplicationFailure, patched, TimeoutFailure } from '@temporalio/workflow';
import { ErrorType } from '../common/errors';
import type {
  CheckpointReport,
  MoveReport,
  PreCopyRound,
  RestoreReport,
  StepReport,
  TransferReport,
  TransferTarget,
} from '../domain/reports';
import { freezesOf, moveDowntime } from '../domain/freezes';
import { kernelPreCopyDone, PRE_COPY_ENOUGH_BYTES, PRE_COPY_MAX_ROUNDS, preCopyPays } from '../domain/pre-copy';
import { nodeActivities, NodeTimeouts } from './activity-proxies';
import { epochForRestore } from './epochs';
import { failureMessage, finalFailure } from './workflow-helpers';

export type MoveOutcome =
  | { ok: true; report: MoveReport }
  | {
      ok: false;
      /** Set once the source took its checkpoint: the container is stopped there and this image is the way back. */
      checkpoint: CheckpointReport | null;
      /** The target stopped answering (PC off, worker or data plane down): another target may do. */
      targetFailed: boolean;
      /**
       * The target's restore failed: it may have started the copy all the same (its answer was lost, its worker died
       * right after): evict it there (evictCopy) before the container runs anywhere else.
       */
      targetMayRun: boolean;
      error: string;
    };

/** A step that failed, classified where it failed. */
class StepFailed extends Error {
  constructor(
    readonly step: string,
    readonly targetDown: boolean,
    message: string,
  ) {
    super(message);
  }
}

/**
 * True when a failure means the target is gone (not that it refused): a target-side step that timed out (its worker
 * does not answer), or a source-side step that could not reach the target's data plane. A source-side timeout
 * means the source itself is gone, which another target cannot fix.
 */
function targetIsDown(err: unknown, side: 'source' | 'target'): boolean {
  if (!(err instanceof ActivityFailure)) return false;
  if (err.cause instanceof ApplicationFailure && err.cause.type === ErrorType.TargetUnreachable) return true;
  return side === 'target' && err.cause instanceof TimeoutFailure;
}

interface Route {
  containerId: string;
  from: string;
  to: string;
  timeouts?: NodeTimeouts;
  /** Receives each step as it completes (for progress queries). */
  onStep?: (s: StepReport) => void;
}

/** Runs steps, timing each; a failure comes out as StepFailed, already classified. */
function stepRunner(route: Route) {
  const steps: StepReport[] = [];
  const step = async <T>(name: string, node: string, run: () => Promise<T>): Promise<T> => {
    const startedAt = Date.now();
    let result: T;
    try {
      result = await run();
    } catch (err) {
      throw new StepFailed(
        name,
        targetIsDown(err, node === route.to ? 'target' : 'source'),
        `${name} on ${node}: ${failureMessage(err)}`,
      );
    }
    const s = { step: name, node, startedAt, ms: Date.now() - startedAt };
    steps.push(s);
    route.onStep?.(s);
    return result;
  };
  return { steps, step };
}

/**
 * Pre-copy pays when the target holds nothing of the container: the whole image would otherwise cross the link
 * during the downtime. A round freezes the container only for its dump; the next round (or the final checkpoint)
 * sends just what changed meanwhile. Rounds stop when one sent little (the final delta will be small too) or
 * after the maximum.
 */

interface Shipped {
  dest: TransferTarget;
  preCopy: PreCopyRound[];
  /** Whether the target held a bundle or checkpoints of this container before. */
  targetHadRemnant: boolean;
  checkpoint: CheckpointReport;
  transfers: TransferReport[];
  /** When the container stopped (the checkpoint's start, or now when resending an earlier checkpoint). */
  frozenAt: number;
}

/**
 * Steps 2-5: the target opens a transfer, the source sends its rootfs, checkpoints (unless `checkpoint` is given:
 * the container already stopped on the source and that image is resent), then sends what changed.
 * `onCheckpoint` learns of the checkpoint as soon as it exists, so a later failure can roll back to it.
 */
async function shipCheckpoint(
  run: ReturnType<typeof stepRunner>,
  route: Route,
  o: {
    checkpoint?: CheckpointReport;
    leaveRunning: boolean;
    /** Pre-copy allowed (it still runs only where it pays). @default true */
    preCopy?: boolean;
    onCheckpoint: (cp: CheckpointReport) => void;
    onTransfer: (dest: TransferTarget) => void;
  },
): Promise<Shipped> {
  const { containerId, from, to } = route;
  const source = nodeActivities(from, route.timeouts);
  const target = nodeActivities(to, route.timeouts);
  // 2. Prepare the target: whatever it holds of this container (its remnant) is reused.
  const receive = await run.step('prepare target', to, () => target.prepareReceive({ containerId }));
  const dest: TransferTarget = {
    address: receive.address,
    transferId: receive.transferId,
    token: receive.token,
    ...(receive.certificate ? { certificate: receive.certificate } : {}),
  };
  o.onTransfer(dest);
  const transfers: TransferReport[] = [];
  let checkpoint = o.checkpoint;
  let frozenAt = Date.now();
  const preCopy: PreCopyRound[] = [];
  const targetHolds = [...receive.heldGenerations];
  // A delta base must be the same manifest on both PCs: not one the target rewrote (merged, tracking restarted).
  const deltaBases = () => targetHolds.filter((n) => !(receive.rewrittenGenerations ?? []).includes(n));
  // Mounts over kernel files the target lacks (e.g. /proc/sysrq-trigger) stay out of the dumps, or it cannot restore.
  const targetLacks = receive.absentKernelPaths ?? [];
  // A first move's target writes the synced rootfs while the pre-copy goes on (not a remnant's: should the move
  // fail, it must stay as its checkpoints saw it). Awaited before the freeze; if it fails, the frozen receive
  // writes every file as before.
  let appliedEarly: Promise<unknown> = Promise.resolve();
  if (!checkpoint) {
    // 3. Sync the rootfs while the container still runs, so the downtime carries only the last delta.
    transfers.push(
      await run.step('sync bundle (running)', from, () =>
        source.syncBundle({ containerId, target: dest, final: false }),
      ),
    );
    if (!receive.hasBundle && patched('apply-bundle-early'))
      appliedEarly = run
        .step('apply bundle (running)', to, () => target.applyRunningBundle({ transferId: dest.transferId }))
        .catch(() => null);
    /** Sends a pre-copy round's dump and records it: the target holds it from now on. */
    const sendRound = async (round: number, pre: CheckpointReport): Promise<TransferReport> => {
      const sent = await run.step(`pre-copy ${round}: transfer`, from, () =>
        source.sendCheckpoint({ containerId, generation: pre.generation, target: dest, targetHolds: deltaBases() }),
      );
      transfers.push(sent);
      targetHolds.push(pre.generation);
      preCopy.push({
        generation: pre.generation,
        pages: pre.pages,
        frozenMs: pre.frozenMs ?? pre.dumpMs,
        wireBytes: sent.wireBytes,
        transferMs: sent.ms,
      });
      return sent;
    };
    // Strategy: kernel when the target tracks dirty pages (and the source does: else its dumps say content).
    let kernel = receive.dirtyTracking === true && !o.leaveRunning;
    // 3'. Pre-copy.
    if (kernel && o.preCopy !== false) {
      // Kernel strategy: pre-dumps of what changed since the last dump, each kept on the target, while they converge.
      const pagesPerRound: number[] = [];
      while (!kernelPreCopyDone(pagesPerRound)) {
        const round = preCopy.length + 1;
        const pre = await run.step(`pre-copy ${round}: pre-dump (running)`, from, () =>
          source.checkpointContainer({
            containerId,
            leaveRunning: true,
            targetLacks,
            kernel: { preDump: true, parentCandidates: [...targetHolds] },
          }),
        );
        await sendRound(round, pre);
        // The source does not track, or its tracked dump failed: the rest of this move is content.
        if (pre.strategy !== 'kernel') {
          kernel = false;
          break;
        }
        await run.step(`pre-copy ${round}: keep`, to, () =>
          target.keepGeneration({ transferId: dest.transferId, meta: pre.meta }),
        );
        pagesPerRound.push(pre.pages);
      }
    } else {
      // Content strategy: without a remnant on the target, full dumps sent while the container keeps running, when
      // it holds enough memory for that to pay (domain/pre-copy.ts).
      const preCopies =
        !o.leaveRunning &&
        o.preCopy !== false &&
        receive.heldGenerations.length === 0 &&
        preCopyPays(
          patched('pre-copy-by-size') ? (await source.containerState({ containerId })).memoryBytes : undefined,
        );
      while (preCopies && preCopy.length < PRE_COPY_MAX_ROUNDS) {
        const round = preCopy.length + 1;
        // A live copy of the memory freezes nothing (a dump with --leave-running froze the program for seconds).
        const live = patched('live-pre-copy');
        const pre = await run.step(`pre-copy ${round}: ${live ? 'live copy' : 'checkpoint'} (running)`, from, () =>
          // Each round supersedes the move's previous ones: the source drops them before it dumps.
          source.checkpointContainer({
            containerId,
            leaveRunning: true,
            targetLacks,
            supersedes: preCopy.map((r) => r.generation),
            ...(live ? { live: true } : {}),
          }),
        );
        const sent = await sendRound(round, pre);
        if (sent.wireBytes < PRE_COPY_ENOUGH_BYTES) break;
      }
    }
    // 4. Checkpoint: unless it is left running, the container stops here and the downtime starts.
    await appliedEarly;
    frozenAt = Date.now();
    // A content move's dump supersedes on the source its pre-copy rounds and what the target holds (it keeps its
    // copy); a kernel one's parents stay.
    const supersedes =
      o.leaveRunning || kernel ? [] : [...preCopy.map((r) => r.generation), ...receive.heldGenerations];
    checkpoint = await run.step('checkpoint', from, () =>
      source.checkpointContainer({
        containerId,
        leaveRunning: o.leaveRunning,
        supersedes,
        targetLacks,
        ...(kernel ? { kernel: { preDump: false, parentCandidates: [...targetHolds] } } : {}),
      }),
    );
    o.onCheckpoint(checkpoint);
  }
  const cp = checkpoint;
  // 5. Only the difference: the rootfs after the freeze (a running container's was synced in step 3), then the
  // pages the target holds nowhere.
  // The frozen rootfs and the pages go side by side: both are in the downtime. Beside them the target takes the
  // address over (the source's copy is stopped and its address gone): what peers send meanwhile waits there, to be
  // answered as soon as the restore ends, instead of being dropped and retransmitted on TCP's back-off.
  const takeOver =
    !o.leaveRunning && patched('take-over-address')
      ? run
          .step('take over address', to, () => target.takeOverAddress({ transferId: dest.transferId, spec: cp.spec }))
          .catch(() => null) // not needed for the move: the restore makes the address itself
      : null;
  const sent = await Promise.all([
    o.leaveRunning
      ? null
      : run.step('sync bundle (frozen)', from, () => source.syncBundle({ containerId, target: dest, final: true })),
    run.step('transfer checkpoint', from, () =>
      source.sendCheckpoint({ containerId, generation: cp.generation, target: dest, targetHolds: deltaBases() }),
    ),
  ]);
  await takeOver;
  for (const t of sent) if (t) transfers.push(t);
  return {
    dest,
    targetHadRemnant: receive.hasBundle || receive.heldGenerations.length > 0,
    checkpoint: cp,
    transfers,
    frozenAt,
    preCopy,
  };
}

export interface MoveOnceInput extends Route {
  /** Resend this checkpoint instead of taking one (the container is already stopped on the source). */
  checkpoint?: CheckpointReport;
  /** false: no pre-copy even where it would pay (a PC being taken back must be freed first). @default true */
  preCopy?: boolean;
}

/**
 * One attempt to move a container to one target: steps 2-7. It never throws for a failed step: it says how far it
 * got, so the caller can choose another target or restore on the source.
 */
export async function moveOnce(input: MoveOnceInput): Promise<MoveOutcome> {
  const { containerId, from, to } = input;
  const run = stepRunner(input);
  let checkpoint: CheckpointReport | null = input.checkpoint ?? null;
  let dest: TransferTarget | null = null;
  // The target's copy runs under a new epoch, asked for as soon as the source's copy stopped (beside the transfer:
  // no added downtime); the source's copy is stale from then on.
  let epoch: Promise<{ epoch?: number }> | null = null;
  try {
    const shipped = await shipCheckpoint(run, input, {
      ...(input.checkpoint ? { checkpoint: input.checkpoint } : {}),
      leaveRunning: false,
      preCopy: input.preCopy !== false,
      onCheckpoint: (cp) => {
        checkpoint = cp;
        epoch = epochForRestore(containerId);
        epoch.catch(() => undefined); // awaited at the restore; a move that fails before it never needs it
      },
      onTransfer: (d) => {
        dest = d;
      },
    });
    const cp = shipped.checkpoint;
    // 6. Restore on the target.
    const target = nodeActivities(to, input.timeouts);
    const copy = await (epoch ?? epochForRestore(containerId));
    const restore: RestoreReport = await run.step('restore', to, () =>
      target.restoreFromTransfer({ transferId: shipped.dest.transferId, spec: cp.spec, meta: cp.meta, ...copy }),
    );
    const workflowDowntimeMs = Date.now() - shipped.frozenAt;
    const downtimeMs = moveDowntime(workflowDowntimeMs, cp.frozeAt, restore.runningAt);
    // 7. The source keeps the bundle and checkpoints as a remnant for the next move back. The container runs on
    // the target now: whatever happens here must not undo the move (that could leave it on two PCs).
    const remnantError = await run
      .step('leave remnant', from, () => nodeActivities(from, input.timeouts).leaveRemnant({ containerId }))
      .then(
        () => undefined,
        (err: unknown) => failureMessage(err),
      );
    // 7'. A chain of differential checkpoints past the threshold is merged on the target, the container running.
    const merged =
      cp.meta.parent === undefined
        ? null
        : await run
            .step('merge chain', to, () => target.mergeChain({ containerId, generation: cp.generation }))
            .catch((err: unknown) => ({ error: failureMessage(err) }));
    const bundleBytes = shipped.transfers.find((t) => t.kind === 'bundle')?.manifest.bytes ?? 0;
    return {
      ok: true,
      report: {
        containerId,
        from,
        to,
        generation: cp.generation,
        strategy: cp.strategy,
        downtimeMs,
        workflowDowntimeMs,
        ...(shipped.preCopy.length ? { preCopy: shipped.preCopy } : {}),
        ...freezesOf(shipped.preCopy, downtimeMs),
        wireBytes: shipped.transfers.reduce((n, t) => n + t.wireBytes, 0),
        fullBytes: (cp.fullImageBytes ?? cp.image.bytes) + bundleBytes,
        targetHadRemnant: shipped.targetHadRemnant,
        steps: run.steps,
        transfers: shipped.transfers,
        checkpoint: cp,
        restore,
        ...(remnantError ? { remnantError } : {}),
        ...(merged ? { merged } : {}),
      },
    };
  } catch (err) {
    const opened = dest as TransferTarget | null;
    if (opened)
      await nodeActivities(to, input.timeouts)
        .abortReceive({ transferId: opened.transferId })
        .catch(() => undefined);
    if (err instanceof StepFailed)
      return {
        ok: false,
        checkpoint,
        targetFailed: err.targetDown,
        targetMayRun: err.step === 'restore',
        error: err.message,
      };
    return { ok: false, checkpoint, targetFailed: false, targetMayRun: false, error: failureMessage(err) };
  }
}

export interface KeptCheckpoint {
  generation: number;
  wireBytes: number;
  steps: StepReport[];
}

/**
 * A safety checkpoint: steps 2-5 with the container left running, then 6'. the holder keeps the checkpoint
 * (stored, not restored). On failure the holder drops what it received and the error is rethrown.
 */
export async function keepCheckpointOn(route: Route): Promise<KeptCheckpoint> {
  const run = stepRunner(route);
  let dest: TransferTarget | null = null;
  try {
    const shipped = await shipCheckpoint(run, route, {
      leaveRunning: true,
      onCheckpoint: () => undefined,
      onTransfer: (d) => {
        dest = d;
      },
    });
    const cp = shipped.checkpoint;
    await run.step('keep checkpoint', route.to, () =>
      nodeActivities(route.to, route.timeouts).storeFromTransfer({
        transferId: shipped.dest.transferId,
        spec: cp.spec,
        meta: cp.meta,
      }),
    );
    return {
      generation: cp.generation,
      wireBytes: shipped.transfers.reduce((n, t) => n + t.wireBytes, 0),
      steps: run.steps,
    };
  } catch (err) {
    const opened = dest as TransferTarget | null;
    if (opened)
      await nodeActivities(route.to, route.timeouts)
        .abortReceive({ transferId: opened.transferId })
        .catch(() => undefined);
    throw finalFailure(
      ErrorType.CheckpointFailed,
      `safety checkpoint of ${route.containerId} ${route.from} -> ${route.to} failed: ${failureMessage(err)}`,
    );
  }
}
