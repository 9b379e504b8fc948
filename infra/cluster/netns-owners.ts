// Which cluster made which network namespace. Namespaces are named by prefix (zs-pc1, zs-lan, zsc-pc1-c1), and two
// clusters (two data directories) may use the same names at different times: a stop must remove its own and never
// another running cluster's. Each namespace a cluster creates is recorded here with the state file of its cluster;
// /run is emptied at boot, as the namespaces are.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readState } from './state';

/** Where the records live (a setting for tests). */
export const ownersDir = (): string => process.env.ZANSHIN_NETNS_OWNERS_DIR ?? '/run/zanshin/netns-owners';

/** Records `names` as made by the cluster whose state file is `stateFile`. */
export function claimNamespaces(names: string[], stateFile: string): void {
  mkdirSync(ownersDir(), { recursive: true, mode: 0o700 });
  for (const name of names) writeFileSync(path.join(ownersDir(), name), stateFile);
}

export function releaseNamespaces(names: string[]): void {
  for (const name of names) rmSync(path.join(ownersDir(), name), { force: true });
}

/** The state file of the cluster that made `name`, or null when no record says. */
export function ownerOf(name: string): string | null {
  const file = path.join(ownersDir(), name);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
}

/** A cluster is live while its state file exists (a stop removes it last). */
const isLive = (stateFile: string): boolean => existsSync(stateFile);

/** Namespace prefixes of the live clusters other than the one of `stateFile`. */
export function otherLivePrefixes(stateFile: string): Map<string, string> {
  const prefixes = new Map<string, string>();
  const owners = new Set(
    (existsSync(ownersDir()) ? readdirSync(ownersDir()) : []).map((n) => ownerOf(n)).filter((o) => o !== null),
  );
  for (const owner of owners) {
    if (owner === stateFile || !isLive(owner)) continue;
    const state = (() => {
      try {
        return readState(owner);
      } catch {
        return null;
      }
    })();
    if (state) prefixes.set(state.config.namePrefix, path.dirname(path.dirname(owner)));
  }
  return prefixes;
}

export interface NamespaceClaims {
  /** Made by this cluster, or by one that is gone: this cluster may remove them. */
  ours: string[];
  /** Made by another cluster that still runs, with its data directory. */
  others: { name: string; dataDir: string }[];
  /** No record (made by hand, or by a version that kept none). */
  unknown: string[];
}

/** Sorts `names` by who made them, as seen by the cluster of `stateFile`. */
export function classifyNamespaces(names: string[], stateFile: string): NamespaceClaims {
  const claims: NamespaceClaims = { ours: [], others: [], unknown: [] };
  for (const name of names) {
    const owner = ownerOf(name);
    if (owner === null) claims.unknown.push(name);
    else if (owner === stateFile || !isLive(owner)) claims.ours.push(name);
    // A state file lives at <data dir>/run/cluster.json.
    else claims.others.push({ name, dataDir: path.dirname(path.dirname(owner)) });
  }
  return claims;
}
