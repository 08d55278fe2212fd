// `rotator recover` run as the chart's CronJob would (its ServiceAccount, its flags), for the specs
// that recover a broken mesh on the local cluster.
import { runRunnerAsChart, type RunnerRun } from './chart.js';
import type { LocalTestCluster } from './local-test-cluster.js';

/**
 * `recover --output json --phase-timeout <phaseTimeout>` plus `extraArgs`. Every gate of a recovery
 * opens within seconds to a few minutes on a healthy local cluster: a short phase deadline stops a
 * stuck run, naming its gate.
 */
export function runRecover(
  testCluster: LocalTestCluster,
  opts: { extraArgs: string[]; phaseTimeout?: string; onOutput?: (chunk: string) => void },
): Promise<RunnerRun> {
  const { cluster, rotator } = testCluster;
  return runRunnerAsChart(cluster, {
    kubeconfig: rotator.runnerKubeconfig,
    workload: 'rotate-cronjob',
    command: 'recover',
    extraArgs: ['--output', 'json', '--phase-timeout', opts.phaseTimeout ?? '2m', ...opts.extraArgs],
    timeoutMs: 600_000,
    ...(opts.onOutput ? { onOutput: opts.onOutput } : {}),
  });
}
