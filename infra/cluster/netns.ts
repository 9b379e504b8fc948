import execa from 'execa';

/** Names of the network namespaces that exist now. */
export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await execa('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter(Boolean);
}

/** Runs ip/tc commands in order, failing with the command and its error output. */
export async function runCommands(cmds: string[][]): Promise<void> {
  for (const [file, ...args] of cmds) {
    const result = await execa(file!, args, { reject: false });
    if (result.exitCode !== 0) {
      throw new Error(`\`${[file, ...args].join(' ')}\` failed: ${result.stderr.trim() || `exit ${result.exitCode}`}`);
    }
  }
}

/**
 * Deletes the named namespaces that exist (and with them their veth ends and bridges). Their interfaces go first: the
 * kernel frees a deleted namespace's devices later, asynchronously, and a container's macvlan kept its MAC busy for
 * over a minute in the soak (a restore on the same PC then failed "Address already in use"), where a PC's real
 * power-off frees it at once.
 */
export async function deleteNamespaces(names: string[]): Promise<string[]> {
  const present = new Set(await listNamespaces());
  const deleted: string[] = [];
  for (const name of names) {
    if (!present.has(name)) continue;
    const links = await execa('ip', ['-n', name, '-o', 'link', 'show'], { reject: false });
    for (const link of interfacesOf(links.stdout).filter((l) => l !== 'lo'))
      await execa('ip', ['-n', name, 'link', 'delete', link], { reject: false }); // gone with its peer is as good
    await runCommands([['ip', 'netns', 'delete', name]]);
    deleted.push(name);
  }
  return deleted;
}

/** Interface names in `ip -o link show` output ("2: eth0@if7: <...>" gives "eth0"). */
export function interfacesOf(ipLinkOutput: string): string[] {
  return ipLinkOutput
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
    .filter((name): name is string => Boolean(name));
}
