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

/** Deletes the named namespaces that exist (and with them their veth ends and bridges). */
export async function deleteNamespaces(names: string[]): Promise<string[]> {
  const present = new Set(await listNamespaces());
  const deleted: string[] = [];
  for (const name of names) {
    if (!present.has(name)) continue;
    await runCommands([['ip', 'netns', 'delete', name]]);
    deleted.push(name);
  }
  return deleted;
}
