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
  nodeTokenFile: string;
  adminToken: string;
  nodeToken: string;
  postgresPassword: string;
}

export function ensureClusterSecrets(dir: string): ClusterSecrets {
  return {
    adminToken: ensureSecret(dir, 'admin-token'),
    nodeToken: ensureSecret(dir, 'node-token'),
    postgresPassword: ensureSecret(dir, 'postgres-password'),
    adminTokenFile: path.join(dir, 'admin-token'),
    nodeTokenFile: path.join(dir, 'node-token'),
  };
}
