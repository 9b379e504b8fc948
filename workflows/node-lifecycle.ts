import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  executeChild,
  ParentClosePolicy,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { isValidContainerId, isValidNodeId, migrationWorkflowId, NODE_ID_RULE } from '../common/names';
import { controlActivities, nodeActivities, NodeTimeouts } from './activity-proxies';
import { migrateContainer } from './migrate-container';
import { failureMessage, forEachBounded, invalidInput } from './workflow-helpers';
import type { SeatChange } from '../domain/seat';

export interface NodeLifecycleInput {
  nodeId: string;
  /** Migrations run at the same time during an evacuation. @default 2 */
  parallel?: number;
  timeouts?: NodeTimeouts;
}

export interface EvacuationRequest {
  /** Seconds until the PC goes away; no migration starts after that. @default 120 */
  deadlineSeconds?: number;
  reason?: string;
}

export interface EvacuationReport {
  reason: string;
  requestedAt: number;
  deadline: number;
  finishedAt: number | null;
  containers: {
    containerId: string;
    outcome: 'moved' | 'moved by another workflow' | 'failed' | 'not started (deadline passed)' | 'pending';
    to?: string;
    error?: string;
  }[];
}

/** A PC about to power off (a systemd unit sends it at shutdown). */
export const shutdownSignal = defineSignal<[EvacuationRequest?]>('shutdown');
/** The timetable says a lecture starts on this PC soon. */
export const lectureStartingSignal = defineSignal<[EvacuationRequest?]>('lectureStarting');
/**
 * The PC's protection loop (node/protection.ts) asks for leases: a holder for each of its running containers'
 * safety checkpoints. Opened once per container and PC, not per checkpoint.
 */
export const protectSignal = defineSignal<[{ containerIds: string[] }]>('protect');
/** The PC's seat watch (node/seat-watch.ts): its user logged in at its keyboard, or the last one logged out. */
export const seatSignal = defineSignal<[SeatChange]>('seat');
/** What the PC last said of its seat, and when this workflow heard it (its clock). */
export type SeatState = SeatChange & { heardAt: number };
export const nodeStatusQuery = defineQuery<{
  nodeId: string;
  evacuations: EvacuationReport[];
  seat: SeatState | null;
}>('status');

const control = controlActivities('30s');

/**
 * An evacuation with less time left than this moves containers without pre-copy: each round is an extra full dump
 * and the PC is free sooner without (4 x 256 MiB measured: 41 s with pre-copy; see the README's benchmarks).
 */
const PRE_COPY_MIN_LEAD_MS = 5 * 60_000;

/** How long an evacuation waits before asking again for a container whose lock another workflow holds. */
const LOCK_WAIT_MS = 2_000;

/** How long containers of a PC its user sat down at may take to leave (time enough for pre-copy). */
const IN_USE_DEADLINE_SECONDS = 600;

/** Keeps the last few evacuations in the query answer and in what continue-as-new carries. */
const KEEP_REPORTS = 5;

/**
 * One long-lived workflow per PC (id node-<id>): it waits for a shutdown or lecture signal and then migrates every
 * container off the PC. Start it, or signal it, with signal-with-start; it continues as new to keep its history short.
 */
export async function nodeLifecycle(
  input: NodeLifecycleInput,
  carried: EvacuationReport[] = [],
  carriedSeat: SeatState | null = null,
): Promise<void> {
  if (!isValidNodeId(input?.nodeId)) throw invalidInput(`nodeLifecycle needs {"nodeId"} (${NODE_ID_RULE})`, input);
  const evacuations = [...carried];
  const requests: { reason: string; deadline: number; requestedAt: number }[] = [];
  const request =
    (fallbackReason: string) =>
    (r: EvacuationRequest = {}) => {
      const now = Date.now();
      requests.push({
        reason: r.reason ?? fallbackReason,
        requestedAt: now,
        deadline: now + (r.deadlineSeconds ?? 120) * 1000,
      });
    };
  setHandler(shutdownSignal, request('shutdown'));
  setHandler(lectureStartingSignal, request('lecture starting'));
  let seat: SeatState | null = carriedSeat;
  setHandler(nodeStatusQuery, () => ({ nodeId: input.nodeId, evacuations, seat }));
  // A student sat down at the PC: placement leaves it alone from now on, and its containers leave as before a
  // lecture (with time for pre-copy: the student is not switching it off). After the last logout it is offered
  // again once the idle time passed.
  setHandler(seatSignal, async (change) => {
    if (typeof change?.inUse !== 'boolean' || typeof change.at !== 'string' || Number.isNaN(Date.parse(change.at)))
      return;
    seat = { ...change, heardAt: Date.now() };
    const user = typeof change.user === 'string' ? change.user.slice(0, 64) : null;
    await control.recordSeat({
      nodeId: input.nodeId,
      inUse: change.inUse,
      at: change.at,
      user,
      idleSeconds: Math.max(0, Math.min(7 * 86_400, Math.floor(Number(change.idleSeconds ?? 0)))),
    });
    if (change.inUse)
      request('in use')({ reason: `${user ?? 'a user'} at the keyboard`, deadlineSeconds: IN_USE_DEADLINE_SECONDS });
  });
  setHandler(protectSignal, (r) => openProtectionLeases(input, r?.containerIds));

  for (;;) {
    await condition(() => requests.length > 0 || workflowInfo().continueAsNewSuggested);
    while (requests.length) {
      const r = requests.shift()!;
      const report: EvacuationReport = { ...r, finishedAt: null, containers: [] };
      evacuations.push(report);
      if (evacuations.length > KEEP_REPORTS) evacuations.shift();
      await evacuate(input, report);
      report.finishedAt = Date.now();
    }
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof nodeLifecycle>(input, evacuations, seat);
    }
  }
}

