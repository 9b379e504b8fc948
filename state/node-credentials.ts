// The only writer of `node_credentials`: one credential per PC, stored as a hash, revocable one by one.
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { Queryable, secretHash } from './db';

/**
 * Issues a new credential for a PC (its previous one stops working) and returns the token, shown only now.
 * `certificateSha256`: the PC's client certificate for the Temporal gate, the only one of it the gate admits.
 */
export async function issueNodeCredential(db: Queryable, nodeId: string, certificateSha256?: string): Promise<string> {
  const token = `zn_${randomBytes(32).toString('base64url')}`;
  await db.query(
    `INSERT INTO node_credentials (node_id, token_sha256, cert_sha256) VALUES ($1, $2, $3)
     ON CONFLICT (node_id) DO UPDATE SET token_sha256 = $2, cert_sha256 = $3, issued_at = now(), revoked_at = NULL`,
    [nodeId, secretHash(token), certificateSha256 ?? null],
  );
  return token;
}

/** What the Temporal gate needs to know of a PC: its current certificate and whether it was revoked. */
export async function gateRecordOf(
  db: Pool,
  nodeId: string,
): Promise<{ certSha256: string | null; revokedAt: Date | null } | null> {
  const { rows } = await db.query<{ certSha256: string | null; revokedAt: Date | null }>(
    'SELECT cert_sha256 AS "certSha256", revoked_at AS "revokedAt" FROM node_credentials WHERE node_id = $1',
    [nodeId],
  );
  return rows[0] ?? null;
}

/** Revokes a PC's credential; false when the PC has none (or it was revoked already). */
export async function revokeNodeCredential(db: Pool, nodeId: string): Promise<boolean> {
  const r = await db.query('UPDATE node_credentials SET revoked_at = now() WHERE node_id = $1 AND revoked_at IS NULL', [
    nodeId,
  ]);
  return (r.rowCount ?? 0) > 0;
}

/** Whose credential a token is, and whether it was revoked; null for a token no PC was given. */
export async function credentialOf(
  db: Pool,
  token: string,
): Promise<{ nodeId: string; revokedAt: Date | null } | null> {
  const { rows } = await db.query<{ nodeId: string; revokedAt: Date | null }>(
    'SELECT node_id AS "nodeId", revoked_at AS "revokedAt" FROM node_credentials WHERE token_sha256 = $1',
    [secretHash(token)],
  );
  return rows[0] ?? null;
}
