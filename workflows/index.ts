// Every workflow the control worker runs. Workflow code is bundled into Temporal's deterministic sandbox:
// import activities as types only.
export { probeNode } from './probe-node';
export { createContainer } from './create-container';
export { moveContainer } from './move-container';
export { migrateContainer } from './migrate-container';
export { nodeLifecycle } from './node-lifecycle';
export { rebalance } from './rebalance';
export { lectureEvacuations, evacuateForLecture } from './lecture-evacuation';
export { safetyCheckpoint, safetyCheckpoints } from './safety-checkpoints';
export { recoverCrashedNodes, recoverContainer } from './crash-recovery';
export { collectRemnants } from './remnant-gc';
export {
  stopContainer,
  startStoppedContainer,
  restartContainer,
  execInContainer,
  containerLogs,
} from './container-commands';
