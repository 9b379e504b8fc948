// Signing with the cluster's CA: the local cluster's own certificates (infra/cluster/pki.ts) and the certificates PCs
// ask for when they enroll (api/routes/enrollment.ts). The openssl CLI does the X.509 work (Node's crypto reads
// certificates but cannot parse requests or sign them); requests and extensions pass through a private temporary
// directory that is removed afterwards.
import execa from 'execa';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The name clients expect Temporal (the gate, or the full server) to prove, whatever address they dial. */
export const TEMPORAL_SERVER_NAME = 'temporal.zanshin';

/** The CA's files. */
export interface CaFiles {
  ca: string;
  caKey: string;
}

/**
 * What a certificate is for: a Temporal server (its SAN), a client (CN = the identity admitted), a peer (both: the
 * full server's services call each other), or an HTTPS server for the names and addresses given.
 */
export type CertUsage =
  { kind: 'server' | 'client' | 'peer' } | { kind: 'https'; dnsNames: string[]; ipAddresses: string[] };

export class CertificateRequestError extends Error {}

/** A new EC P-256 key, unencrypted (written mode 0600 where it is kept). */
export const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Certificates last this long (the longest browsers accept; PCs are re-enrolled far sooner). */
export const CERT_DAYS = 825;

function extensions(usage: CertUsage): string {
  switch (usage.kind) {
    case 'server':
      return `subjectAltName=DNS:${TEMPORAL_SERVER_NAME}\nextendedKeyUsage=serverAuth\n`;
    case 'client':
      return 'extendedKeyUsage=clientAuth\n';
    case 'peer':
      return `subjectAltName=DNS:${TEMPORAL_SERVER_NAME}\nextendedKeyUsage=serverAuth,clientAuth\n`;
    case 'https': {
      const names = [...usage.dnsNames.map((d) => `DNS:${d}`), ...usage.ipAddresses.map((ip) => `IP:${ip}`)];
      return `subjectAltName=${names.join(',')}\nextendedKeyUsage=serverAuth\n`;
    }
  }
}

/** Runs the openssl CLI; its output, or an error naming what failed and openssl's words. */
export async function openssl(args: string[], what: string, input?: string): Promise<string> {
  const r = await execa('openssl', args, { reject: false, ...(input === undefined ? {} : { input }) });
  if (r.exitCode !== 0) throw new Error(`${what}: openssl ${args[0]} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

function withScratch<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-ca-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** A new EC P-256 key and a request for `commonName`, PEM (the key unencrypted). */
export async function newKeyAndRequest(commonName: string): Promise<{ keyPem: string; csrPem: string }> {
  return withScratch(async (dir) => {
    const key = path.join(dir, 'key.pem');
    const csrPem = await openssl(
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-subj',
        `/CN=${commonName}`,
      ],
      `making the key of ${commonName}`,
    );
    return { keyPem: readFileSync(key, 'utf8'), csrPem };
  });
}

/** The CN a certificate request asks for, once its signature (made with the key it carries) is checked. */
export async function requestCommonName(csrPem: string): Promise<string> {
  if (
    !/^-----BEGIN CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE REQUEST-----\r?\n?$/.test(csrPem)
  )
    throw new CertificateRequestError('not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST----- ...)');
  const out = await openssl(
    ['req', '-noout', '-verify', '-subject', '-nameopt', 'RFC2253'],
    'reading the certificate request',
    csrPem,
  ).catch((err: Error) => {
    throw new CertificateRequestError(`the certificate request does not verify: ${err.message}`);
  });
  const cn = /^subject=(?:.*,)?CN=([^,\n]+)/m.exec(out)?.[1];
  if (!cn) throw new CertificateRequestError('the certificate request names no CN');
  return cn;
}

/** Signs a request with the CA for `usage`; the certificate, PEM. The caller has checked what the request asks. */
export async function signRequest(ca: CaFiles, csrPem: string, usage: CertUsage, days = CERT_DAYS): Promise<string> {
  return withScratch(async (dir) => {
    const csr = path.join(dir, 'req.csr');
    const ext = path.join(dir, 'ext.cnf');
    writeFileSync(csr, csrPem);
    writeFileSync(ext, extensions(usage));
    return openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        ca.ca,
        '-CAkey',
        ca.caKey,
        '-set_serial',
        `0x${randomBytes(16).toString('hex')}`,
        '-days',
        String(days),
        '-extfile',
        ext,
      ],
      'signing a certificate',
    );
  });
}

/** SHA-256 of a certificate's DER, lower-case hex: how node_credentials names a PC's current certificate. */
export function certificateSha256(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}

/**
 * A self-signed certificate and key for `commonName`, valid for `ipAddress`: a PC's data plane makes one at each start
 * and hands the certificate to sources with each transfer (through Temporal, encrypted), which trust that one alone.
 */
export async function selfSignedPair(
  commonName: string,
  ipAddress: string,
  days = 30,
): Promise<{ certPem: string; keyPem: string }> {
  return withScratch(async (dir) => {
    const key = path.join(dir, 'key.pem');
    const certPem = await openssl(
      [
        'req',
        '-x509',
        ...NEW_EC_KEY,
        '-keyout',
        key,
        '-days',
        String(days),
        '-subj',
        `/CN=${commonName}`,
        '-addext',
        `subjectAltName=IP:${ipAddress}`,
        '-addext',
        'extendedKeyUsage=serverAuth',
      ],
      `making the data plane's certificate of ${commonName}`,
    );
    return { certPem, keyPem: readFileSync(key, 'utf8') };
  });
}
