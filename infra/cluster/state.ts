import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ClusterConfig } from './config';
import type { ProcessRecord } from './processes';

/** What a running cluster consists of: written after every step of a start, so stop always knows it all. */
export interface ClusterState {
  version: 1;
  startedAt: string;
  config: ClusterConfig;
  processes: ProcessRecord[];
  namespaces: string[];
}

export function readState(file: string): ClusterState | null {
  if (!existsSync(file)) return null;
  const state = JSON.parse(readFileSync(file, 'utf8')) as ClusterState;
  if (state.version !== 1)
    throw new Error(`${file} has unknown version ${String(state.version)}: stop the cluster by hand`);
  return state;
}

/** Atomic write: a crash never leaves a half-written state file. */
export function writeState(file: string, state: ClusterState): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${file}.tmp`, file);
}

export function removeState(file: string): void {
  rmSync(file, { force: true });
}
