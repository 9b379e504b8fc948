import { readFile } from 'node:fs/promises';

/** CRIU prints this as an error on some VMs; it is harmless and would hide the real cause. */
const HARMLESS_CRIU_ERRORS = [/Can't setup RLIMIT_NOFILE for self/];

/** The lines of a CRIU log that say what went wrong. */
export async function criuErrors(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const errors = text
    .split('\n')
    .filter((l) => /Error \(|Error:/.test(l) && !HARMLESS_CRIU_ERRORS.some((re) => re.test(l)));
  return errors.slice(-8).join('\n');
}
