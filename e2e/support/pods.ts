// The parts of a pod the e2e tests read, and its linkerd-proxy container: a container on the local
// cluster's stand-in injector, a native sidecar (an init container) on real Linkerd.

export interface ContainerInfo {
  name: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
}

export interface PodInfo {
  metadata: {
    namespace: string;
    name: string;
    creationTimestamp: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: { containers: ContainerInfo[]; initContainers?: ContainerInfo[] };
  status?: { phase?: string; containerStatuses?: { name: string; state?: Record<string, unknown> }[] };
}

/** The linkerd-proxy container of an injected pod, wherever the injector put it. */
export function proxyContainer(pod: PodInfo): ContainerInfo | undefined {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === 'linkerd-proxy');
}

/** A pod that is not being deleted and has not finished. */
export function isLive(pod: PodInfo): boolean {
  return !pod.metadata.deletionTimestamp && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
}

export const podId = (pod: PodInfo) => `${pod.metadata.namespace}/${pod.metadata.name}`;
