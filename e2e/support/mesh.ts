// Meshed demo workloads for scenarios: namespaces annotated for injection, one ServiceAccount per
// workload (so every workload has its own identity), Deployments whose pods the injector meshes.
import type { Cluster } from '../cluster/src/index.js';

export interface MeshSpec {
  namespaces: number;
  workloadsPerNamespace: number;
  replicas?: number;
  prefix?: string;
  /** How long each namespace may take to become Available (default 180 s). */
  timeoutSeconds?: number;
}

export interface MeshedWorkload {
  namespace: string;
  name: string;
}

export async function createMeshedWorkloads(cluster: Cluster, spec: MeshSpec): Promise<MeshedWorkload[]> {
  const prefix = spec.prefix ?? 'app';
  const docs: string[] = [];
  const workloads: MeshedWorkload[] = [];
  for (let n = 0; n < spec.namespaces; n++) {
    const ns = `${prefix}-ns-${n}`;
    docs.push(`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n  annotations: {linkerd.io/inject: enabled}\n`);
    for (let w = 0; w < spec.workloadsPerNamespace; w++) {
      const name = `${prefix}-${w}`;
      workloads.push({ namespace: ns, name });
      docs.push(`apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ${name}, namespace: ${ns}}\n`);
      docs.push(`apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  replicas: ${spec.replicas ?? 1}
  selector: {matchLabels: {app: ${name}}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      serviceAccountName: ${name}
      containers: [{name: app, image: example.invalid/${name}:1}]
`);
    }
  }
  await cluster.kubectl(['apply', '-f', '-'], { input: docs.join('---\n') });
  for (let n = 0; n < spec.namespaces; n++) {
    await cluster.kubectl(['-n', `${prefix}-ns-${n}`, 'wait', '--for=condition=Available', 'deployment', '--all', `--timeout=${spec.timeoutSeconds ?? 180}s`]);
  }
  // The injector fails open (as upstream's): a pod it did not admit runs unmeshed and would never
  // get a simulated proxy. Say so now rather than let a later wait for proxies time out.
  const namespaces = new Set(workloads.map((w) => w.namespace));
  const pods = JSON.parse((await cluster.kubectl(['get', 'pods', '-A', '-o', 'json'])).stdout) as {
    items: Array<{ metadata: { namespace: string; name: string }; spec: { containers: Array<{ name: string }> } }>;
  };
  const unmeshed = pods.items.filter((p) => namespaces.has(p.metadata.namespace) && !p.spec.containers.some((c) => c.name === 'linkerd-proxy'));
  if (unmeshed.length > 0) {
    const names = unmeshed.slice(0, 5).map((p) => `${p.metadata.namespace}/${p.metadata.name}`).join(', ');
    throw new Error(`expected every pod of the meshed workloads to carry linkerd-proxy, found ${unmeshed.length} without it (${names}${unmeshed.length > 5 ? ', ...' : ''}); the proxy-injector was not serving when they were created`);
  }
  return workloads;
}
