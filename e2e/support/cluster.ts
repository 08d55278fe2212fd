// Helpers for integration tests: the run's cluster, unique namespaces, typed API clients.
import * as k8s from '@kubernetes/client-node';
import { attachCluster, type Cluster } from '../cluster/src/index.js';

let cached: Cluster | undefined;

export function testCluster(): Cluster {
  const name = process.env['LR_CLUSTER_NAME'];
  if (!name) throw new Error('LR_CLUSTER_NAME is not set: run the integration tier through `npm test` (its globalSetup starts the cluster).');
  cached ??= attachCluster(name);
  return cached;
}

export function core(): k8s.CoreV1Api {
  return testCluster().kubeConfig().makeApiClient(k8s.CoreV1Api);
}

export function objects(): k8s.KubernetesObjectApi {
  return k8s.KubernetesObjectApi.makeApiClient(testCluster().kubeConfig());
}

let counter = 0;
/** Create a namespace unique to this test (optionally labelled/annotated) and return its name. */
export async function createNamespace(prefix: string, meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Promise<string> {
  const name = `${prefix}-${process.pid}-${++counter}`;
  await core().createNamespace({ body: { metadata: { name, ...meta } } });
  return name;
}
