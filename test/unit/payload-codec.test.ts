import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { ClusterKeyCodec, ENCRYPTED_ENCODING } from '../../common/payload-codec';
import { buildCodecServer } from '../../infra/gate/codec-server';

const codec = new ClusterKeyCodec(randomBytes(32));
const secret = { transferId: 't-1', token: 'very-secret-transfer-token' };
const payload = defaultPayloadConverter.toPayload(secret);

describe('payloads encrypted with the cluster key', () => {
  it('round-trips, and the encrypted form holds nothing of the plain one', async () => {
    const [encrypted] = await codec.encode([payload]);
    expect(Buffer.from(encrypted!.metadata!.encoding!).toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(encrypted!.data!).toString('latin1')).not.toContain('very-secret');
    const [decoded] = await codec.decode([encrypted!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(secret);
    // A fresh IV each time: the same value never encrypts the same way twice.
    const [again] = await codec.encode([payload]);
    expect(Buffer.from(again!.data!).equals(Buffer.from(encrypted!.data!))).toBe(false);
  });

  it("refuses another cluster's key and a tampered payload; passes plain payloads through", async () => {
    const [encrypted] = await codec.encode([payload]);
    await expect(new ClusterKeyCodec(randomBytes(32)).decode([encrypted!])).rejects.toThrow(/not this cluster's/);
    const tampered = Buffer.from(encrypted!.data!);
    tampered[20] = tampered[20]! ^ 1;
    await expect(codec.decode([{ ...encrypted!, data: tampered }])).rejects.toThrow();
    expect(await codec.decode([payload])).toEqual([payload]);
    expect(() => new ClusterKeyCodec(randomBytes(16))).toThrow(/32 bytes/);
  });
});

describe('the codec server of the Web UI and the CLI', () => {
  const uiOrigin = 'http://127.0.0.1:8233';
  const app = buildCodecServer(codec, uiOrigin);
  let url = '';
  beforeAll(async () => {
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => app.close());
  const post = (op: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}/${op}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const asJson = (p: typeof payload) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data!).toString('base64'),
  });

  it('decodes what the workers encrypted', async () => {
    const [encrypted] = await codec.encode([payload]);
    const res = await post('decode', { payloads: [asJson(encrypted!)] });
    expect(res.status).toBe(200);
    const [decoded] = ((await res.json()) as { payloads: { data: string }[] }).payloads;
    expect(JSON.parse(Buffer.from(decoded!.data, 'base64').toString())).toEqual(secret);
  });

  it('answers an empty list, which Temporal sends as {} (a query without arguments)', async () => {
    for (const op of ['encode', 'decode']) {
      const res = await post(op, {});
      expect([res.status, await res.json()]).toEqual([200, { payloads: [] }]);
    }
  });

  it('refuses a browser page of another origin and malformed bodies', async () => {
    expect((await post('decode', { payloads: [] }, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await post('decode', { payloads: [] }, { origin: uiOrigin })).status).toBe(200);
    expect((await post('decode', { payloads: 'x' })).status).toBe(400);
  });
});
