// Names and namespaces of the objects linkerd-rotator reads and guards (every one a chart value).
// Defaults follow Linkerd's cert-manager docs and DESIGN.md "Resources".

export interface TrustObjectNames {
  /** trust-manager's trust namespace, home of the anchor Secrets. */
  trustNamespace: string;
  /** Linkerd's control-plane namespace. */
  linkerdNamespace: string;
  /** Where linkerd-rotator runs and keeps its rotation state. */
  releaseNamespace: string;
  /** cert-manager's Certificate Secret: the prepared anchor. */
  preparedAnchorSecret: string;
  /** The anchor that signs identity issuers (tls.crt, tls.key). */
  activeAnchorSecret: string;
  /** The retiring anchor (tls.crt only). */
  previousAnchorSecret: string;
  /** Linkerd's identity issuer Secret, in the Linkerd namespace. */
  issuerSecret: string;
  /** trust-manager's target ConfigMap, in every control-plane namespace. */
  trustRootsConfigMap: string;
  trustRootsKey: string;
  /** The rotation state ConfigMap, in the release namespace. */
  stateConfigMap: string;
}

export const DEFAULT_TRUST_OBJECT_NAMES: TrustObjectNames = {
  trustNamespace: 'cert-manager',
  linkerdNamespace: 'linkerd',
  releaseNamespace: 'linkerd-rotator',
  preparedAnchorSecret: 'linkerd-trust-anchor',
  activeAnchorSecret: 'linkerd-active-anchor',
  previousAnchorSecret: 'linkerd-previous-anchor',
  issuerSecret: 'linkerd-identity-issuer',
  trustRootsConfigMap: 'linkerd-identity-trust-roots',
  trustRootsKey: 'ca-bundle.crt',
  stateConfigMap: 'linkerd-rotator-state',
};
