// What Linkerd itself fixes and every cache reads: the proxy container's name, the env var and the
// annotation that carry a proxy's trust anchors, and the labels that tell control plane from mesh.

/** The container Linkerd's proxy runs in (a regular container or a native sidecar). */
export const PROXY_CONTAINER = 'linkerd-proxy';
export const TRUST_ANCHORS_ENV = 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS';
export const TRUST_ROOT_ANNOTATION = 'linkerd.io/trust-root-sha256';
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';
export const CONTROL_PLANE_NS_LABEL = 'linkerd.io/is-control-plane';
export const EXTENSION_NS_LABEL = 'linkerd.io/extension';
export const CONTROL_PLANE_COMPONENT_LABEL = 'linkerd.io/control-plane-component';
/** Label Linkerd's proxy-injector puts on every pod it injects: the default meshed-pod selector. */
export const MESHED_POD_LABEL = 'linkerd.io/control-plane-ns';

interface ContainerLike {
  name: string;
}

/** The proxy container: a regular container or a native sidecar (init container with restartPolicy Always). */
export function proxyContainer<C extends ContainerLike>(pod: { spec?: { containers?: C[]; initContainers?: C[] } }): C | undefined {
  return pod.spec?.containers?.find((c) => c.name === PROXY_CONTAINER) ?? pod.spec?.initContainers?.find((c) => c.name === PROXY_CONTAINER);
}
