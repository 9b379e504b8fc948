// The cluster's certificate authority and the certificates of whoever talks to Temporal through the gate: the gate
// itself (server), each PC (client, CN "node:<id>"), the control plane ("control") and administrators ("admin").
// Made with the openssl CLI (Node's crypto reads certificates but cannot sign them); keys are EC P-256, mode 0600.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  CertUsage,
  certificateSha256,
  NEW_EC_KEY,
  newKeyAndRequest,
  openssl,
  signRequest,
  TEMPORAL_SERVER_NAME,
} from '../../common/certificate-authority';
import { mkdirPrivate } from './private-dir';

/** The name clients expect the gate to prove (its certificate's subjectAltName), whatever address they dial. */
export const GATE_SERVER_NAME = TEMPORAL_SERVER_NAME;

export interface CertPair {
  crt: string;
  key: string;
}

export interface Pki {
  ca: string;
  caKey: string;
}

/** The cluster CA under `dir` (made once: every certificate of the cluster chains to it). */
export async function ensureCa(dir: string): Promise<Pki> {
  mkdirPrivate(dir);
  const ca = path.join(dir, 'ca.crt');
  const caKey = path.join(dir, 'ca.key');
  if (!existsSync(ca) || !existsSync(caKey)) {
    await openssl(
      ['req', '-x509', ...NEW_EC_KEY, '-keyout', caKey, '-out', ca, '-days', '3650', '-subj', '/CN=zanshin cluster CA'],
      'making the cluster CA',
    );
  }
  return { ca, caKey };
}

/**
 * Issues `<name>.crt` / `<name>.key` under `dir`, signed by the CA: a server certificate for `GATE_SERVER_NAME`, a
 * client certificate whose CN is the identity the gate (or the Temporal server's authorizer) admits, a peer's (both:
 * the full Temporal server's services call each other with mutual TLS), or an HTTPS server's. Replaces an older pair.
 */
export async function issueCert(
  pki: Pki,
  dir: string,
  name: string,
  o: { commonName: string; usage: CertUsage['kind'] | CertUsage },
): Promise<CertPair> {
  if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(o.commonName)) throw new Error(`bad certificate name ${o.commonName}`);
  mkdirPrivate(dir);
  const key = path.join(dir, `${name}.key`);
  const crt = path.join(dir, `${name}.crt`);
  const usage = typeof o.usage === 'string' ? ({ kind: o.usage } as CertUsage) : o.usage;
  const { keyPem, csrPem } = await newKeyAndRequest(o.commonName);
  writeFileSync(key, keyPem, { mode: 0o600 });
  writeFileSync(crt, await signRequest(pki, csrPem, usage));
  return { crt, key };
}

/** SHA-256 of a certificate's DER, lower-case hex: what the gate looks up to know whether it was revoked. */
export function certFingerprint(crtFile: string): string {
  return certificateSha256(readFileSync(crtFile));
}
