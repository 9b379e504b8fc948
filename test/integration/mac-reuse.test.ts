// Found by the 30-minute soak (issue 28): after a simulated power-off deleted a PC's container namespaces, the restore
// of a container on that PC failed for over a minute with "Address already in use": the deleted namespace lived on
// (the kernel frees its devices later) and its macvlan kept the container's MAC. And the error named the wrong
// culprit: the traffic holder of the very namespace being brought up. Real namespaces, macvlans on a veth (this
// kernel has no dummy devices).
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { deleteNamespaces, interfacesOf, listNamespaces } from '../../infra/cluster/netns';
import { holdersOfMac } from '../../node/container-net';

const LOWER = 'zmrlan0';
const MAC = '02:5a:6d:72:00:01';
const sleepers: ChildProcess[] = [];
const namespaces = ['zmr-old', 'zmr-new', 'zmr-other'];

/** A process that keeps the namespace alive after its name is deleted, as a killed PC's stragglers may. */
function keepAlive(ns: string): void {
  sleepers.push(spawn('nsenter', [`--net=/run/netns/${ns}`, 'sleep', '600'], { stdio: 'ignore' }));
}

let made = 0;
/** A macvlan with the container's MAC, named `name` inside `ns` (made under a unique name: the host has an eth0). */
function macvlanIn(ns: string, name: string): void {
  const tmp = `zmr${made++}`;
  execFileSync('ip', ['link', 'add', 'link', LOWER, 'name', tmp, 'address', MAC, 'type', 'macvlan', 'mode', 'bridge']);
  execFileSync('ip', ['link', 'set', tmp, 'netns', ns]);
  execFileSync('ip', ['-n', ns, 'link', 'set', tmp, 'name', name]);
}

const up = (ns: string, name: string) => execFileSync('ip', ['-n', ns, 'link', 'set', name, 'up'], { stdio: 'pipe' });

beforeAll(() => {
  execFileSync('ip', ['link', 'add', LOWER, 'type', 'veth', 'peer', 'name', `${LOWER}p`]);
  execFileSync('ip', ['link', 'set', LOWER, 'up']);
  for (const ns of namespaces) execFileSync('ip', ['netns', 'add', ns]);
});

afterAll(async () => {
  for (const p of sleepers) p.kill('SIGKILL');
  await deleteNamespaces(namespaces);
  execFileSync('ip', ['link', 'delete', LOWER], { stdio: 'ignore' });
});

it('parses interface names from ip -o link', () => {
  const out = '1: lo: <LOOPBACK,UP> mtu 65536\n5: eth0@if2: <BROADCAST> mtu 1500\n7: zm0a1b: <BROADCAST> mtu 1500';
  expect(interfacesOf(out)).toEqual(['lo', 'eth0', 'zm0a1b']);
});

it('names the namespace that holds a MAC, not the one whose interface is being brought up', async () => {
  macvlanIn('zmr-old', 'eth0');
  up('zmr-old', 'eth0');
  keepAlive('zmr-old');
  macvlanIn('zmr-new', 'eth0');
  keepAlive('zmr-new'); // its own holder, say
  expect(() => up('zmr-new', 'eth0')).toThrow(/Address already in use/);
  await new Promise((r) => setTimeout(r, 300)); // both sleepers are in their namespaces
  const holders = await holdersOfMac(MAC, '/run/netns/zmr-new');
  expect(holders).toEqual([expect.stringContaining(`process ${sleepers[0]!.pid} (sleep`)]);
});

it('a deleted namespace that lives on no longer keeps its MAC: the next namespace brings it up at once', async () => {
  // zmr-old still runs a process: without its interface removed first, its MAC stays taken while that process lives.
  expect(await deleteNamespaces(['zmr-old'])).toEqual(['zmr-old']);
  expect(await listNamespaces()).not.toContain('zmr-old');
  expect(() => up('zmr-new', 'eth0')).not.toThrow();
  // Idle namespaces go the same way; one that is not there is skipped.
  macvlanIn('zmr-other', 'mv1');
  expect(await deleteNamespaces(['zmr-other', 'zmr-missing'])).toEqual(['zmr-other']);
});
