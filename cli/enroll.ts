#!/usr/bin/env node
// zanshin-enroll: run once on a new PC (the install script does) with the join token an administrator issued.
import { Command } from 'commander';
import { enrollPc } from './enroll-pc';

const program = new Command('zanshin-enroll')
  .description('enroll this PC: its own key, a certificate of the cluster CA and its credential, from a join token')
  .requiredOption('--api <url>', "migration-api's URL (https:// on a campus)")
  .requiredOption('--node <id>', "this PC's id, as the join token names it (e.g. pc7)")
  .option('--token <token>', 'the join token (or ZANSHIN_JOIN_TOKEN: keeps it out of the process list)')
  .option('--ca <file>', 'the cluster CA certificate to trust for an https:// URL')
  .option('--dir <dir>', 'where to keep the key, certificates and credential', '/etc/zanshin')
  .option('--force', 'enroll again over an earlier enrollment')
  .action(async (o: { api: string; node: string; token?: string; ca?: string; dir: string; force?: boolean }) => {
    const token = o.token ?? process.env.ZANSHIN_JOIN_TOKEN;
    if (!token)
      throw new Error('give the join token: --token or ZANSHIN_JOIN_TOKEN (zanshin credential join-token <pc>)');
    if (o.api.startsWith('http://'))
      console.error('zanshin-enroll: warning: plain HTTP: the join token and the credential cross the LAN unencrypted');
    const files = await enrollPc({
      apiUrl: o.api,
      nodeId: o.node,
      token,
      dir: o.dir,
      ...(o.ca ? { caFile: o.ca } : {}),
      force: o.force ?? false,
    });
    console.log(`${o.node} enrolled: ${Object.values(files).join(', ')}`);
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`zanshin-enroll: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
