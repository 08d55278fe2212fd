// What a rotation did to the cluster, watched from outside while it runs: the runner's phases as its
// state ConfigMap shows them, and every meshed pod created (a restart creates one), per plane.
import * as k8s from '@kubernetes/client-node';
import type { Cluster } from '../cluster/src/index.js';
import { objectNames, release } from './release.js';

export interface PhaseSeen {
  phase: string;
  at: number;
}

/** Watches the runner's state ConfigMap and records when each phase was first seen. */
export function watchPhases(cluster: Cluster): { phases: PhaseSeen[]; stop: () => Promise<void> } {
  const kc = cluster.kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const phases: PhaseSeen[] = [];
  const selector = `metadata.name=${objectNames.stateConfigMap}`;
  const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${release.namespace}/configmaps?fieldSelector=${encodeURIComponent(selector)}`, () =>
    core.listNamespacedConfigMap({ namespace: release.namespace, fieldSelector: selector }),
  );
  const seen = (cm: k8s.V1ConfigMap) => {
    const phase = cm.data?.['phase'];
    if (phase && phases[phases.length - 1]?.phase !== phase) phases.push({ phase, at: Date.now() });
  };
  informer.on('add', seen);
  informer.on('update', seen);
  void informer.start();
  return { phases, stop: () => informer.stop() };
}

/** A meshed pod created while the watch ran. */
export interface CreatedPod {
  namespace: string;
  name: string;
  /** The `app` label of the demo and scenario workloads (e2e/support/mesh.ts): the workload's name. */
  app?: string;
  /** `linkerd.io/control-plane-component` (identity, proxy-injector, ...) for Linkerd's own pods. */
  component?: string;
  createdAt: number;
}

export interface PodStarts {
  /** Every meshed pod created at or after `since`, in the order the watch saw them (then those the last list found). */
  readonly created: CreatedPod[];
  /** How many of them are in `namespaces` (inside: true) or outside them (inside: false). */
  count(filter: { namespaces: ReadonlySet<string>; inside: boolean }): number;
  stop(): Promise<void>;
}

/**
 * Counts meshed pods (label linkerd.io/control-plane-ns) created at or after `since` (whole seconds:
 * the API server keeps no finer time): every restart of a workload creates one.
 */
export function watchPodStarts(cluster: Cluster, since: number): PodStarts {
  const kc = cluster.kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const selector = 'linkerd.io/control-plane-ns';
  const created: CreatedPod[] = [];
  const seen = new Set<string>();
  const list = () => core.listPodForAllNamespaces({ labelSelector: selector });
  const informer = k8s.makeInformer(kc, `/api/v1/pods?labelSelector=${encodeURIComponent(selector)}`, list);
  const record = (pod: k8s.V1Pod) => {
    const { namespace, name, uid, creationTimestamp, labels } = pod.metadata ?? {};
    if (!namespace || !name || !uid || seen.has(uid) || !creationTimestamp) return;
    const createdAt = new Date(creationTimestamp).getTime();
    if (createdAt < Math.floor(since / 1000) * 1000) return;
    seen.add(uid);
    const app = labels?.['app'];
    const component = labels?.['linkerd.io/control-plane-component'];
    created.push({ namespace, name, createdAt, ...(app ? { app } : {}), ...(component ? { component } : {}) });
  };
  informer.on('add', record);
  void informer.start();
  return {
    created,
    count: ({ namespaces, inside }) => created.filter((pod) => namespaces.has(pod.namespace) === inside).length,
    // The watch can lag the API server (a loaded machine, a reconnect): a pod the rotation created
    // and waited for may exist before its ADDED event arrives. A last list when stopping adds every
    // such pod, so `created` holds each meshed pod created since `since` that the watch saw or that
    // exists now.
    stop: async () => {
      await informer.stop();
      for (const pod of (await list()).items) record(pod);
    },
  };
}
