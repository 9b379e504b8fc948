// Found by the soak (issue 28): a worker killed after a container's dump but before its namespace was removed left
// the namespace up, still answering the container's address on the LAN while the container ran elsewhere. Each report
// now sweeps the namespaces of containers the PC holds but no longer runs. Real namespaces; no runc container runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNamespaces } from '../../infra/cluster/netns';
import { scratchExecutor } from '../helpers/executor';

let tmp: string;
const made: string[] = [];
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'zanshin-orphans-'));
});
afterAll(() => {
  for (const ns of made) spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
  rmSync(tmp, { recursive: true, force: true });
});

it("removes the namespace of a container the PC holds but no longer runs, and leaves others' alone", async () => {
  const executor = scratchExecutor(tmp); // pc2, namespaces zc-pc2-<container>
  await executor.store.writeSpec({ containerId: 'zo1', args: ['/bin/app'], env: [], memoryMiB: 16 });
  for (const ns of ['zc-pc2-zo1', 'zc-pc2-zo2']) {
    execFileSync('ip', ['netns', 'add', ns]);
    made.push(ns);
  }
  expect(await executor.removeOrphanedNamespaces()).toEqual(['zo1']);
  made.splice(made.indexOf('zc-pc2-zo1'), 1);
  const left = await listNamespaces();
  expect(left).not.toContain('zc-pc2-zo1');
  expect(left).toContain('zc-pc2-zo2'); // not a container this PC holds: another PC's, maybe
});

// Found by the soak (seed 8): a worker killed while its `runc restore` ran left that runc going on, and the next
// worker's sweep removed the namespace it was restoring into (runc knew no container yet). A real runc is held
// half-way here by a hook that does not end (CRIU would take too long to stop at will), started before the worker.
it("leaves the namespace of a container an earlier worker's runc still brings up, until that runc ends", async () => {
  const dir = path.join(tmp, 'inherited');
  const root = path.join(dir, 'runc');
  const bundle = path.join(dir, 'bundle');
  mkdirSync(path.join(bundle, 'rootfs'), { recursive: true });
  execFileSync('runc', ['spec', '--bundle', bundle]);
  const config = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8')) as {
    process: { terminal: boolean };
    hooks?: unknown;
  };
  config.process.terminal = false;
  config.hooks = { prestart: [{ path: '/bin/sleep', args: ['sleep', '600'] }] };
  writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
  // Not this process's child: a worker's own runc is never an earlier worker's (sh exits, runc is left to init).
  const pid = Number(
    execFileSync('sh', [
      '-c',
      `runc --root '${root}' run --detach --bundle '${bundle}' zo3 </dev/null >/dev/null 2>&1 & echo $!`,
    ]),
  );
  const end = () => spawnSync('pkill', ['-KILL', '-P', String(pid)]) && spawnSync('kill', ['-KILL', String(pid)]);
  try {
    execFileSync('ip', ['netns', 'add', 'zc-pc2-zo3']);
    made.push('zc-pc2-zo3');
    await until(() => cmdline(pid).startsWith('runc\0'));
    const executor = scratchExecutor(dir); // the next worker, started while that runc runs
    await executor.store.writeSpec({ containerId: 'zo3', args: ['/bin/app'], env: [], memoryMiB: 16 });
    let swept: string[] | null = null;
    const sweep = executor.removeOrphanedNamespaces().then((ids) => (swept = ids));
    await new Promise((r) => setTimeout(r, 1500));
    expect(swept).toBeNull(); // it waits for the earlier runc
    expect(await listNamespaces()).toContain('zc-pc2-zo3');
    end(); // that runc ends (here: killed, with its hook)
    await sweep;
    expect(swept).toEqual(['zo3']); // then nothing runs there: an orphan
    made.splice(made.indexOf('zc-pc2-zo3'), 1);
  } finally {
    end();
    spawnSync('runc', ['--root', root, 'delete', '--force', 'zo3'], { stdio: 'ignore' });
  }
});

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(ok()).toBe(true);
}
