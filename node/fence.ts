// A PC's side of fencing (domain/fencing.ts): the lease its acknowledged reports renew, the fence its watchdog puts
// up when the lease runs out (every container frozen, its address taken off the LAN), and what the PC does with the
// answer to a report: kill stale copies, resume fenced ones that are still its own.
import execa from 'execa';
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerNet } from './container-net';
import type { Runc } from './runc';
import type { RemnantStore } from './store';

const LEASE_FILE = 'lease.json';
const FENCED_FILE = 'fenced.json';

/** The size the lease and the fenced list are written at: one allocation, then overwritten in place. */
const FIXED_BYTES = 4096;

/**
 * Writes a small file that must be written even on a full disk: the first write allocates it (padded, whole or not
 * at all), every later one overwrites it in place (JSON ignores the padding), which needs no free block. A full
 * store made every lease renewal fail (ENOSPC): the fence froze a healthy PC's containers and could not even
 * record which (found by the soak).
 */
async function writeInPlace(file: string, text: string): Promise<void> {
  const handle = await open(file, 'r+').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (!handle) {
    // A temporary name of its own per write (the worker and the fence both write).
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, text.padEnd(FIXED_BYTES));
    await rename(tmp, file);
    return;
  }
  try {
    // Padded to what the file holds already: nothing of a longer earlier text is left behind.
    await handle.write(text.padEnd(Math.max(FIXED_BYTES, (await handle.stat()).size)), 0, 'utf8');
  } finally {
    await handle.close();
  }
}

/** Parses a file written in place; a read that met a write half done is read again. */
async function readInPlace<T>(file: string): Promise<T | null> {
  for (let attempt = 0; ; attempt++) {
    const text = await readFile(file, 'utf8').catch(() => null);
    if (text === null) return null;
    try {
      return JSON.parse(text) as T;
    } catch {
      if (attempt >= 2) return null;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** The PC's lease, in its data dir: when the last acknowledged report was sent (CLOCK_MONOTONIC, shared by processes). */
export class Lease {
  constructor(private readonly dataDir: string) {}

  /** The report sent at `sentAtNs` (process.hrtime.bigint()) was acknowledged (an older one answered late renews nothing). */
  async acknowledge(sentAtNs: bigint): Promise<void> {
    const last = await this.lastAck();
    if (last !== null && last >= sentAtNs) return;
    await writeInPlace(path.join(this.dataDir, LEASE_FILE), JSON.stringify({ sentAtNs: sentAtNs.toString() }));
  }

  async lastAck(): Promise<bigint | null> {
    const lease = await readInPlace<{ sentAtNs?: unknown }>(path.join(this.dataDir, LEASE_FILE));
    // Damaged: as if there were none (the lease then runs from the watchdog's start).
    return typeof lease?.sentAtNs === 'string' && /^\d+$/.test(lease.sentAtNs) ? BigInt(lease.sentAtNs) : null;
  }
}

/** Containers the fence froze, in the data dir (the watchdog writes it, the worker reads it). */
export class FencedList {
  constructor(private readonly dataDir: string) {}

  async read(): Promise<string[]> {
    const ids = await readInPlace<unknown>(path.join(this.dataDir, FENCED_FILE));
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
  }

  async write(ids: string[]): Promise<void> {
    await writeInPlace(path.join(this.dataDir, FENCED_FILE), JSON.stringify([...new Set(ids)].sort()));
  }
}

export interface FenceParts {
  runc: Runc;
  net: ContainerNet;
  store: RemnantStore;
  fenced: FencedList;
  /** How long a killed stale copy's bundle and checkpoints stay, as a remnant. */
  remnantRetentionMs: number;
  log: (line: string) => void;
}

/**
 * The lease ran out: every running container is frozen (runc pause: its memory and files stay as they are) and its
 * LAN interface taken down, so that a copy restored elsewhere may take the address. Idempotent.
 */
export async function fenceAll({ runc, net, fenced, log }: FenceParts): Promise<string[]> {
  const running = (await runc.list()).filter((c) => c.status === 'running').map((c) => c.containerId);
  const done: string[] = [];
  for (const id of running) {
    const paused = await execa('runc', ['--root', runc.global.root, 'pause', id], { reject: false });
    if (paused.exitCode !== 0) {
      // A copy that cannot be frozen must not run on: it is killed (its checkpoints elsewhere bring it back).
      log(`fence: cannot freeze ${id} (${paused.stderr.trim()}): killing it`);
      await runc.remove(id).catch(() => undefined);
    }
    await net.silence(id).catch((err: Error) => log(`fence: ${id}'s address: ${err.message}`));
    done.push(id);
  }
  if (done.length) await fenced.write([...(await fenced.read()), ...done]);
  return done;
}

/**
 * What a PC does with the answer to its report: stale copies (another copy was restored since) are killed at once
 * and kept as remnants; fenced copies that are still current are resumed, their address back on the LAN.
 */
export async function applyVerdict(
  parts: FenceParts,
  stale: string[],
): Promise<{ killed: string[]; resumed: string[] }> {
  const { runc, net, store, fenced, remnantRetentionMs, log } = parts;
  const killed: string[] = [];
  for (const id of stale) {
    if ((await runc.state(id)).status === 'absent') continue;
    log(`${id} runs here as a stale copy (another one was restored since): killing it`);
    await runc.remove(id);
    await net.destroy(id).catch(() => undefined);
    await store.markRemnant(id, remnantRetentionMs).catch(() => undefined);
    killed.push(id);
  }
  const resumed: string[] = [];
  const wasFenced = await fenced.read();
  for (const id of wasFenced) {
    if (stale.includes(id) || (await runc.state(id)).status !== 'paused') continue;
    const spec = await store.readSpec(id).catch(() => null);
    await execa('runc', ['--root', runc.global.root, 'resume', id], { reject: false });
    if (spec?.network)
      await net.unsilence(id, spec.network).catch((err: Error) => log(`${id}'s address: ${err.message}`));
    log(`${id} resumed: the lease is back and no other copy took over`);
    resumed.push(id);
  }
  if (wasFenced.length)
    await fenced.write(wasFenced.filter((id) => !killed.includes(id) && !resumed.includes(id) && !stale.includes(id)));
  return { killed, resumed };
}
