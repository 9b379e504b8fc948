import execa from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { hasSysResource } from '../domain/container-user';
import { softDirtyInConfig, trackingCheckLines } from '../domain/kernel-config';
import { chooseStrategy, DirtyStrategy } from '../domain/runc-args';

export interface NodeCapabilities {
  criuVersion: string;
  runcVersion: string;
  /** CRIU can track dirty pages here (kernel soft-dirty): pre-dump and incremental dumps work. */
  memDirtyTrack: boolean;
  strategy: DirtyStrategy;
  /** CRIU can dump a program that runs as another user than root here (root has CAP_SYS_RESOURCE). */
  checkpointsOtherUsers: boolean;
  /**
   * Set when CRIU found no dirty tracking on a kernel whose build configuration has it: CRIU's own account of the
   * failed check (its log lines about it), for the worker to log.
   */
  trackingCheckFailure?: string;
}

/** This kernel's build configuration, where the system keeps it; null when it is nowhere to be read. */
async function kernelConfig(): Promise<string | null> {
  const gz = await readFile('/proc/config.gz').catch(() => null);
  if (gz) return gunzipSync(gz).toString('utf8');
  return readFile(`/boot/config-${os.release()}`, 'utf8').catch(() => null);
}

/** CRIU's verbose log of the dirty-tracking check, the lines about it. */
async function trackingCheckLog(criu: string, result: execa.ExecaReturnValue): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'zanshin-criu-check-'));
  try {
    const log = path.join(dir, 'check.log');
    await execa(criu, ['check', '--feature', 'mem_dirty_track', '-v4', '-o', log], { reject: false });
    const lines = trackingCheckLines(await readFile(log, 'utf8').catch(() => ''));
    return [`exit ${result.exitCode}: ${(result.stderr || result.stdout).trim()}`, ...lines].join('\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Detected once per worker; every other module asks this by name. */
export async function detectCapabilities(
  criu: string,
  preferred: DirtyStrategy | 'auto' = 'auto',
): Promise<NodeCapabilities> {
  const version = await execa(criu, ['--version'], { reject: false });
  if (version.exitCode !== 0)
    throw new Error(
      `CRIU at ${criu} does not run (${version.stderr.trim() || version.exitCode}): run infra/provision.sh or set ZANSHIN_CRIU`,
    );
  const criuVersion = /Version:\s*(\S+)/.exec(version.stdout)?.[1] ?? 'unknown';
  if (!/^([4-9]|\d\d)\./.test(criuVersion)) throw new Error(`CRIU >= 4.0 required; ${criu} is ${criuVersion}`);
  const runc = await execa('runc', ['--version'], { reject: false });
  if (runc.exitCode !== 0) throw new Error('runc is not installed: run infra/provision.sh');
  const dirty = await execa(criu, ['check', '--feature', 'mem_dirty_track'], { reject: false });
  const memDirtyTrack = dirty.exitCode === 0;
  const configured = memDirtyTrack ? null : softDirtyInConfig((await kernelConfig()) ?? '');
  return {
    criuVersion,
    runcVersion: /runc version (\S+)/.exec(runc.stdout)?.[1] ?? 'unknown',
    memDirtyTrack,
    strategy: chooseStrategy(memDirtyTrack, preferred),
    checkpointsOtherUsers: hasSysResource(await readFile('/proc/self/status', 'utf8')),
    ...(configured ? { trackingCheckFailure: await trackingCheckLog(criu, dirty) } : {}),
  };
}
