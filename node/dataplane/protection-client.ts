// The source side of continuous protection's three small requests to a holder's data plane (the checkpoint itself
// travels by the usual manifest and chunk routes of the transfer it opens).
import http from 'node:http';
import https from 'node:https';
import type { ProtectionLease } from '../../domain/protection';
import type { ContainerSpec, GenerationMeta } from '../../domain/reports';
import type { ReceivePlan } from '../receiving';
import { DataPlaneError, TargetUnreachableError } from './client';

/** Each request is small; a holder that does not answer within this is taken as gone. */
const REQUEST_TIMEOUT_MS = 30_000;

export class ProtectionClient {
  constructor(
    private readonly lease: ProtectionLease,
    private readonly signal?: AbortSignal,
  ) {}

  begin(): Promise<ReceivePlan> {
    return this.post<ReceivePlan>('transfers', {});
  }

  keep(transferId: string, spec: ContainerSpec, meta: GenerationMeta): Promise<{ generation: number }> {
    return this.post('keep', { transferId, spec, meta });
  }

  async abort(transferId: string): Promise<void> {
    await this.post('abort', { transferId });
  }

  private post<T>(what: string, body: unknown): Promise<T> {
    const { address, certificate, leaseId, token } = this.lease;
    const [host, port] = address.split(':');
    const payload = Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const req = (certificate ? https : http).request(
        {
          host,
          port: Number(port),
          // The holder's certificate came with the lease, through Temporal: the only one trusted.
          ...(certificate ? { ca: certificate, minVersion: 'TLSv1.3' as const } : {}),
          method: 'POST',
          path: `/v1/protection/${encodeURIComponent(leaseId)}/${what}`,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          timeout: REQUEST_TIMEOUT_MS,
          ...(this.signal ? { signal: this.signal } : {}),
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (b: Buffer) => parts.push(b));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8');
            if (res.statusCode === 200) return resolve(JSON.parse(text) as T);
            let message = text;
            try {
              message = (JSON.parse(text) as { message: string }).message;
            } catch {
              /* keep the raw text */
            }
            reject(
              new DataPlaneError(
                `protection ${what} refused by ${this.lease.holder} (${address}, HTTP ${res.statusCode ?? 0}): ${message}`,
                res.statusCode,
              ),
            );
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on('error', (err) =>
        reject(new TargetUnreachableError(`holder ${this.lease.holder} (${address}) unreachable: ${err.message}`)),
      );
      req.end(payload);
    });
  }
}
