// Payloads (workflow and activity inputs and results: transfer tokens among them) travel through Temporal and rest in
// its history encrypted with the cluster key, AES-256-GCM. Only holders of the key (the control plane, the PCs, the
// administrators' codec server) read them; the Web UI and the Temporal CLI show them through the codec server.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Env } from './env';
import { ConfigError } from './errors';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const text = (b: Uint8Array | null | undefined): string => (b ? Buffer.from(b).toString('utf8') : '');

export class ClusterKeyCodec implements PayloadCodec {
  /** Names the key in each payload (the first 8 bytes of its SHA-256): a payload of another key is refused by name. */
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new ConfigError(`the payload key must be 32 bytes, not ${key.length}`);
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(
      payloads.map((p) => {
        const iv = randomBytes(IV_BYTES);
        const cipher = createCipheriv('aes-256-gcm', this.key, iv);
        const plain = temporal.api.common.v1.Payload.encode(p).finish();
        const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
        return { metadata: { encoding: utf8(ENCRYPTED_ENCODING), [KEY_ID]: utf8(this.keyId) }, data };
      }),
    );
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    // A payload that fails to decrypt rejects the promise (the constructor catches what the mapping throws).
    return new Promise((resolve) =>
      resolve(
        payloads.map((p) => {
          if (text(p.metadata?.encoding) !== ENCRYPTED_ENCODING) return p;
          const keyId = text(p.metadata?.[KEY_ID]);
          if (keyId !== this.keyId)
            throw new Error(`payload encrypted with key ${keyId || '?'}, not this cluster's (${this.keyId})`);
          const data = Buffer.from(p.data ?? new Uint8Array());
          if (data.length < IV_BYTES + TAG_BYTES) throw new Error('encrypted payload too short');
          const decipher = createDecipheriv('aes-256-gcm', this.key, data.subarray(0, IV_BYTES));
          decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
          const plain = Buffer.concat([
            decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
            decipher.final(),
          ]);
          return temporal.api.common.v1.Payload.decode(plain);
        }),
      ),
    );
  }
}

/** Reads a key file (base64url of 32 random bytes, as infra/cluster/secrets.ts writes it). */
export function readPayloadKey(file: string): Buffer {
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
  if (key.length !== 32) throw new ConfigError(`${file} does not hold a 32-byte payload key (base64url)`);
  return key;
}

/** ZANSHIN_PAYLOAD_KEY_FILE: the cluster key; unset: payloads travel in clear (a cluster without the codec). */
export function payloadCodecFromEnv(env: Env = process.env): ClusterKeyCodec | null {
  const file = env.ZANSHIN_PAYLOAD_KEY_FILE;
  return file ? new ClusterKeyCodec(readPayloadKey(file)) : null;
}

/** The data converter option of a client or worker: the codec when the cluster has a key. */
export function dataConverterWith(codec: ClusterKeyCodec | null) {
  return codec ? { dataConverter: { payloadCodecs: [codec] } } : {};
}
