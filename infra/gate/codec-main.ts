// The codec server as a process (codec-server.ts). Settings:
//   ZANSHIN_CODEC_LISTEN      127.0.0.1:<port> (loopback only: it holds the cluster key)   @default 127.0.0.1:8234
//   ZANSHIN_PAYLOAD_KEY_FILE  the cluster key                                               required
//   ZANSHIN_CODEC_UI_ORIGIN   the Web UI's origin, e.g. http://127.0.0.1:8233               @default http://127.0.0.1:8233
import { envRequired, envString } from '../../common/env';
import { ClusterKeyCodec, readPayloadKey } from '../../common/payload-codec';
import { buildCodecServer } from './codec-server';

async function main(): Promise<void> {
  const env = process.env;
  const listen = envString(env, 'ZANSHIN_CODEC_LISTEN', '127.0.0.1:8234');
  const m = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):(\d{1,5})$/.exec(listen);
  if (!m) throw new Error(`ZANSHIN_CODEC_LISTEN=${listen}: must be a loopback host:port (the server holds the key)`);
  const codec = new ClusterKeyCodec(readPayloadKey(envRequired(env, 'ZANSHIN_PAYLOAD_KEY_FILE', 'the cluster key')));
  const app = buildCodecServer(codec, envString(env, 'ZANSHIN_CODEC_UI_ORIGIN', 'http://127.0.0.1:8233'));
  await app.listen({ host: m[1]!, port: Number(m[2]) });
  console.log(`codec-server: on http://${listen} (key ${codec.keyId})`);
  const stop = async () => {
    await app.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((err: unknown) => {
  console.error(`codec-server: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
