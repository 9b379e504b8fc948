import execa from 'execa';
import { readFile } from 'node:fs/promises';
import { hasSysResource } from '../domain/container-user';
import { chooseStrategy, DirtyStrategy } from '../domain/runc-args';

export interface NodeCapabilities {
  criuVersion: string;
  runcVersion: string;
  /** CRIU can track dirty pages here (kernel soft-dirty): pre-dump and incremental dumps work. */
  memDirtyTrack: boolean;
  strategy: DirtyStrategy;
  /** CRIU can dump a program that runs as another user than root here (root has CAP_SYS_RESOURCE). */
  checkpointsOtherUsers: boolean;
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
  return {
    criuVersion,
    runcVersion: /runc version (\S+)/.exec(runc.stdout)?.[1] ?? 'unknown',
    memDirtyTrack,
    strategy: chooseStrategy(memDirtyTrack, preferred),
    checkpointsOtherUsers: hasSysResource(await readFile('/proc/self/status', 'utf8')),
  };
}
