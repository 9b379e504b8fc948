import { readFileSync } from 'node:fs';
import type { TemporalTls } from './config';

/** The SDK's TLS options (client and worker connections) for mutual TLS through the Temporal gate. */
export function temporalTlsOptions(tls: TemporalTls | null) {
  if (!tls) return {};
  return {
    tls: {
      serverNameOverride: tls.serverName,
      serverRootCACertificate: readFileSync(tls.ca),
      clientCertPair: { crt: readFileSync(tls.cert), key: readFileSync(tls.key) },
    },
  };
}
