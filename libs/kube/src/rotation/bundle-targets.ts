// Which trust-roots ConfigMaps count: those in the target namespaces of the trust-manager Bundle (or
// ClusterBundle) of that name, by its own spec.target.namespaceSelector, read from the cluster so the
// runner follows the object trust-manager follows. A ConfigMap of that name anywhere else (a tenant's
// namespace) is not the bundle and must not stall the bundles-synced gate (issue 14, item 5).
import type { KubernetesObject, V1LabelSelector, V1Namespace } from '@kubernetes/client-node';
import { CONTROL_PLANE_NS_LABEL } from '../linkerd.js';
import { selectorMatches } from './restarts.js';

/** The fields of a trust-manager Bundle (trust.cert-manager.io/v1alpha1) or ClusterBundle (trust-manager.io/v1alpha2) the runner reads. */
export interface BundleObject extends KubernetesObject {
  spec?: { target?: { namespaceSelector?: V1LabelSelector | null } };
}

export type BundleKind = 'Bundle' | 'ClusterBundle';

/** What decides the target namespaces: the Bundle's selector, or, without a readable Bundle, Linkerd's namespace alone. */
export type BundleTargets =
  | { readonly kind: BundleKind; readonly found: true; readonly namespaceSelector?: V1LabelSelector }
  | { readonly found: false; readonly why: string };

/** The targets of `bundle` (undefined: not found, with why). A Bundle without a selector targets every namespace, as trust-manager does. */
export function bundleTargetsOf(kind: BundleKind | undefined, bundle: BundleObject | undefined, name: string): BundleTargets {
  if (kind === undefined) return { found: false, why: `neither Bundle nor ClusterBundle ${name} can be listed (trust-manager's CRDs are not served, or the runner may not read them)` };
  if (!bundle) return { found: false, why: `${kind} ${name} does not exist` };
  const selector = bundle.spec?.target?.namespaceSelector ?? undefined;
  return { kind, found: true, ...(selector ? { namespaceSelector: selector } : {}) };
}

/**
 * Whether the trust-roots ConfigMap in `namespace` is one the Bundle writes. A namespace the cache
 * does not hold yet counts (it may be a target: counting it can only hold the gate, never pass it).
 * Without a readable Bundle only Linkerd's own namespace counts: the copy its control plane reads.
 */
export function isBundleTarget(targets: BundleTargets, namespace: string, ns: V1Namespace | undefined, linkerdNamespace: string): boolean {
  if (!targets.found) return namespace === linkerdNamespace;
  if (!targets.namespaceSelector) return true;
  if (!ns) return true;
  return selectorMatches(targets.namespaceSelector, ns.metadata?.labels ?? {});
}

/** A namespace of another Linkerd control plane that the Bundle targets, and how it was recognised. */
export interface OtherControlPlaneTarget {
  readonly namespace: string;
  readonly why: string;
}

/**
 * The namespaces of another Linkerd control plane the Bundle targets: labelled
 * `linkerd.io/is-control-plane=true` or holding the identity Deployment, other than Linkerd's own.
 * The chart's default selector is that label, so a second control plane's trust roots are
 * overwritten with this one's anchors (and count towards bundles-synced) unless the selector is scoped.
 */
export function otherControlPlaneTargets(
  targets: BundleTargets,
  cluster: {
    readonly namespaces: Iterable<V1Namespace>;
    /** Namespaces holding a Deployment named like Linkerd's identity Deployment. */
    readonly identityNamespaces: Iterable<string>;
    readonly namespace: (name: string) => V1Namespace | undefined;
  },
  names: { readonly linkerdNamespace: string; readonly identityDeployment: string },
): OtherControlPlaneTarget[] {
  const reasons = new Map<string, string[]>();
  const add = (namespace: string, why: string) => {
    if (namespace === names.linkerdNamespace) return;
    reasons.set(namespace, [...(reasons.get(namespace) ?? []), why]);
  };
  for (const ns of cluster.namespaces) {
    if (ns.metadata?.labels?.[CONTROL_PLANE_NS_LABEL] === 'true') add(ns.metadata.name ?? '', `labelled ${CONTROL_PLANE_NS_LABEL}=true`);
  }
  for (const namespace of new Set(cluster.identityNamespaces)) add(namespace, `holds Deployment ${names.identityDeployment}`);
  return [...reasons.entries()]
    .filter(([namespace]) => isBundleTarget(targets, namespace, cluster.namespace(namespace), names.linkerdNamespace))
    .map(([namespace, why]) => ({ namespace, why: why.join(' and ') }))
    .sort((a, b) => a.namespace.localeCompare(b.namespace));
}

/** Keeps a Bundle's name and target selector only (its sources can be long). */
export function slimBundle(bundle: BundleObject): void {
  const selector = bundle.spec?.target?.namespaceSelector;
  if (bundle.metadata) delete bundle.metadata.managedFields;
  bundle.spec = selector ? { target: { namespaceSelector: selector } } : {};
  delete (bundle as { status?: unknown }).status;
}
