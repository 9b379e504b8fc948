import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { mkdirPrivate } from './private-dir';

/** Reads a secret from `dir/name`, creating it (random, mode 0600) the first time. Secrets never enter the repo. */
export function ensureSecret(dir: string, name: string): string {
  mkdirPrivate(dir);
  const file = path.join(dir, name);
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

export interface ClusterSecrets {
  adminTokenFile: string;
  adminToken: string;
  postgresPassword: string;
  /** The cluster key payloads are encrypted with (32 random bytes, base64url). */
  payloadKeyFile: string;
}

/** Where the cluster key lives. */
export const payloadKeyFile = (dir: string): string => path.join(dir, 'payload-key');

export function ensureClusterSecrets(dir: string): ClusterSecrets {
  ensureSecret(dir, 'payload-key');
  return {
    adminToken: ensureSecret(dir, 'admin-token'),
    postgresPassword: ensureSecret(dir, 'postgres-password'),
    adminTokenFile: path.join(dir, 'admin-token'),
    payloadKeyFile: payloadKeyFile(dir),
  };
}

/** Where a PC's own migration-api credential is kept (mode 0600), for its node worker. */
export function nodeCredentialFile(dir: string, nodeId: string): string {
  return path.join(dir, 'nodes', `${nodeId}.token`);
}

/** Writes a PC's credential, replacing the one it had. */
export function writeNodeCredential(dir: string, nodeId: string, token: string): string {
  const file = nodeCredentialFile(dir, nodeId);
  mkdirPrivate(path.dirname(file));
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return file;
}
