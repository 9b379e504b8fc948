import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { ClusterKeyCodec, ENCRYPTED_ENCODING } from '../../common/payload-codec';

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
