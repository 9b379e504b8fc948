// The holder side of continuous protection: a PC keeps another PC's running container's checkpoints. The control
// plane opens a lease here once (node-lifecycle's protect signal); from then on the source sends each checkpoint
// straight to this PC's data plane with the lease's token: no workflow per checkpoint.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { ContainerSpec, GenerationMeta } from '../domain/reports';
import type { ReceivePlan } from './receiving';

interface Lease {
  containerId: string;
  source: string;
  tokenSha256: Buffer;
  /** Transfers opened under this lease and not yet kept or dropped, with when each was opened. */
  transfers: Map<string, number>;
  lastUsedAt: number;
}

/**
 * A checkpoint's transfer open longer than this was abandoned (its source died or was cut off mid-way): dropped. A
 * checkpoint takes seconds to a minute.
 */
export const ABANDONED_TRANSFER_MS = 5 * 60_000;
/** A lease unused this long ends (its source stopped protecting the container: it moved, stopped, or its PC died). */
export const IDLE_LEASE_MS = 15 * 60_000;

export class LeaseRefused extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404,
    message: string,
  ) {
    super(message);
  }
}

/** What the holder does for a lease: the target side of a move, minus the restore. */
export interface HolderWork {
  prepareReceive(containerId: string): Promise<ReceivePlan>;
  storeFromTransfer(transferId: string, spec: ContainerSpec, meta: GenerationMeta): Promise<{ generation: number }>;
  abortReceive(transferId: string): Promise<void>;
  /** Kernel strategy: merges a chain past its threshold (in the background, after the keep). */
  mergeChain?(containerId: string, generation: number): Promise<unknown>;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

export class ProtectionHolder {
  private readonly leases = new Map<string, Lease>();

  constructor(
    private readonly nodeId: string,
    private readonly work: HolderWork,
  ) {}

  /**
   * Grants `source` the right to keep `containerId`'s checkpoints here. An earlier lease of the container ends:
   * one source protects a container at a time. Leases live in memory: a restarted worker answers 404 and the
   * source asks for a new one.
   */
  open(containerId: string, source: string): { leaseId: string; token: string } {
    if (source === this.nodeId)
      throw new LeaseRefused(400, `${this.nodeId} cannot keep its own container's checkpoints`);
    for (const [id, l] of this.leases) if (l.containerId === containerId) this.end(id);
    const leaseId = randomUUID();
    const token = randomBytes(32).toString('base64url');
    this.leases.set(leaseId, {
      containerId,
      source,
      tokenSha256: sha256(token),
      transfers: new Map(),
      lastUsedAt: Date.now(),
    });
    return { leaseId, token };
  }

  /** The lease a request names, if its bearer token is the lease's. */
  authorize(leaseId: string, token: string | undefined): { containerId: string; source: string } {
    const lease = this.leases.get(leaseId);
    if (!lease) throw new LeaseRefused(404, `no protection lease ${leaseId} on ${this.nodeId}: ask for a new one`);
    if (!token) throw new LeaseRefused(401, 'send "Authorization: Bearer <lease token>"');
    if (!timingSafeEqual(sha256(token), lease.tokenSha256))
      throw new LeaseRefused(403, `wrong token for protection lease ${leaseId}`);
    lease.lastUsedAt = Date.now();
    return { containerId: lease.containerId, source: lease.source };
  }

  /** Opens a transfer for the lease's container (what this PC holds of it comes back, as for a move's target). */
  async begin(leaseId: string): Promise<ReceivePlan> {
    const lease = this.leases.get(leaseId)!;
    // The source takes one checkpoint at a time: one it left unfinished (its worker restarted mid-way) is dropped.
    for (const t of lease.transfers.keys()) await this.work.abortReceive(t).catch(() => undefined);
    lease.transfers.clear();
    const plan = await this.work.prepareReceive(lease.containerId);
    lease.transfers.set(plan.transferId, Date.now());
    return plan;
  }

  /**
   * Drops what dead sources left: transfers open past ABANDONED_TRANSFER_MS, leases unused past IDLE_LEASE_MS (the
   * worker runs this every minute). Returns the transfers dropped.
   */
  async sweep(now = Date.now()): Promise<string[]> {
    const dropped: string[] = [];
    for (const [id, lease] of [...this.leases])
      if (now - lease.lastUsedAt > IDLE_LEASE_MS) {
        dropped.push(...lease.transfers.keys());
        this.end(id);
      } else
        for (const [t, openedAt] of [...lease.transfers])
          if (now - openedAt > ABANDONED_TRANSFER_MS) {
            lease.transfers.delete(t);
            dropped.push(t);
            await this.work.abortReceive(t).catch(() => undefined);
          }
    return dropped;
  }

  /** Keeps the transfer's checkpoint as a remnant generation: the one a recovery restores if the source dies. */
  async keep(
    leaseId: string,
    input: { transferId: string; spec: ContainerSpec; meta: GenerationMeta },
  ): Promise<{ generation: number }> {
    const lease = this.ownTransfer(leaseId, input.transferId);
    if (input.spec.containerId !== lease.containerId)
      throw new LeaseRefused(400, `lease ${leaseId} is for ${lease.containerId}, not ${input.spec.containerId}`);
    const kept = await this.work.storeFromTransfer(input.transferId, input.spec, input.meta);
    lease.transfers.delete(input.transferId);
    // A chain of differential checkpoints is merged here, after the answer: the source does not wait for it.
    if (input.meta.parent !== undefined && this.work.mergeChain)
      void this.work.mergeChain(lease.containerId, kept.generation).catch((err: unknown) => {
        console.error(`${this.nodeId}: merging ${lease.containerId}'s chain failed: ${String(err)}`);
      });
    return { generation: kept.generation };
  }

  async abort(leaseId: string, transferId: string): Promise<void> {
    const lease = this.ownTransfer(leaseId, transferId);
    lease.transfers.delete(transferId);
    await this.work.abortReceive(transferId);
  }

  /** Ends a lease, dropping its unfinished transfers. */
  end(leaseId: string): void {
    const lease = this.leases.get(leaseId);
    if (!lease) return;
    this.leases.delete(leaseId);
    for (const t of lease.transfers.keys()) void this.work.abortReceive(t).catch(() => undefined);
  }

  private ownTransfer(leaseId: string, transferId: string): Lease {
    const lease = this.leases.get(leaseId)!;
    if (!lease.transfers.has(transferId))
      throw new LeaseRefused(404, `transfer ${transferId} was not opened under protection lease ${leaseId}`);
    return lease;
  }
}
