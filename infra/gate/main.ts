// The Temporal gate as a process (see temporal-gate.ts). Settings, all from the environment:
//   ZANSHIN_GATE_LISTEN          host:port it listens on (the LAN address on a real control host)   @default 127.0.0.1:7234
//   TEMPORAL_ADDRESS             the dev server it fronts, on loopback                               @default 127.0.0.1:7233
//   ZANSHIN_GATE_CERT / _KEY     its server certificate and key (CN and SAN temporal.zanshin)        required
//   ZANSHIN_GATE_CA              the cluster CA: client certificates must chain to it                required
//   ZANSHIN_DATABASE_URL         migration-api's database: each PC's current certificate, revocations required
import { readFileSync } from 'node:fs';
import { envRequired, envString } from '../../common/env';
import { gateRefusal, nodeOfIdentity } from '../../domain/gate-admission';
import { createPool } from '../../state/db';
import { gateRecordOf } from '../../state/node-credentials';
import { TemporalGate } from './temporal-gate';

const hostPort = (value: string, name: string): { host: string; port: number } => {
  const m = /^(.+):(\d{1,5})$/.exec(value);
  if (!m) throw new Error(`${name}=${value}: expected host:port`);
  return { host: m[1]!, port: Number(m[2]) };
};

async function main(): Promise<void> {
  const env = process.env;
  const listen = hostPort(envString(env, 'ZANSHIN_GATE_LISTEN', '127.0.0.1:7234'), 'ZANSHIN_GATE_LISTEN');
  const upstream = hostPort(envString(env, 'TEMPORAL_ADDRESS', '127.0.0.1:7233'), 'TEMPORAL_ADDRESS');
  const file = (name: string) => readFileSync(envRequired(env, name, 'see infra/gate/main.ts'));
  const db = createPool(envRequired(env, 'ZANSHIN_DATABASE_URL', 'migration-api database URL'), 3);
  const gate = new TemporalGate({
    listen,
    upstream,
    tls: { cert: file('ZANSHIN_GATE_CERT'), key: file('ZANSHIN_GATE_KEY'), ca: file('ZANSHIN_GATE_CA') },
    admits: async (peer) => {
      const nodeId = nodeOfIdentity(peer.commonName);
      return gateRefusal(peer, nodeId ? await gateRecordOf(db, nodeId) : null);
    },
    log: (line) => console.log(`temporal-gate: ${line}`),
  });
  const port = await gate.start();
  console.log(`temporal-gate: mutual TLS on ${listen.host}:${port} -> Temporal at ${upstream.host}:${upstream.port}`);
  const stop = async () => {
    await gate.close();
    await db.end();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((err: unknown) => {
  console.error(`temporal-gate: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
