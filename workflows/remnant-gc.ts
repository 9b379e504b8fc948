import { controlActivities, nodeActivities } from './activity-proxies';
import { failureMessage } from './workflow-helpers';

const control = controlActivities();

/** Remnant lifecycle (a Temporal Schedule runs this hourly): every live PC expires its old remnants and checkpoints. */
export async function collectRemnants(
  input: { offlineAfterSeconds?: number } = {},
): Promise<{ nodeId: string; removed?: unknown; error?: string }[]> {
  const out = [];
  for (const nodeId of await control.liveNodes({ offlineAfterSeconds: input.offlineAfterSeconds })) {
    try {
      out.push({ nodeId, removed: await nodeActivities(nodeId).collectGarbage() });
    } catch (err) {
      out.push({ nodeId, error: failureMessage(err) });
    }
  }
  return out;
}