/** Migrates every container off the PC, most valuable first, a few at a time, none started after the deadline. */
export async function evacuate(input: NodeLifecycleInput, report: EvacuationReport): Promise<void> {
  const queue = await control.containersOn({ nodeId: input.nodeId });
  for (const c of queue) report.containers.push({ containerId: c.id, outcome: 'pending' });
  await forEachBounded(queue, input.parallel ?? 2, async (c) => {
    const entry = report.containers.find((x) => x.containerId === c.id)!;
    // A migration already under way is never cut short; one not yet started is not started too late.
    if (Date.now() >= report.deadline) {
      entry.outcome = 'not started (deadline passed)';
      return;
    }
    // Another holder of the container's lock (a safety checkpoint, a recovery, a migration) is waited for, then the
    // container is moved if it is still here: a PC must not power off with a container that was merely busy.
    for (;;) {
      try {
        const result = await executeChild(migrateContainer, {
          workflowId: migrationWorkflowId(c.id),
          args: [
            {
              containerId: c.id,
              reason: `${report.reason} of ${input.nodeId}`,
              timeouts: input.timeouts,
              ...(report.deadline - Date.now() < PRE_COPY_MIN_LEAD_MS ? { preCopy: false } : {}),
            },
          ],
          // The PC's own workflow may be continued or cut; a migration under way must finish regardless.
          parentClosePolicy: ParentClosePolicy.ABANDON,
        });
        entry.outcome = 'moved';
        entry.to = result.to;
        return;
      } catch (err) {
        const message = failureMessage(err);
        if (!/already started|AlreadyStarted/i.test(message)) {
          entry.outcome = 'failed';
          entry.error = message;
          return;
        }
        const still = await control.containersOn({ nodeId: input.nodeId });
        if (!still.some((x) => x.id === c.id)) {
          entry.outcome = 'moved by another workflow';
          return;
        }
        if (Date.now() + LOCK_WAIT_MS >= report.deadline) {
          entry.outcome = 'not started (deadline passed)';
          entry.error = `its lock stayed taken (${message})`;
          return;
        }
        await sleep(LOCK_WAIT_MS);
      }
    }
  });
}

/** Leases opened at once per protect signal (each is a placement decision and two quick activities). */
const LEASES_AT_ONCE = 4;

/**
 * 1. take only the PC's own containers (a PC cannot have another's checkpoints sent anywhere), 2. choose a holder as
 * placement would choose a target (a remnant holder first: a later move there sends little), 3. the holder opens a
 * lease, 4. the PC takes it. A container without a holder stays unprotected until the PC asks again.
 */
export async function openProtectionLeases(input: NodeLifecycleInput, containerIds: unknown): Promise<void> {
  if (!Array.isArray(containerIds)) return;
  const asked = new Set(containerIds.filter((id): id is string => isValidContainerId(id)));
  const own = (await control.containersOn({ nodeId: input.nodeId })).filter((c) => asked.has(c.id));
  await forEachBounded(own, LEASES_AT_ONCE, async (c) => {
    try {
      const decision = await control.selectTarget({
        containerId: c.id,
        exclude: [{ nodeId: input.nodeId, reason: 'the protected container runs there' }],
      });
      if (!decision.chosen) return;
      const lease = await nodeActivities(decision.chosen, input.timeouts).openProtection({
        containerId: c.id,
        source: input.nodeId,
      });
      await nodeActivities(input.nodeId, input.timeouts).acceptProtection({ lease });
    } catch {
      // The PC asks again after a while; an evacuation must not be held up by a holder that is gone.
    }
  });
}
