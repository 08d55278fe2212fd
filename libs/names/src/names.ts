// Every configurable object name and namespace, defined once. Both apps build their flags and
// environment variables from OBJECT_NAME_TABLE, the engine builds its messages from the configured
// ObjectNames, and the chart's ConfigMap renders one variable per row (checked by the chart tests).
// Defaults follow Linkerd's cert-manager docs, so a cluster set up by those docs is adopted as is.

/** Which app takes a name as a flag: the rotation runner, the admission webhook, the exporter. */
export type NameConsumer = 'runner' | 'webhook' | 'exporter';

export interface ObjectNameRow<K extends string = string> {
  readonly key: K;
  /** CLI flag without the leading dashes. */
  readonly flag: string;
  /** Environment variable: the flag upper-cased, dashes as underscores. */
  readonly env: string;
  readonly default: string;
  /** Where the chart takes it from (a values path, or `.Release.Namespace`); undefined when fixed. */
  readonly chartValue?: string;
  readonly description: string;
  readonly usedBy: readonly NameConsumer[];
}

const ALL: readonly NameConsumer[] = ['runner', 'webhook', 'exporter'];
const RUNNER: readonly NameConsumer[] = ['runner'];

function row<K extends string>(key: K, flag: string, fallback: string, chartValue: string | undefined, description: string, usedBy: readonly NameConsumer[] = ALL): ObjectNameRow<K> {
  return { key, flag, env: flag.replace(/-/g, '_').toUpperCase(), default: fallback, ...(chartValue ? { chartValue } : {}), description, usedBy };
}

/** name -> flag, env, default, chart value; the order is the order of `--help`. */
export const OBJECT_NAME_TABLE = [
  row('trustNamespace', 'trust-namespace', 'cert-manager', 'namespaces.trust', "trust-manager's trust namespace (anchor Secrets)"),
  row('linkerdNamespace', 'linkerd-namespace', 'linkerd', 'namespaces.linkerd', "Linkerd's control-plane namespace"),
  row('releaseNamespace', 'state-namespace', 'linkerd-rotator', '.Release.Namespace', 'namespace of the state ConfigMap and Lease (the release namespace; default: POD_NAMESPACE)'),
  row('trustRootIssuer', 'trust-root-issuer', 'linkerd-trust-root-issuer', 'names.trustRootIssuer', 'selfSigned Issuer (trust namespace) that signs the prepared anchor', RUNNER),
  row('preparedAnchorCertificate', 'prepared-anchor-certificate', 'linkerd-trust-anchor', 'names.preparedAnchorCertificate', 'Certificate of the prepared anchor', RUNNER),
  row('preparedAnchorSecret', 'prepared-anchor-secret', 'linkerd-trust-anchor', 'names.preparedAnchorSecret', 'Secret of the prepared anchor (cert-manager)'),
  row('activeAnchorSecret', 'active-anchor-secret', 'linkerd-active-anchor', 'names.activeAnchorSecret', 'Secret of the active (signing) anchor'),
  row('previousAnchorSecret', 'previous-anchor-secret', 'linkerd-previous-anchor', 'names.previousAnchorSecret', 'Secret of the retiring anchor (certificate only)'),
  row('identityClusterIssuer', 'identity-cluster-issuer', 'linkerd-identity-issuer', 'names.identityClusterIssuer', 'ClusterIssuer (CA issuer on the active anchor) that signs the identity issuer', RUNNER),
  row('issuerCertificate', 'issuer-certificate', 'linkerd-identity-issuer', 'names.issuerCertificate', "Linkerd's identity issuer Certificate", RUNNER),
  row('issuerSecret', 'issuer-secret', 'linkerd-identity-issuer', 'names.issuerSecret', "Linkerd's identity issuer Secret"),
  row('trustRootsConfigMap', 'trust-roots-configmap', 'linkerd-identity-trust-roots', 'names.trustRootsConfigMap', 'trust-manager Bundle and target ConfigMap that Linkerd reads'),
  row('trustRootsKey', 'trust-roots-key', 'ca-bundle.crt', undefined, 'key of the trust-roots ConfigMap (fixed by Linkerd)'),
  row('stateConfigMap', 'state-configmap', 'linkerd-rotator-state', 'names.stateConfigMap', 'ConfigMap holding the rotation state'),
  row('publicPkiConfigMap', 'public-pki-configmap', 'linkerd-rotator-public-pki', 'names.publicPkiConfigMap', "ConfigMap (release namespace) of the anchors' and issuer's public certificates: written by the exporter, read by the webhook and the runner (no keys)"),
  row('lease', 'lease', 'linkerd-rotator', 'names.lease', 'Lease that keeps two runs apart', RUNNER),
  row('identityDeployment', 'identity-deployment', 'linkerd-identity', undefined, "Linkerd's identity Deployment (fixed by Linkerd's chart)", RUNNER),
] as const;

export type ObjectNameKey = (typeof OBJECT_NAME_TABLE)[number]['key'];

/** The configured names of one install. */
export type ObjectNames = { readonly [K in ObjectNameKey]: string };

export const DEFAULT_OBJECT_NAMES: ObjectNames = Object.freeze(
  Object.fromEntries(OBJECT_NAME_TABLE.map((r) => [r.key, r.default])) as Record<ObjectNameKey, string>,
);

/** The rows an app takes as flags. */
export function nameRowsFor(consumer: NameConsumer): readonly ObjectNameRow<ObjectNameKey>[] {
  return OBJECT_NAME_TABLE.filter((r) => r.usedBy.includes(consumer));
}

/** A Kubernetes object name (RFC 1123 subdomain); the key of a ConfigMap is checked the same way, with `_`. */
export const OBJECT_NAME_PATTERN = /^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$/;

/**
 * A cluster's name in the exporter's `cluster` label (the chart's fleet.clusterName, docs/multicluster.md):
 * what kubeconfig contexts and Prometheus external labels are usually called, 1 to 63 letters, digits,
 * '-', '_' and '.', starting and ending with a letter or digit. The chart's values schema allows it or "".
 */
export const CLUSTER_NAME_PATTERN = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/**
 * The key of the active-anchor Secret that holds the self-signed anchor alone (docs/cross-signing.md).
 * Its `tls.crt` is what cert-manager's CA issuer signs with, which during a cross-signed rotation is
 * the cross-signature X, so the trust bundle, the webhook and the exporter read the anchor here.
 * A Secret without this key (written before it existed) holds the anchor as the first of `tls.crt`.
 */
export const ANCHOR_CERT_KEY = 'anchor.crt';

/**
 * The key of the active-anchor Secret that holds, beside a cross-signature in `tls.crt`, the anchor
 * that signed it (a certificate, never a key). After Retire that anchor is in no other Secret and no
 * bundle, yet pods started on it still reach the issuer through X; the runner and the exporter need
 * its public key to tell that X is its signature, and so which pods rely on X (docs/cross-signing.md).
 */
export const CROSS_SIGNER_CERT_KEY = 'cross-signer.crt';
