/**
 * Who the Temporal gate lets through, by client certificate (all of the cluster CA; the handshake refuses any other):
 * the control plane and administrators, and each PC with its current, unrevoked certificate. Pure.
 */

/** Certificate names of the control host's own parts (their keys never leave it). */
export const CONTROL_IDENTITIES = ['control', 'admin'];

/** A PC's certificate name: node:<id>. */
export const nodeIdentity = (nodeId: string): string => `node:${nodeId}`;

/** The PC a certificate name stands for, or null. */
export function nodeOfIdentity(commonName: string): string | null {
  return /^node:([a-z][a-z0-9-]{0,30})$/.exec(commonName)?.[1] ?? null;
}

/** Why a certificate may not pass now (null: it may), given the PC's record (null: it has no credential). */
export function gateRefusal(
  peer: { commonName: string; fingerprint: string },
  record: { certSha256: string | null; revokedAt: Date | null } | null,
): string | null {
  if (CONTROL_IDENTITIES.includes(peer.commonName)) return null;
  const nodeId = nodeOfIdentity(peer.commonName);
  if (!nodeId) return `unknown identity ${JSON.stringify(peer.commonName)}`;
  if (!record) return `PC ${nodeId} has no credential`;
  if (record.revokedAt) return `the credential of PC ${nodeId} was revoked at ${record.revokedAt.toISOString()}`;
  if (record.certSha256 !== peer.fingerprint) return `this is not the current certificate of PC ${nodeId}`;
  return null;
}
