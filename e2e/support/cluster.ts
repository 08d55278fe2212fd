// Helpers for integration tests. Each spec file gets its own local cluster (about ten seconds to
// start), so files cannot disturb each other's Linkerd, PKI or namespaces.
import * as k8s from '@kubernetes/client-node';
import path from 'node:path';
import { startCluster, stopCluster, type Cluster } from '../cluster/src/index.js';

let current: Cluster | undefined;

/** The cluster's name for this spec file (`t-<file>[-<member>]-<pid>`). */
function specClusterName(member?: string): string {
  const file = path.basename(expect.getState().testPath ?? 'spec', '.spec.ts').replace(/[^a-z0-9-]/gi, '-');
  return `t-${file}${member === undefined ? '' : `-${member}`}-${process.pid}`;
}

async function stopSpecCluster(name: string, cluster: Cluster | undefined): Promise<void> {
  if (process.env['KEEP_CLUSTER'] === '1') {
    process.stderr.write(`KEEP_CLUSTER=1: cluster ${name} left running: export KUBECONFIG=${cluster?.kubeconfigPath}\n`);
    return;
  }
  await stopCluster(name);
}

/**
 * Start a cluster for this spec file in beforeAll and stop it in afterAll (KEEP_CLUSTER=1 keeps
 * it for debugging; its name and KUBECONFIG are printed).
 */
export function useCluster(opts: { nodes?: number } = {}): () => Cluster {
  const name = specClusterName();
  beforeAll(async () => {
    current = await startCluster({ name, ...(opts.nodes ? { nodes: opts.nodes } : {}) });
  }, 300_000);
  afterAll(() => stopSpecCluster(name, current), 120_000);
  return testCluster;
}

/**
 * Several clusters side by side for the enclosing describe (a fleet), started in parallel in
 * beforeAll and stopped in afterAll, as useCluster does one; by member name.
 */
export function useClusters<N extends string>(members: readonly N[]): () => Record<N, Cluster> {
  const started = new Map<N, Cluster>();
  beforeAll(async () => {
    await Promise.all(members.map(async (member) => started.set(member, await startCluster({ name: specClusterName(member) }))));
  }, 300_000);
  afterAll(async () => {
    await Promise.all(members.map((member) => stopSpecCluster(specClusterName(member), started.get(member))));
  }, 120_000);
  return () => {
    if (started.size !== members.length) throw new Error(`expected clusters ${members.join(', ')} started by beforeAll, found ${[...started.keys()].join(', ') || 'none'}; see the first error of this spec file`);
    return Object.fromEntries(started) as Record<N, Cluster>;
  };
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
