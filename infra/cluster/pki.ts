// The cluster's certificate authority and the certificates of whoever talks to Temporal through the gate: the gate
// itself (server), each PC (client, CN "node:<id>"), the control plane ("control") and administrators ("admin").
// Made with the openssl CLI (Node's crypto reads certificates but cannot sign them); keys are EC P-256, mode 0600.
import execa from 'execa';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { mkdirPrivate } from './private-dir';

/** The name clients expect the gate to prove (its certificate's subjectAltName), whatever address they dial. */
export const GATE_SERVER_NAME = 'temporal.zanshin';

export interface CertPair {
  crt: string;
  key: string;
}

export interface Pki {
  ca: string;
  caKey: string;
}

/** A new EC P-256 key, unencrypted (files are mode 0600 under the secrets directory). */
const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function openssl(args: string[], what: string): Promise<void> {
  const r = await execa('openssl', args, { reject: false });
  if (r.exitCode !== 0) throw new Error(`${what}: openssl ${args[0]} failed: ${r.stderr.trim()}`);
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
 * client certificate whose CN is the identity the gate (or the Temporal server's authorizer) admits, or a peer's (both:
 * the full Temporal server's services call each other with mutual TLS). Replaces an older pair of that name.
 */
export async function issueCert(
  pki: Pki,
  dir: string,
  name: string,
  o: { commonName: string; usage: 'server' | 'client' | 'peer' },
): Promise<CertPair> {
  if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(o.commonName)) throw new Error(`bad certificate name ${o.commonName}`);
  mkdirPrivate(dir);
  const key = path.join(dir, `${name}.key`);
  const crt = path.join(dir, `${name}.crt`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    {
      server: `subjectAltName=DNS:${GATE_SERVER_NAME}\nextendedKeyUsage=serverAuth\n`,
      client: 'extendedKeyUsage=clientAuth\n',
      peer: `subjectAltName=DNS:${GATE_SERVER_NAME}\nextendedKeyUsage=serverAuth,clientAuth\n`,
    }[o.usage],
  );
  try {
    await openssl(
      ['req', ...NEW_EC_KEY, '-keyout', key, '-out', csr, '-subj', `/CN=${o.commonName}`],
      `making the key of ${o.commonName}`,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        pki.ca,
        '-CAkey',
        pki.caKey,
        '-set_serial',
        `0x${randomBytes(16).toString('hex')}`,
        '-out',
        crt,
        '-days',
        '825',
        '-extfile',
        ext,
      ],
      `signing the certificate of ${o.commonName}`,
    );
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
  return { crt, key };
}

/** SHA-256 of a certificate's DER, lower-case hex: what the gate looks up to know whether it was revoked. */
export function certFingerprint(crtFile: string): string {
  return new X509Certificate(readFileSync(crtFile)).fingerprint256.replace(/:/g, '').toLowerCase();
}
