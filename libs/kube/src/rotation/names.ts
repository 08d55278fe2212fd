// Names of every object the rotation runner reads or writes: the webhook's trust objects plus the
// Certificates, the Lease and Linkerd's identity Deployment. Each one is a chart value (docs/chart.md).
import { DEFAULT_TRUST_OBJECT_NAMES, type TrustObjectNames } from '../names.js';

export interface RotatorObjectNames extends TrustObjectNames {
  /** cert-manager Certificate (trust namespace) that issues the prepared anchor. */
  preparedAnchorCertificate: string;
  /** cert-manager Certificate (Linkerd namespace) that issues Linkerd's identity issuer. */
  issuerCertificate: string;
  /** coordination.k8s.io Lease (state namespace) that keeps two runs apart. */
  lease: string;
  /** Linkerd's identity Deployment: its events (`IssuerUpdated`) and its pods (anchors loaded at start). */
  identityDeployment: string;
}

export const DEFAULT_ROTATOR_OBJECT_NAMES: RotatorObjectNames = {
  ...DEFAULT_TRUST_OBJECT_NAMES,
  preparedAnchorCertificate: 'linkerd-trust-anchor',
  issuerCertificate: 'linkerd-identity-issuer',
  lease: 'linkerd-rotator',
  identityDeployment: 'linkerd-identity',
};

/** The container Linkerd's proxy runs in (a regular container or a native sidecar). */
export const PROXY_CONTAINER = 'linkerd-proxy';
export const TRUST_ANCHORS_ENV = 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS';
export const TRUST_ROOT_ANNOTATION = 'linkerd.io/trust-root-sha256';
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';
export const CONTROL_PLANE_NS_LABEL = 'linkerd.io/is-control-plane';
export const EXTENSION_NS_LABEL = 'linkerd.io/extension';
export const CONTROL_PLANE_COMPONENT_LABEL = 'linkerd.io/control-plane-component';
export const FIELD_MANAGER = 'linkerd-rotator';
