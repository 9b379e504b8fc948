import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, startChild, WorkflowIdReusePolicy } from '@temporalio/workflow';
import { isValidNodeId, lectureEvacuationWorkflowId, NODE_ID_RULE } from '../common/names';
import { controlActivities, NodeTimeouts } from './activity-proxies';
import { evacuate, EvacuationReport } from './node-lifecycle';
import { invalidInput } from './workflow-helpers';

export interface LectureEvacuationsInput {
  /** Migrations at the same time in one PC's evacuation. @default 2 */
  parallel?: number;
  /** How often the schedule runs this. @default 60 s */
  intervalMs?: number;
  /** Added to each PC's estimated evacuation time. @default 120 s */
  safetyMs?: number;
  timeouts?: NodeTimeouts;
}

export interface LectureEvacuationsResult {
  started: { nodeId: string; lectureAt: string; workflowId: string; containers: string[] }[];
  /** Evacuations already under way (started by an earlier run). */
  underWay: string[];
  newConflicts: number;
}

const control = controlActivities('60s');

/**
 * Run every minute by a schedule: each PC whose next lecture is closer than the time its containers take to leave
 * (domain/lecture-evacuation.ts) gets an evacuation, one per PC and lecture; containers caught on a PC in a lecture
 * are recorded as lecture conflicts and moved off too.
 */
export async function lectureEvacuations(input: LectureEvacuationsInput = {}): Promise<LectureEvacuationsResult> {
  const { due, newConflicts } = await control.planLectureEvacuations({
    ...(input.parallel ? { parallel: input.parallel } : {}),
    ...(input.intervalMs ? { intervalMs: input.intervalMs } : {}),
    ...(input.safetyMs !== undefined ? { safetyMs: input.safetyMs } : {}),
  });
  const result: LectureEvacuationsResult = { started: [], underWay: [], newConflicts };
  for (const d of due) {
    const workflowId = lectureEvacuationWorkflowId(d.nodeId, new Date(d.lectureAt));
    try {
      await startChild(evacuateForLecture, {
        workflowId,
        args: [
          {
            nodeId: d.nodeId,
            deadlineSeconds: d.deadlineSeconds,
            reason: d.reason,
            ...(input.parallel ? { parallel: input.parallel } : {}),
            ...(input.timeouts ? { timeouts: input.timeouts } : {}),
          },
        ],
        // It outlives this run; a finished one for the same lecture may run again (a container arrived since).
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      });
      result.started.push({ nodeId: d.nodeId, lectureAt: d.lectureAt, workflowId, containers: d.containers });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      result.underWay.push(workflowId);
    }
  }
  return result;
}

export interface EvacuateForLectureInput {
  nodeId: string;
  deadlineSeconds: number;
  reason: string;
  parallel?: number;
  timeouts?: NodeTimeouts;
}

/** One PC's evacuation for a lecture: every container off it, none started after the lecture begins. */
export async function evacuateForLecture(input: EvacuateForLectureInput): Promise<EvacuationReport> {
  if (!isValidNodeId(input?.nodeId) || !(input.deadlineSeconds > 0))
    throw invalidInput(`evacuateForLecture needs {"nodeId", "deadlineSeconds" > 0, "reason"} (${NODE_ID_RULE})`, input);
  const requestedAt = Date.now();
  const report: EvacuationReport = {
    reason: input.reason,
    requestedAt,
    deadline: requestedAt + input.deadlineSeconds * 1000,
    finishedAt: null,
    containers: [],
  };
  await evacuate(
    { nodeId: input.nodeId, ...(input.parallel ? { parallel: input.parallel } : {}), timeouts: input.timeouts },
    report,
  );
  report.finishedAt = Date.now();
  return report;
}
