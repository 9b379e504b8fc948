// The mutual-TLS gate in front of a real Temporal dev server, with certificates from the cluster's own CA (openssl):
// the TypeScript client and the Rust core (what workers use) pass with an admitted certificate; no certificate,
// another CA's, and a revoked one are refused, and revoking cuts a connection that is already open.
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TemporalGate } from '../../infra/gate/temporal-gate';
import { certFingerprint, CertPair, ensureCa, GATE_SERVER_NAME, issueCert } from '../../infra/cluster/pki';
import { startTestTemporal } from '../helpers/temporal';

jest.setTimeout(120_000);

let temporal: TestWorkflowEnvironment;
let dir: string;
let gate: TemporalGate;
let address: string;
let ca: Buffer;
const certs = {} as Record<'gate' | 'pc1' | 'pc2' | 'stranger', CertPair>;
const revoked = new Set<string>();
const seen: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-gate-'));
  temporal = await startTestTemporal();
  const pki = await ensureCa(path.join(dir, 'pki'));
  const stranger = await ensureCa(path.join(dir, 'other-pki'));
  ca = readFileSync(pki.ca);
  certs.gate = await issueCert(pki, path.join(dir, 'pki'), 'gate', { commonName: GATE_SERVER_NAME, usage: 'server' });
  certs.pc1 = await issueCert(pki, path.join(dir, 'pki'), 'pc1', { commonName: 'node:pc1', usage: 'client' });
  certs.pc2 = await issueCert(pki, path.join(dir, 'pki'), 'pc2', { commonName: 'node:pc2', usage: 'client' });
  certs.stranger = await issueCert(stranger, path.join(dir, 'other-pki'), 'pc1', {
    commonName: 'node:pc1',
    usage: 'client',
  });
  const upstreamPort = Number(temporal.address.split(':').pop());
  gate = new TemporalGate({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { host: '127.0.0.1', port: upstreamPort },
    tls: { key: readFileSync(certs.gate.key), cert: readFileSync(certs.gate.crt), ca },
    admits: (peer) => {
      seen.push(peer.commonName);
      return Promise.resolve(
        revoked.has(peer.fingerprint) ? `the certificate of ${peer.commonName} was revoked` : null,
      );
    },
    recheckMs: 200,
  });
  address = `127.0.0.1:${await gate.start()}`;
});

afterAll(async () => {
  await gate?.close();
  await temporal?.teardown();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const tlsOf = (who?: CertPair) => ({
  serverNameOverride: GATE_SERVER_NAME,
  serverRootCACertificate: ca,
  ...(who ? { clientCertPair: { crt: readFileSync(who.crt), key: readFileSync(who.key) } } : {}),
});
const systemInfo = async (who?: CertPair) => {
  const connection = await Connection.connect({ address, tls: tlsOf(who), connectTimeout: '5s' });
  try {
    return await connection.workflowService.getSystemInfo({});
  } finally {
    await connection.close();
  }
};

describe('the Temporal gate', () => {
  it("lets an admitted PC's certificate through, to the TypeScript client and to the workers' Rust core", async () => {
    expect((await systemInfo(certs.pc1)).capabilities).toBeTruthy();
    const native = await NativeConnection.connect({ address, tls: tlsOf(certs.pc2) });
    try {
      expect((await native.workflowService.getSystemInfo({})).capabilities).toBeTruthy();
    } finally {
      await native.close();
    }
    expect(seen).toEqual(expect.arrayContaining(['node:pc1', 'node:pc2']));
  });

  it("refuses a client without a certificate, and one whose certificate is another CA's", async () => {
    await expect(systemInfo()).rejects.toThrow();
    await expect(systemInfo(certs.stranger)).rejects.toThrow();
  });

  it('refuses a revoked certificate and cuts its open connection, while the other PC goes on', async () => {
    const open = await Connection.connect({ address, tls: tlsOf(certs.pc2), connectTimeout: '5s' });
    try {
      await open.workflowService.getSystemInfo({});
      expect(gate.openConnections()).toContain('node:pc2');
      revoked.add(certFingerprint(certs.pc2.crt));
      await new Promise((r) => setTimeout(r, 1000));
      expect(gate.openConnections()).not.toContain('node:pc2');
      // The client reconnects at once, and the new handshake is refused too.
      await expect(
        open.withDeadline(Date.now() + 3000, async () => {
          await open.workflowService.getSystemInfo({});
        }),
      ).rejects.toThrow();
      await expect(systemInfo(certs.pc2)).rejects.toThrow();
      expect((await systemInfo(certs.pc1)).capabilities).toBeTruthy();
    } finally {
      await open.close();
    }
  });
});
