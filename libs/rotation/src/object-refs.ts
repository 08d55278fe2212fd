// How engine messages name the objects of this install: built from the configured names
// (options.names), with their namespaces, so a renamed install is told about its own objects.
import type { ObjectNames } from '@linkerd-rotator/names';

/** Each object as a message names it: kind, then namespace/name where it has one namespace. */
export interface ObjectRefs {
  /** cert-manager's Secret of the prepared anchor. */
  readonly preparedSecret: string;
  readonly preparedCertificate: string;
  /** The selfSigned Issuer that signs the prepared anchor. */
  readonly trustRootIssuer: string;
  readonly activeSecret: string;
  readonly previousSecret: string;
  /** The ClusterIssuer (CA issuer on the active anchor) that signs the identity issuer. */
  readonly identityClusterIssuer: string;
  readonly issuerSecret: string;
  readonly issuerCertificate: string;
  /** The trust-roots ConfigMap, by name: there is one in every target namespace. */
  readonly trustRoots: string;
  /** The trust-roots ConfigMap the identity controller reads, in Linkerd's namespace. */
  readonly linkerdTrustRoots: string;
  readonly identityDeployment: string;
  /** The public PKI view the exporter publishes and the webhook reads (release namespace). */
  readonly publicPki: string;
}

export function objectRefs(names: ObjectNames): ObjectRefs {
  const trust = (kind: string, name: string) => `${kind} ${names.trustNamespace}/${name}`;
  const linkerd = (kind: string, name: string) => `${kind} ${names.linkerdNamespace}/${name}`;
  return {
    preparedSecret: trust('Secret', names.preparedAnchorSecret),
    preparedCertificate: trust('Certificate', names.preparedAnchorCertificate),
    trustRootIssuer: trust('Issuer', names.trustRootIssuer),
    activeSecret: trust('Secret', names.activeAnchorSecret),
    previousSecret: trust('Secret', names.previousAnchorSecret),
    identityClusterIssuer: `ClusterIssuer ${names.identityClusterIssuer}`,
    issuerSecret: linkerd('Secret', names.issuerSecret),
    issuerCertificate: linkerd('Certificate', names.issuerCertificate),
    trustRoots: `ConfigMap ${names.trustRootsConfigMap}`,
    linkerdTrustRoots: linkerd('ConfigMap', names.trustRootsConfigMap),
    identityDeployment: linkerd('Deployment', names.identityDeployment),
    publicPki: `ConfigMap ${names.releaseNamespace}/${names.publicPkiConfigMap}`,
  };
}
