// Helpers for integration tests. Each spec file gets its own local cluster (about ten seconds to
// start), so files cannot disturb each other's Linkerd, PKI or namespaces.
import * as k8s from '@kubernetes/client-node';
import path from 'node:path';
import { startCluster, stopCluster, type Cluster } from '../cluster/src/index.js';

let current: Cluster | undefined;

/**
 * Start a cluster for this spec file in beforeAll and stop it in afterAll (KEEP_CLUSTER=1 keeps
 * it for debugging; its name and KUBECONFIG are printed).
 */
export function useCluster(opts: { nodes?: number } = {}): () => Cluster {
  const file = path.basename(expect.getState().testPath ?? 'spec', '.spec.ts').replace(/[^a-z0-9-]/gi, '-');
  const name = `t-${file}-${process.pid}`;
  beforeAll(async () => {
    current = await startCluster({ name, ...(opts.nodes ? { nodes: opts.nodes } : {}) });
  }, 300_000);
  afterAll(async () => {
    if (process.env['KEEP_CLUSTER'] === '1') {
      process.stderr.write(`KEEP_CLUSTER=1: cluster ${name} left running: export KUBECONFIG=${current?.kubeconfigPath}\n`);
      return;
    }
    await stopCluster(name);
  }, 120_000);
  return testCluster;
}

export function testCluster(): Cluster {
  if (!current) throw new Error('No cluster: call useCluster() at the top of the spec file.');
  return current;
}

export function core(): k8s.CoreV1Api {
  return testCluster().kubeConfig().makeApiClient(k8s.CoreV1Api);
}

let counter = 0;
/** Create a namespace unique to this test (optionally labelled/annotated) and return its name. */
export async function createNamespace(prefix: string, meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Promise<string> {
  const name = `${prefix}-${++counter}`;
  await core().createNamespace({ body: { metadata: { name, ...meta } } });
  return name;
}
