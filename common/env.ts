import { readFileSync } from 'node:fs';
import { ConfigError } from './errors';

/** The environment settings are read from (process.env, or a test's own). */
export type Env = Record<string, string | undefined>;

/** A string setting, or its default when unset or empty. */
export function envString(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

/** A required string setting; fails naming the variable. */
export function envRequired(env: Env, name: string, hint: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new ConfigError(`${name} is not set: ${hint}`);
  return value;
}

/** An integer setting within [min, max], or its default when unset. */
export function envInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a whole number`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name}=${value} is out of range [${min}, ${max}]`);
  return value;
}

/**
 * A secret from NAME, or from the file named by NAME_FILE (so secrets need not sit in the environment).
 * Fails naming both variables when neither is set.
 */
export function envSecret(env: Env, name: string): string {
  const direct = env[name];
  if (direct) return direct;
  const file = env[`${name}_FILE`];
  if (!file) throw new ConfigError(`${name} (or ${name}_FILE, a file holding it) is not set`);
  let value: string;
  try {
    value = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`${name}_FILE=${file} cannot be read: ${(err as Error).message}`);
  }
  if (!value) throw new ConfigError(`${name}_FILE=${file} is empty`);
  return value;
}
