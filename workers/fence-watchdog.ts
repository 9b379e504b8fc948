// The fence of one PC (domain/fencing.ts): a process of its own beside the node worker, so that a worker killed or
// wedged (SIGSTOP) still leaves its containers fenced. Once a second it looks at the lease the worker's acknowledged
// reports renew; when it has run out, every running container is frozen and its address taken off the LAN. It never
// lifts the fence itself: the worker does, when an acknowledged report says the copies are still current.
import { fenceConfig } from '../common/config';
import { leaseExpired, WATCHDOG_CHECK_MS } from '../domain/fencing';
import { ContainerNet } from '../node/container-net';
import { fenceAll, FencedList, Lease } from '../node/fence';
import { Runc } from '../node/runc';
import { RemnantStore } from '../node/store';
import path from 'node:path';
import { runMain } from './connect';

runMain('fence-watchdog', async () => {
  const config = fenceConfig();
  const lease = new Lease(config.dataDir);
  const parts = {
    runc: new Runc(path.join(config.dataDir, 'runc'), ''),
    net: new ContainerNet(config.nodeId, '', config.netnsPrefix),
    store: new RemnantStore(path.join(config.dataDir, 'store')),
    fenced: new FencedList(config.dataDir),
    remnantRetentionMs: config.remnantRetentionMs,
    log: (line: string) => console.log(`fence ${config.nodeId}: ${line}`),
  };
  // Without any acknowledgement yet (the worker is starting), the lease runs from now.
  const startedNs = process.hrtime.bigint();
  let fenced = false;
  console.log(`fence ${config.nodeId}: watching the lease (${config.leaseSeconds} s) of ${config.dataDir}`);
  for (;;) {
    await new Promise((r) => setTimeout(r, WATCHDOG_CHECK_MS));
    const expired = leaseExpired(await lease.lastAck(), startedNs, process.hrtime.bigint(), config.leaseSeconds);
    if (expired) {
      // Checked again every second: a container restored here meanwhile (Temporal reached, migration-api not) too.
      const done = await fenceAll(parts).catch((err: Error) => {
        parts.log(`fencing failed: ${err.message}`);
        return [];
      });
      if (!fenced || done.length)
        parts.log(
          `lease of ${config.leaseSeconds} s ran out: fenced ${done.length ? done.join(', ') : 'nothing (no container runs)'}`,
        );
      fenced = true;
    } else if (fenced) {
      parts.log('lease renewed');
      fenced = false;
    }
  }
});
