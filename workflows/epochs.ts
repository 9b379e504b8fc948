// Every restore runs a new copy of a container under a new epoch (domain/generations.ts): PostgreSQL gives it just
// before the restore, so a PC still running an older copy learns from its next report that it is stale.
import { controlActivities } from './activity-proxies';

/** The epoch of the copy a restore is about to run, as activity input ({} for containers migration-api does not keep). */
export async function epochForRestore(containerId: string): Promise<{ epoch?: number }> {
  const epoch = await controlActivities('30s').nextEpoch({ containerId });
  return epoch === null ? {} : { epoch };
}
