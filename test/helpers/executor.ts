// A NodeExecutor over a scratch data dir, for unit tests of what it decides itself (no runc or CRIU is started:
// runc is asked only about containers it has state for, and there are none).
import { NodeExecutor } from '../../node/executor';

export function scratchExecutor(dataDir: string): NodeExecutor {
  return new NodeExecutor({
    nodeId: 'pc2',
    dataDir,
    dataPlaneAddress: '127.0.0.1:7070',
    criu: '/bin/false',
    capabilities: {
      criuVersion: '4.2',
      runcVersion: '1.1.5',
      memDirtyTrack: false,
      strategy: 'content',
      checkpointsOtherUsers: true,
    },
    remnantRetentionMs: 60_000,
    keepGenerations: 1,
  });
}
