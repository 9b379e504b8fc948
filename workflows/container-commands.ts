// Everyday container commands, each a short workflow so that the API reaches the PC that runs the container
// through that PC's own task queue: stop (with a final checkpoint), start again from it, exec, logs.
import { ErrorType } from '../common/errors';
import { isValidContainerId } from '../common/names';
import { controlActivities, nodeActivities, NodeTimeouts } from './activity-proxies';
import { epochForRestore } from './epochs';
import { finalFailure, invalidInput } from './workflow-helpers';

const control = controlActivities('30s');

/** The PC a container is recorded on, checking that it is in one of the states the command needs. */
async function placeOf(containerId: string, states: string[], command: string): Promise<string> {
  if (!isValidContainerId(containerId)) throw invalidInput(`${command} needs {"containerId"}`, containerId);
  const c = await control.loadContainer({ containerId });
  if (!states.includes(c.state) || !c.nodeId) {
    throw finalFailure(
      ErrorType.InvalidInput,
      `container ${containerId} is ${c.state}${c.nodeId ? ` on ${c.nodeId}` : ''}: ${command} needs it ${states.join(' or ')}`,
    );
  }
  return c.nodeId;
}

/**
 * Stops a running container with a final checkpoint on its PC, kept there (never expired by remnant GC) so that
 * startStoppedContainer brings it back where it left off. Runs as migrate-<container>: never during a migration.
 */
export async function stopContainer(input: {
  containerId: string;
  timeouts?: NodeTimeouts;
}): Promise<{ nodeId: string; generation: number }> {
  const nodeId = await placeOf(input?.containerId, ['running'], 'stop');
  const { generation } = await nodeActivities(nodeId, input.timeouts).stopWithCheckpoint({
    containerId: input.containerId,
  });
  await control.recordStopped({ containerId: input.containerId, nodeId, generation });
  return { nodeId, generation };
}

/** Starts a container stopped by stopContainer, on the PC holding its final checkpoint. */
export async function startStoppedContainer(input: {
  containerId: string;
  timeouts?: NodeTimeouts;
}): Promise<{ nodeId: string; generation: number }> {
  const nodeId = await placeOf(input?.containerId, ['stopped'], 'start');
  const { generation } = await nodeActivities(nodeId, input.timeouts).startStopped({
    containerId: input.containerId,
    ...(await epochForRestore(input.containerId)),
  });
  await control.recordRunning({ containerId: input.containerId, nodeId });
  return { nodeId, generation };
}

/**
 * A container whose program ended starts afresh where it is, on its current rootfs, as its restart policy says (the
 * API starts this when a PC's report shows the back-off has passed). Runs as migrate-<container>.
 */
export async function restartContainer(input: {
  containerId: string;
  timeouts?: NodeTimeouts;
}): Promise<{ nodeId: string; state: string }> {
  const nodeId = await placeOf(input?.containerId, ['exited'], 'restart');
  await nodeActivities(nodeId, input.timeouts).restartContainer({
    containerId: input.containerId,
    ...(await epochForRestore(input.containerId)),
  });
  await control.recordRestart({ containerId: input.containerId, nodeId });
  return { nodeId, state: 'running' };
}

/** Runs a command in a running container and returns its exit code and output. */
export async function execInContainer(input: { containerId: string; args: string[]; timeoutSeconds?: number }) {
  if (!Array.isArray(input?.args) || !input.args.length || !input.args[0])
    throw invalidInput('execInContainer needs {"containerId", "args": ["program", ...]}', input);
  const nodeId = await placeOf(input.containerId, ['running'], 'exec');
  const r = await nodeActivities(nodeId).execInContainer({
    containerId: input.containerId,
    args: input.args,
    timeoutSeconds: input.timeoutSeconds ?? 60,
  });
  return { nodeId, ...r };
}

/** The tail of a container's stdout or stderr, wherever it is (running, stopped or exited). */
export async function containerLogs(input: { containerId: string; stream?: 'stdout' | 'stderr'; tailBytes?: number }) {
  const nodeId = await placeOf(input?.containerId, ['running', 'stopped', 'exited', 'migrating'], 'logs');
  const stream = input.stream ?? 'stdout';
  return {
    nodeId,
    stream,
    ...(await nodeActivities(nodeId).readLog({
      containerId: input.containerId,
      stream,
      tailBytes: input.tailBytes ?? 64 * 1024,
    })),
  };
}
