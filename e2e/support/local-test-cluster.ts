// The local cluster as a TestCluster, for the scenarios both tiers share: a cluster of its own for
// the spec file with the chart installed (installRotator), its webhook a local process.
import type { Cluster } from '../cluster/src/index.js';
import { installRotator, startChartWebhook, type ChartWebhook, type RotatorRelease } from './chart.js';
import { useCluster } from './cluster.js';
import { objectNames, release } from './release.js';
import type { TestCluster, TestWebhook } from './test-cluster.js';

export interface LocalTestCluster extends TestCluster {
  readonly cluster: Cluster;
  readonly rotator: RotatorRelease;
}

/**
 * The webhook process as TestWebhook: one replica or none (the chart's URL names one port). Its
 * logs are those of every process started for it, the first one included.
 */
function localWebhook(cluster: Cluster, rotator: RotatorRelease): TestWebhook & { stop(): Promise<void> } {
  const started: ChartWebhook[] = [rotator.webhook];
  let running: ChartWebhook | undefined = rotator.webhook;
  return {
    async scale(replicas) {
      if (replicas !== 0 && replicas !== 1) {
        throw new Error(`expected 0 or 1 webhook replicas on the local cluster, found ${replicas}; its webhook is one local process on the port the chart's URL names`);
      }
      const before = running ? 1 : 0;
      if (replicas === 0 && running) {
        await running.stop();
        running = undefined;
      } else if (replicas === 1 && !running) {
        running = await startChartWebhook(cluster, rotator.webhookStart);
        started.push(running);
      }
      return before;
    },
    logs: async () => started.map((webhook) => webhook.log()).join(''),
    stop: async () => {
      await running?.stop();
      running = undefined;
    },
  };
}

/** The chart installed on a started local cluster (installRotator with `values` and `opts`), as a TestCluster; stop() stops its webhook. */
export async function installLocalTestCluster(cluster: Cluster, values?: string[], opts?: Parameters<typeof installRotator>[2]): Promise<LocalTestCluster & { stop(): Promise<void> }> {
  const rotator = await installRotator(cluster, values, opts);
  const webhook = localWebhook(cluster, rotator);
  return {
    tier: 'local',
    kubeconfig: cluster.kubeconfigPath,
    kubectl: (args, runOptions) => cluster.kubectl(args, runOptions),
    release,
    names: objectNames,
    webhook,
    cluster,
    rotator,
    stop: () => webhook.stop(),
  };
}

/**
 * Starts a local cluster for this spec file and installs the chart in beforeAll (with `values`, helm
 * flags such as `--set key=value`, on top of the test defaults); stops both in afterAll.
 */
export function useLocalTestCluster(opts: { nodes?: number; values?: string[] } = {}): () => LocalTestCluster {
  const testCluster = useCluster(opts.nodes ? { nodes: opts.nodes } : {});
  let current: Awaited<ReturnType<typeof installLocalTestCluster>> | undefined;
  beforeAll(async () => {
    current = await installLocalTestCluster(testCluster(), opts.values);
  }, 300_000);
  afterAll(async () => {
    await current?.stop();
  });
  return () => {
    if (!current) throw new Error('expected the chart installed on the local cluster by beforeAll, found none; see the first error of this spec file');
    return current;
  };
}
