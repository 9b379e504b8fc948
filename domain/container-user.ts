/**
 * Which PCs can hold a container whose program runs as a user other than root. CRIU reads a program's rlimits
 * with prlimit(2), which the kernel allows another user's process only to a caller with CAP_SYS_RESOURCE: on a PC
 * whose root lacks it (some sandboxed machines), such a container would start and then never move again. Pure.
 */
import type { ContainerUser } from './reports';

/** Capability bit of CAP_SYS_RESOURCE (linux/capability.h). */
const CAP_SYS_RESOURCE = 24n;

/** Whether a /proc/<pid>/status text shows CAP_SYS_RESOURCE among the effective capabilities. */
export function hasSysResource(procStatus: string): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(procStatus)?.[1];
  return hex !== undefined && ((BigInt(`0x${hex}`) >> CAP_SYS_RESOURCE) & 1n) === 1n;
}

/** Why this PC must not hold a container running as `user` (null: it may). */
export function userRefusal(
  containerId: string,
  user: ContainerUser | undefined,
  nodeId: string,
  checkpointsOtherUsers: boolean,
): string | null {
  if (!user || user.uid === 0 || checkpointsOtherUsers) return null;
  return (
    `${nodeId} cannot checkpoint container ${containerId}, whose program runs as uid ${user.uid}: its root lacks ` +
    `CAP_SYS_RESOURCE, which CRIU needs to read another user's limits. Run it on a PC with full root, or as root.`
  );
}
