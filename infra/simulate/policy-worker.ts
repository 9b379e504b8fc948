// One policy's semester in a worker thread of its own (semester.ts, simulateSemesterInThreads).
import { parentPort, workerData } from 'node:worker_threads';
import type { PolicyName } from './policies';
import { simulateOnePolicy } from './semester';

const { o, name } = workerData as { o: { pcs: number; weeks: number; seed: number }; name: PolicyName };
parentPort!.postMessage(simulateOnePolicy(o, name));
