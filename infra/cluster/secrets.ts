import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Reads a secret from `dir/name`, creating it (random, mode 0600) the first time. Secrets never enter the repo. */
export function ensureSecret(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, name);
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

export interface ClusterSecrets {
  adminTokenFile: string;
  adminToken: string;
  postgresPassword: string;
}

export function ensureClusterSecrets(dir: string): ClusterSecrets {
  return {
    adminToken: ensureSecret(dir, 'admin-token'),
    postgresPassword: ensureSecret(dir, 'postgres-password'),
    adminTokenFile: path.join(dir, 'admin-token'),
  };
}

/** Where a PC's own migration-api credential is kept (mode 0600), for its node worker. */
export function nodeCredentialFile(dir: string, nodeId: string): string {
  return path.join(dir, 'nodes', `${nodeId}.token`);
}

/** Writes a PC's credential, replacing the one it had. */
export function writeNodeCredential(dir: string, nodeId: string, token: string): string {
  const file = nodeCredentialFile(dir, nodeId);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return file;
}
