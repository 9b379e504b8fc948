// Podman's own migration, as a user of Podman 4 would do it between two PCs: `podman container checkpoint
// --export` (image, rootfs changes and config in one zstd tarball), the tarball copied over the LAN, `podman
// container restore --import` on the other PC. Each simulated PC gets its own Podman storage; the image the
// container runs from is imported on both beforehand (a pull is a one-time cost, not part of a move).
import execa from 'execa';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { BaselineWorkload, MethodResult, timed, waitUntilFilled } from './measure';

export interface PodmanOptions extends BaselineWorkload {
  /** Copies directory `src` of the home PC onto `dest` of the other one over their link; returns bytes on the wire. */
  copy: (src: string, dest: string) => Promise<number>;
}

const runroot = (pc: string) => `/run/zanshin-bench-podman-${pc}-${process.pid}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Podman result, or why Podman could not run here (the commands tried and their errors). */
export type PodmanOutcome = { result: MethodResult } | { unavailable: string };

export async function podmanBaseline(o: PodmanOptions): Promise<PodmanOutcome> {
  const version = await execa('podman', ['--version'], { reject: false });
  if (version.exitCode !== 0)
    return {
      unavailable: `podman --version: ${version.stderr || version.stdout || `exit code ${version.exitCode}`} (infra/provision.sh installs it)`,
    };
  const env = { PATH: `${path.dirname(o.criu)}:${process.env.PATH}` };
  const podman = (pc: 'home' | 'away') => {
    const dir = path.join(o.workDir, 'podman', pc);
    // No systemd and no registry here: cgroupfs, file events, vfs storage, runc (which checkpoints with CRIU).
    const global = [
      '--root',
      path.join(dir, 'root'),
      // Podman refuses a runroot longer than 50 characters.
      '--runroot',
      runroot(pc),
      '--storage-driver',
      'vfs',
      '--runtime',
      'runc',
      '--cgroup-manager',
      'cgroupfs',
      '--events-backend',
      'file',
    ];
    return (...args: string[]) => execa('podman', [...global, ...args], { env });
  };
  const home = podman('home');
  const away = podman('away');
  const tarball = path.join(o.workDir, 'podman', 'rootfs.tar');
  const image = 'localhost/zanshin-bench:latest';
  const name = 'bench-podman';
  const tried: string[] = [];
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    tried.push(what);
    return fn();
  };
  try {
    mkdirSync(path.dirname(tarball), { recursive: true });
    await execa('tar', ['-C', o.rootfs, '-cf', tarball, '.']);
    for (const p of [home, away]) await attempt(`podman import ${tarball} ${image}`, () => p('import', tarball, image));
    // Podman asks for file and process limits above this machine's hard limits unless told.
    await attempt('podman run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 ...', () =>
      home(
        'run',
        '-d',
        '--name',
        name,
        '--network',
        'none',
        '--ulimit',
        'nofile=1024:1024',
        '--ulimit',
        'nproc=4096:4096',
        ...o.env.flatMap((e) => ['-e', e]),
        image,
        ...o.args,
      ),
    );
    const pid = Number((await home('inspect', '-f', '{{.State.Pid}}', name)).stdout.trim());
    await waitUntilFilled(pid, o.readyRssBytes);
    await sleep(o.dwellMs);
    o.log('baseline: podman container checkpoint --export, copy of the tarball, podman container restore --import');
    const out = path.join(o.workDir, 'podman', 'out');
    const inbox = path.join(o.workDir, 'podman', 'in');
    mkdirSync(out, { recursive: true });
    mkdirSync(inbox, { recursive: true });
    const exported = path.join(out, 'checkpoint.tar.zst');
    const steps: Record<string, number> = {};
    let wireBytes = 0;
    steps['checkpoint --export'] = await timed(() =>
      attempt(`podman container checkpoint --export ${exported}`, () =>
        home('container', 'checkpoint', '--export', exported, name),
      ),
    );
    steps.copy = await timed(async () => {
      wireBytes = await o.copy(out, inbox);
    });
    steps['restore --import'] = await timed(() =>
      attempt('podman container restore --import', () =>
        away('container', 'restore', '--import', path.join(inbox, 'checkpoint.tar.zst')),
      ),
    );
    const state = (await away('inspect', '-f', '{{.State.Status}}', name)).stdout.trim();
    if (state !== 'running') throw new Error(`the container Podman restored is ${state}, not running`);
    const downtimeMs = steps['checkpoint --export'] + steps.copy + steps['restore --import'];
    return { result: { downtimeMs, totalMs: downtimeMs, wireBytes, steps } };
  } catch (err) {
    const e = err as execa.ExecaError;
    return { unavailable: `${tried.join('; ')}: ${(e.stderr || e.message).trim().split('\n').slice(-3).join(' ')}` };
  } finally {
    for (const p of [home, away]) await p('rm', '--force', '--time', '0', '--all').catch(() => undefined);
    rmSync(tarball, { force: true });
    for (const pc of ['home', 'away']) rmSync(runroot(pc), { recursive: true, force: true });
  }
}
