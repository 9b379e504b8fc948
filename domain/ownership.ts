// Owners (issue 31): who may see a container, and whether a new one fits an owner's quotas. Pure: the API's routes
// and their tests share it.
import type { RootfsSource } from './reports';

/** What an owner may hold at once. */
export interface OwnerQuota {
  containers: number;
  memoryMiB: number;
  diskMiB: number;
}

/** What an owner holds now (every container of theirs, whatever its state: a stopped one keeps its checkpoint). */
export type OwnerUsage = OwnerQuota;

/** Quotas an owner gets when the administrator names none. */
export const DEFAULT_OWNER_QUOTA: OwnerQuota = { containers: 3, memoryMiB: 2048, diskMiB: 8192 };

/** Owner ids: lower-case, like PC ids (they appear in paths and logs). */
export const OWNER_ID_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;

/**
 * Who asks: an administrator sees everything, a PC what its reports and workers need (as before owners), an owner
 * only their own containers.
 */
export type Viewer = { role: 'admin' } | { role: 'node' } | { role: 'owner'; ownerId: string };

/** Whether `viewer` may know that a container of `owner` (null: an administrator's) exists. */
export function maySee(viewer: Viewer, owner: string | null): boolean {
  return viewer.role !== 'owner' || owner === viewer.ownerId;
}

/** Why a container of this size would not fit the owner's quota; null when it fits. */
export function quotaRefusal(
  ownerId: string,
  quota: OwnerQuota,
  usage: OwnerUsage,
  wanted: { memoryMiB: number; diskMiB: number },
): string | null {
  const over: string[] = [];
  if (usage.containers + 1 > quota.containers) over.push(`containers ${usage.containers} + 1 > ${quota.containers}`);
  if (usage.memoryMiB + wanted.memoryMiB > quota.memoryMiB)
    over.push(`memory ${usage.memoryMiB} + ${wanted.memoryMiB} MiB > ${quota.memoryMiB} MiB`);
  if (usage.diskMiB + wanted.diskMiB > quota.diskMiB)
    over.push(`disk ${usage.diskMiB} + ${wanted.diskMiB} MiB > ${quota.diskMiB} MiB`);
  return over.length
    ? `owner ${ownerId} is over quota (${over.join('; ')}): delete a container, or ask an administrator for more`
    : null;
}

/**
 * Why an owner may not start from this rootfs; null when they may. A directory, a tarball or a local image names a
 * file of the control plane's host (a rootfs of "/" would hand the owner the host): owners start from registry images.
 */
export function ownerRootfsRefusal(rootfs: RootfsSource): string | null {
  if (rootfs.image?.startsWith('docker://')) return null;
  return 'owners start containers from registry images only (rootfs.image "docker://HOST/NAME:TAG"): directories, tarballs and local images are files of the control plane\'s host, for administrators';
}
