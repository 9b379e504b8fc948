// A PC enrolls (issue 32): it makes its own key (which never leaves it), sends a certificate request for node:<pc>
// with the join token an administrator gave it, and keeps what migration-api answers: its credential, its client
// certificate for Temporal, and the cluster CA. Used by `zanshin-enroll` (cli/enroll.ts) and the PC install script.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { newKeyAndRequest } from '../common/certificate-authority';
import { NODE_ID_PATTERN, NODE_ID_RULE } from '../common/names';

export interface EnrollOptions {
  /** migration-api's URL, https:// on a campus (the token and credential cross the LAN). */
  apiUrl: string;
  token: string;
  nodeId: string;
  /** Where the PC keeps its files (mode 0700). @default /etc/zanshin */
  dir: string;
  /** The cluster CA to trust for an https:// URL (the administrator hands it out with the token). */
  caFile?: string;
  /** Replace files of an earlier enrollment. @default false */
  force?: boolean;
}

/** The files an enrolled PC has, under its directory. */
export const ENROLLED_FILES = {
  key: 'node.key',
  cert: 'node.crt',
  ca: 'ca.crt',
  token: 'node-token',
  payloadKey: 'payload-key',
} as const;

function postJson(url: URL, body: unknown, ca?: Buffer): Promise<{ status: number; body: Record<string, unknown> }> {
  const data = JSON.stringify(body);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        ...(ca ? { ca } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
          } catch {
            reject(new Error(`migration-api answered ${res.statusCode}, not JSON: ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('error', (err) => reject(new Error(`cannot reach migration-api at ${url.origin}: ${err.message}`)));
    req.end(data);
  });
}

/** Enrolls this PC; the paths of its files (the payload key's only if the cluster has one). */
export async function enrollPc(o: EnrollOptions): Promise<Record<keyof typeof ENROLLED_FILES, string>> {
  if (!NODE_ID_PATTERN.test(o.nodeId)) throw new Error(`--node ${JSON.stringify(o.nodeId)}: ${NODE_ID_RULE}`);
  const files = Object.fromEntries(
    Object.entries(ENROLLED_FILES).map(([k, name]) => [k, path.join(o.dir, name)]),
  ) as Record<keyof typeof ENROLLED_FILES, string>;
  if (!o.force && existsSync(files.token))
    throw new Error(`${files.token} exists: this PC is enrolled already (give --force to enroll it again)`);
  const url = new URL('/v1/enroll', o.apiUrl);
  const ca = o.caFile ? readFileSync(o.caFile) : undefined;
  const { keyPem, csrPem } = await newKeyAndRequest(`node:${o.nodeId}`);
  const answer = await postJson(url, { token: o.token, certificateRequest: csrPem }, ca);
  if (answer.status !== 201)
    throw new Error(`migration-api refused the enrollment (${answer.status}): ${String(answer.body.message)}`);
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  chmodSync(o.dir, 0o700);
  writeFileSync(files.key, keyPem, { mode: 0o600 });
  writeFileSync(files.cert, String(answer.body.certificate));
  writeFileSync(files.ca, String(answer.body.ca));
  writeFileSync(files.token, `${String(answer.body.token)}\n`, { mode: 0o600 });
  if (typeof answer.body.payloadKey === 'string')
    writeFileSync(files.payloadKey, `${answer.body.payloadKey}\n`, { mode: 0o600 });
  return files;
}
