// Enrollment and migration-api over TLS (issue 32 part 3 and 2) against a real PostgreSQL and Temporal: an
// administrator's join token (single use, expiring, bound to one PC) and a certificate request get a PC its
// credential and a certificate of the cluster CA; reused, expired or misdirected tokens and bad requests are refused.
// migration-api serves HTTPS with a certificate of the same CA and takes a new one without a restart.
import { randomBytes, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { buildApi } from '../../api/app';
import { readPair, watchCertificate } from '../../api/tls-rotation';
import { newKeyAndRequest } from '../../common/certificate-authority';
import { enrollPc } from '../../cli/enroll-pc';
import { ensureCa, issueCert, Pki } from '../../infra/cluster/pki';
import { callApi } from '../helpers/http';
import { sampleReport, startTestApi, TestApi } from '../helpers/api-server';

const ADMIN = 'admin-enrollment-test-token';
let server: TestApi;
let dir: string;
let pki: Pki;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-enroll-'));
  pki = await ensureCa(path.join(dir, 'pki'));
  server = await startTestApi(ADMIN, { enrollmentCa: pki });
}, 120_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const joinToken = async (pc: string, body: unknown = {}) =>
  callApi(server.baseUrl, 'POST', `/v1/nodes/${pc}/join-token`, ADMIN, body);

