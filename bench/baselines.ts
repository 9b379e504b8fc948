// What a user would do instead of Zanshin, timed on the same simulated PCs and links: a plain runc container,
// `runc checkpoint`, the image copied over the LAN with rsync (whole files: stop-and-copy), `runc restore`; then
// back, with `rsync -B4096` updating the old image in place of a remnant.
import execa from 'execa';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BaselineWorkload, MethodResult, timed, waitUntilFilled } from './measure';
import { podmanBaseline, PodmanOutcome } from './podman-baseline';

export type { MethodResult } from './measure';

export interface BaselineOptions extends BaselineWorkload {
  home: { namespace: string; address: string };
  away: { namespace: string; address: string };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RSYNC_PORT = 8873;

/** Bytes rsync says it sent and received (--stats), i.e. what crossed the link in both directions. */
function rsyncWire(stdout: string): number {
  const num = (re: RegExp) => Number((re.exec(stdout)?.[1] ?? '0').replace(/,/g, ''));
  return num(/Total bytes sent: ([\d,]+)/) + num(/Total bytes received: ([\d,]+)/);
}

export async function runcBaselines(
  o: BaselineOptions,
): Promise<{ stopAndCopy: MethodResult; rsyncReturn: MethodResult; podman: PodmanOutcome }> {
  const root = path.join(o.workDir, 'runc');
  const bundle = path.join(o.workDir, 'bundle');
  const id = 'baseline';
  const runc = (...args: string[]) => execa('runc', ['--root', root, '--criu', o.criu, ...args], { stdio: 'ignore' });
  rmSync(o.workDir, { recursive: true, force: true });
  mkdirSync(bundle, { recursive: true });
  cpSync(o.rootfs, path.join(bundle, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  await execa('runc', ['spec', '--bundle', bundle]);
  const spec = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8')) as {
    process: { terminal: boolean; args: string[]; env: string[] };
    root: { readonly: boolean };
  };
  spec.process.terminal = false;
  spec.process.args = o.args;
  spec.process.env.push(...o.env);
  spec.root.readonly = false;
  writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  // One rsync daemon per PC, serving the bench directory: copies go over the PCs' shaped links.
  const conf = path.join(o.workDir, 'rsyncd.conf');
  writeFileSync(
    conf,
    `uid = root\ngid = root\nuse chroot = no\nlog file = ${conf}.log\n[bench]\npath = ${o.workDir}\nread only = no\n`,
  );
  const daemons = [o.home, o.away].map((pc) =>
    execa(
      'nsenter',
      [
        `--net=/run/netns/${pc.namespace}`,
        'rsync',
        '--daemon',
        '--no-detach',
        `--port=${RSYNC_PORT}`,
        `--config=${conf}`,
      ],
      // No pipes at all: rsync takes a socket on its stdio for being started by inetd. Errors go to the log file.
      { reject: false, stdio: 'ignore' },
    ),
  );
  const rsync = (from: { namespace: string }, to: { address: string }, src: string, dest: string, extra: string[]) =>
    execa('nsenter', [
      `--net=/run/netns/${from.namespace}`,
      'rsync',
      '-a',
      '--stats',
      ...extra,
      `${src}/`,
      `rsync://${to.address}:${RSYNC_PORT}/bench/${path.relative(o.workDir, dest)}/`,
    ]);
  try {
    for (const pc of [o.home, o.away]) {
      for (let i = 0; ; i++) {
        const r = await execa(
          'nsenter',
          [`--net=/run/netns/${pc.namespace}`, 'rsync', `rsync://${pc.address}:${RSYNC_PORT}/`],
          { reject: false },
        );
        if (r.exitCode === 0) break;
        const daemon = daemons[[o.home, o.away].indexOf(pc)]!;
        if (i === 100 || daemon.exitCode !== null) {
          const log = existsSync(`${conf}.log`) ? readFileSync(`${conf}.log`, 'utf8') : '(no log)';
          throw new Error(`the rsync daemon in ${pc.namespace} does not answer: ${r.stderr}\nits log:\n${log}`);
        }
        await sleep(100);
      }
    }
    await runc('run', '--detach', '--bundle', bundle, id);
    // Wait until the workload filled its memory (as the Zanshin container did before it moved), then dwell.
    const { pid } = JSON.parse((await execa('runc', ['--root', root, 'state', id])).stdout) as { pid: number };
    await waitUntilFilled(pid, o.readyRssBytes);
    await sleep(o.dwellMs);
    /** Checkpoint into `image`, rsync it onto `dest` on the other PC (with `flags`), restore from there. */
    const move = async (
      from: BaselineOptions['home'],
      to: BaselineOptions['home'],
      image: string,
      dest: string,
      flags: string[],
    ): Promise<MethodResult> => {
      const steps: Record<string, number> = {};
      let wireBytes = 0;
      steps.checkpoint = await timed(() =>
        runc('checkpoint', '--image-path', image, '--work-path', `${image}.work`, id),
      );
      steps.copy = await timed(async () => {
        mkdirSync(dest, { recursive: true });
        wireBytes = rsyncWire((await rsync(from, to, image, dest, flags)).stdout);
      });
      steps.restore = await timed(() =>
        runc('restore', '--detach', '--image-path', dest, '--work-path', `${dest}.restore`, '--bundle', bundle, id),
      );
      const downtimeMs = steps.checkpoint + steps.copy + steps.restore;
      return { downtimeMs, totalMs: downtimeMs, wireBytes, steps };
    };
    const homeImage = path.join(o.workDir, 'home', 'image');
    o.log('baseline: runc checkpoint, rsync of the whole image, runc restore');
    const away = path.join(o.workDir, 'away');
    const stopAndCopy = await move(o.home, o.away, homeImage, path.join(away, 'image'), ['--whole-file']);
    await sleep(o.dwellMs);
    o.log('baseline: runc checkpoint, rsync -B4096 onto the old image, runc restore');
    // Back onto the image the first move left at home: rsync's delta against it stands in for a remnant.
    const rsyncReturn = await move(o.away, o.home, path.join(away, 'back'), homeImage, ['--no-whole-file', '-B4096']);
    await execa('runc', ['--root', root, 'delete', '--force', id], { reject: false });
    // Podman's tarball goes over the same link with the same rsync daemons.
    const podman = await podmanBaseline({
      ...o,
      copy: async (src, dest) => rsyncWire((await rsync(o.home, o.away, src, dest, ['--whole-file'])).stdout),
    });
    return { stopAndCopy, rsyncReturn, podman };
  } finally {
    await execa('runc', ['--root', root, 'delete', '--force', id], { reject: false });
    for (const d of daemons) d.kill('SIGTERM');
    await Promise.all(daemons);
    rmSync(o.workDir, { recursive: true, force: true });
  }
}
