// migration-api over HTTPS (issue 32): its certificate is read from files, and read again when they change.
import { readFileSync, Stats, unwatchFile, watchFile } from 'node:fs';
import type tls from 'node:tls';

export const readPair = (files: { cert: string; key: string }): { cert: Buffer; key: Buffer } => ({
  cert: readFileSync(files.cert),
  key: readFileSync(files.key),
});

/**
 * Certificates rotate without downtime: when the certificate file changes (an administrator or a renewal job
 * replaced it, key first), new connections get the new pair; open ones keep theirs. A pair that does not load (a
 * half-written file) is skipped and tried again at the next change.
 */
export function watchCertificate(
  server: tls.Server,
  files: { cert: string; key: string },
  intervalMs = 2_000,
  log: (line: string) => void = (line) => console.log(`migration-api: ${line}`),
): () => void {
  const reload = (now: Stats, before: Stats) => {
    if (now.mtimeMs === before.mtimeMs) return;
    try {
      server.setSecureContext(readPair(files));
      log(`TLS certificate reloaded from ${files.cert}`);
    } catch (err) {
      log(`new TLS certificate in ${files.cert} not loaded: ${(err as Error).message}`);
    }
  };
  watchFile(files.cert, { interval: intervalMs }, reload);
  return () => unwatchFile(files.cert, reload);
}
