import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { clusterConfig } from '../../infra/cluster/config';

/** A real Temporal dev server from the Temporal CLI that infra/provision.sh built (no download). */
export async function startTestTemporal(): Promise<TestWorkflowEnvironment> {
  const { temporalBin } = clusterConfig();
  return TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporalBin }, ip: '127.0.0.1' },
  });
}

/** The workflow code bundled once per test file (each bundle costs about a second). */
export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quietLogger });
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};
