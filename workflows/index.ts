// Every workflow the control worker runs. Workflow code is bundled into Temporal's deterministic sandbox:
// import activities as types only.
export { probeNode } from './probe-node';
