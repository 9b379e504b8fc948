#!/usr/bin/env node
// zanshin-power-off: run at power-off on a classroom PC (zanshin-evacuate.service's ExecStop) and by hand. Asks
// Zanshin to move this PC's containers away (signal-with-start of its nodeLifecycle workflow, which the full server's
// authorizer lets a PC do with its own certificate) and waits until that evacuation has finished or the deadline
// passed. Settings as the node worker's: ZANSHIN_NODE_ID, TEMPORAL_ADDRESS, TEMPORAL_TLS_* (this PC's certificate),
// ZANSHIN_PAYLOAD_KEY_FILE; ZANSHIN_EVACUATION_DEADLINE (seconds, default 90) should stay below the unit's
// TimeoutStopSec.
import { setTimeout as sleep } from 'node:timers/promises';
import { envInt, envRequired } from '../common/env';
import { temporalConfig } from '../common/config';
import { runMain } from './connect';
import { lifecycleSignals } from './lifecycle-signals';
import type { EvacuationReport } from '../workflows/node-lifecycle';

/** The evacuation this request started: the newest one requested at or after `since`, once it has finished. */
export function finishedEvacuation(evacuations: EvacuationReport[], since: number): EvacuationReport | null {
  const newest = evacuations.at(-1);
  return newest && newest.requestedAt >= since && newest.finishedAt !== null ? newest : null;
}

async function main(): Promise<void> {
  const nodeId = envRequired(process.env, 'ZANSHIN_NODE_ID', "set it to this PC's id, e.g. ZANSHIN_NODE_ID=pc1");
  const deadlineSeconds = envInt(process.env, 'ZANSHIN_EVACUATION_DEADLINE', 90, 5, 3600);
  const lifecycle = lifecycleSignals(nodeId, temporalConfig());
  try {
    // The workflow stamps requestedAt with its own clock; a second of slack for clocks apart.
    const since = Date.now() - 1_000;
    const handle = await lifecycle.send('shutdown', { deadlineSeconds, reason: 'power-off' });
    console.log(`zanshin: evacuating ${nodeId} (deadline ${deadlineSeconds} s)`);
    const end = Date.now() + (deadlineSeconds + 30) * 1000;
    while (Date.now() < end) {
      const status = await handle.query<{ evacuations: EvacuationReport[] }>('status').catch(() => null);
      const done = status && finishedEvacuation(status.evacuations, since);
      if (done) {
        const moved = done.containers.filter((c) => c.outcome.startsWith('moved')).length;
        const left = done.containers.filter((c) => !c.outcome.startsWith('moved'));
        console.log(`zanshin: containers of ${nodeId} evacuated (${moved} moved)`);
        if (left.length)
          throw new Error(
            `not moved: ${left.map((c) => `${c.containerId} (${c.outcome}${c.error ? `: ${c.error}` : ''})`).join(', ')}`,
          );
        return;
      }
      await sleep(2_000);
    }
    throw new Error(`the evacuation of ${nodeId} did not finish within ${deadlineSeconds + 30} s`);
  } finally {
    await lifecycle.close();
  }
}

if (require.main === module) runMain('zanshin-power-off', main);