/** An enrollment as a PC sends it (no bearer token: the join token is its proof). */
async function enroll(token: string, certificateRequest: string) {
  const res = await fetch(`${server.baseUrl}/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, certificateRequest }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

it('enrolls a PC with its join token: a credential that works, and a client certificate of the cluster CA', async () => {
  const issued = await joinToken('pc7');
  expect([issued.status, issued.body.nodeId, String(issued.body.token)]).toEqual([
    201,
    'pc7',
    expect.stringMatching(/^zj_/),
  ]);
  const minutes = (Date.parse(String(issued.body.expiresAt)) - Date.now()) / 60_000;
  expect(minutes).toBeGreaterThan(58);
  expect(minutes).toBeLessThanOrEqual(60);
  const { keyPem, csrPem } = await newKeyAndRequest('node:pc7');
  const enrolled = await enroll(String(issued.body.token), csrPem);
  expect([enrolled.status, enrolled.body.nodeId, String(enrolled.body.token)]).toEqual([
    201,
    'pc7',
    expect.stringMatching(/^zn_/),
  ]);
  const cert = new X509Certificate(String(enrolled.body.certificate));
  const ca = new X509Certificate(String(enrolled.body.ca));
  expect([
    cert.subject,
    cert.verify(ca.publicKey),
    cert.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(keyPem))),
  ]).toEqual(['CN=node:pc7', true, true]);
  expect(cert.keyUsage ?? []).toContain('1.3.6.1.5.5.7.3.2'); // clientAuth
  // The credential is the PC's, and the certificate the one the Temporal server and gate admit for it.
  const report = await callApi(
    server.baseUrl,
    'PUT',
    '/v1/nodes/pc7/report',
    String(enrolled.body.token),
    sampleReport({ taskQueue: 'node-pc7' }),
  );
  expect(report.status).toBe(200);
  const { rows } = await server.pool.query<{ cert: string }>(
    "SELECT cert_sha256 AS cert FROM node_credentials WHERE node_id = 'pc7'",
  );
  expect(rows[0]!.cert).toBe(cert.fingerprint256.replace(/:/g, '').toLowerCase());
  // Used once: a second enrollment with it is refused.
  const again = await enroll(String(issued.body.token), (await newKeyAndRequest('node:pc7')).csrPem);
  expect([again.status, again.body.message]).toEqual([
    401,
    expect.stringMatching(/^this join token was used at .*a token enrolls once/),
  ]);
});

it('refuses an expired token, one for another PC (without using it up), a request that is not for a PC, and garbage', async () => {
  const expired = String((await joinToken('pc8', { ttlMinutes: 1 })).body.token);
  await server.pool.query("UPDATE join_tokens SET expires_at = now() - interval '1 second' WHERE node_id = 'pc8'");
  const pc8 = (await newKeyAndRequest('node:pc8')).csrPem;
  expect((await enroll(expired, pc8)).body.message).toMatch(/^this join token expired at /);
  const forPc9 = String((await joinToken('pc9')).body.token);
  const misdirected = await enroll(forPc9, pc8);
  expect([misdirected.status, misdirected.body.message]).toEqual([401, 'this join token is for PC pc9, not pc8']);
  const admin = await enroll(forPc9, (await newKeyAndRequest('admin')).csrPem);
  expect([admin.status, admin.body.message]).toEqual([
    400,
    'the certificate request is for "admin": ask for CN node:<pc>',
  ]);
  const garbage = await enroll(forPc9, 'hello');
  expect([garbage.status, garbage.body.message]).toEqual([400, expect.stringMatching(/not a PEM certificate request/)]);
  expect((await enroll('zj_unknown', pc8)).body.message).toMatch(/^unknown join token/);
  // None of that used pc9's token up.
  expect((await enroll(forPc9, (await newKeyAndRequest('node:pc9')).csrPem)).status).toBe(201);
  // Only an administrator issues tokens, for a valid PC id, for at most a week.
  const pcToken = String((await callApi(server.baseUrl, 'POST', '/v1/nodes/pc1/credential', ADMIN, {})).body.token);
  expect((await callApi(server.baseUrl, 'POST', '/v1/nodes/pc1/join-token', pcToken, {})).status).toBe(403);
  expect((await joinToken('PC 1')).status).toBe(400);
  expect((await joinToken('pc1', { ttlMinutes: 20_000 })).body.message).toMatch(/ttlMinutes must be <= 10080/);
});

it('lets one of two enrollments racing with one token win', async () => {
  const token = String((await joinToken('pc10')).body.token);
  const [a, b] = await Promise.all([
    newKeyAndRequest('node:pc10').then((r) => enroll(token, r.csrPem)),
    newKeyAndRequest('node:pc10').then((r) => enroll(token, r.csrPem)),
  ]);
  expect([a.status, b.status].sort()).toEqual([201, 401]);
});

it('answers 503 naming the settings when migration-api has no CA', async () => {
  const app = buildApi({ db: server.pool, temporal: server.temporal.client, adminToken: ADMIN });
  try {
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${url}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'zj_x', certificateRequest: 'x' }),
    });
    expect([res.status, ((await res.json()) as { message: string }).message]).toEqual([
      503,
      expect.stringMatching(/ZANSHIN_CA_CERT, ZANSHIN_CA_KEY/),
    ]);
  } finally {
    await app.close();
  }
});

const caPem = () => readFileSync(pki.ca);

/** The certificate the server at `port` shows (its SHA-256), checked against the cluster CA. */
function servedCertificate(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'api.zanshin', ca: caPem() }, () => {
      resolve(socket.getPeerX509Certificate()!.fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

it('serves HTTPS with a certificate of the cluster CA, and takes a new one without a restart', async () => {
  const https1 = await issueCert(pki, path.join(dir, 'api1'), 'api', {
    commonName: 'api.zanshin',
    usage: { kind: 'https', dnsNames: ['api.zanshin'], ipAddresses: ['127.0.0.1'] },
  });
  const live = { cert: path.join(dir, 'api.crt'), key: path.join(dir, 'api.key') };
  const payloadKey = randomBytes(32);
  copyFileSync(https1.crt, live.cert);
  copyFileSync(https1.key, live.key);
  const app = buildApi({
    db: server.pool,
    temporal: server.temporal.client,
    adminToken: ADMIN,
    https: readPair(live),
    enrollmentCa: pki,
    payloadKey,
  });
  const lines: string[] = [];
  const stop = watchCertificate(app.server as unknown as tls.Server, live, 100, (l) => lines.push(l));
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    // A client that trusts the cluster CA gets an answer; one that does not is refused at the handshake.
    const health = await new Promise<number>((resolve, reject) =>
      https
        .get(
          { host: '127.0.0.1', port, path: '/health', ca: caPem(), headers: { authorization: `Bearer ${ADMIN}` } },
          (res) => resolve(res.statusCode!),
        )
        .on('error', reject),
    );
    expect(health).toBe(200);
    await expect(
      new Promise((resolve, reject) =>
        https.get({ host: '127.0.0.1', port, path: '/health' }, resolve).on('error', reject),
      ),
    ).rejects.toThrow(/unable to verify the first certificate/);
    // A PC enrolls over it as the install script does (zanshin-enroll), trusting the CA it was handed.
    const etc = path.join(dir, 'pc11-etc');
    const enroll11 = {
      apiUrl: `https://127.0.0.1:${port}`,
      nodeId: 'pc11',
      token: String((await joinToken('pc11')).body.token),
      dir: etc,
      caFile: pki.ca,
    };
    const files = await enrollPc(enroll11);
    expect(Object.values(files).map((f) => (statSync(f).mode & 0o777).toString(8))).toEqual([
      '600',
      '644',
      '644',
      '600',
      '600',
    ]);
    expect(readFileSync(files.payloadKey, 'utf8').trim()).toBe(payloadKey.toString('base64url'));
    expect((statSync(etc).mode & 0o777).toString(8)).toBe('700');
    expect(new X509Certificate(readFileSync(files.cert)).subject).toBe('CN=node:pc11');
    await expect(enrollPc(enroll11)).rejects.toThrow(/this PC is enrolled already \(give --force/);
    await expect(enrollPc({ ...enroll11, force: true })).rejects.toThrow(
      /refused the enrollment \(401\): this join token was used/,
    );
    const before = await servedCertificate(port);
    expect(before).toBe(new X509Certificate(readPair(live).cert).fingerprint256);
    // Rotation: the key first, then the certificate; new connections get the new one, no restart.
    const https2 = await issueCert(pki, path.join(dir, 'api2'), 'api', {
      commonName: 'api.zanshin',
      usage: { kind: 'https', dnsNames: ['api.zanshin'], ipAddresses: ['127.0.0.1'] },
    });
    copyFileSync(https2.key, live.key);
    copyFileSync(https2.crt, live.cert);
    const next = new X509Certificate(readPair(live).cert).fingerprint256;
    for (let i = 0; i < 50 && (await servedCertificate(port)) !== next; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect([await servedCertificate(port), lines]).toEqual([next, [`TLS certificate reloaded from ${live.cert}`]]);
  } finally {
    stop();
    await app.close();
  }
});
