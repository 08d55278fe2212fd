// The cluster's trust state as the admission webhook and the PKI health exporter see it: plain,
// immutable values with certificates only, never a private key, behind interfaces tests can fake.

/**
 * A certificate held in a Secret: an anchor Secret's anchor (anchor.crt, else tls.crt: libs/kube
 * `anchorPemOf`), or the issuer's tls.crt. `source` names the object for messages.
 */
export interface CertificateView {
  source: string;
  certPem: string;
  /** The active anchor Secret's cross-signer.crt: the anchor that signed the cross-signature in its tls.crt. */
  crossSignerPem?: string;
}

/** The identity issuer Secret, without its key. */
export interface IssuerView {
  source: string;
  certPem: string;
  caPem?: string;
}

/** The trust-roots ConfigMap in the Linkerd namespace. */
export interface BundleView {
  source: string;
  pem: string;
}

/** What the rotation state says about the bundle (see docs/webhook.md for the ConfigMap keys). */
export interface RotationStateView {
  source: string;
  /** For messages: `TrustBoth`, `Stopped in TrustBoth` (libs/rotation `describePhase`), `unknown` when unreadable. */
  phase: string;
  /** SHA-256 (DER) of anchors every bundle must keep while this phase lasts. */
  requiredAnchorFingerprints: string[];
  /** Set when the ConfigMap exists but cannot be read; the webhook then fails closed. */
  problem?: string;
  /** A recovery replaces the identity issuer (libs/rotation `recovering`): the bundle need not verify the current one. */
  recovering?: boolean;
}

export interface TrustSnapshot {
  /**
   * Set when the anchors and the issuer are not known (the public PKI view is missing or
   * unreadable): the four views below are then absent for that reason, not because the Secrets
   * are, and the webhook denies what it would judge by them, with this message.
   */
  pkiUnknown?: string;
  preparedAnchor?: CertificateView;
  activeAnchor?: CertificateView;
  previousAnchor?: CertificateView;
  issuer?: IssuerView;
  trustRoots?: BundleView;
  rotation?: RotationStateView;
}

/** What the webhook depends on: a current snapshot, read without I/O. */
export interface TrustSnapshotSource {
  /** The latest snapshot; cheap, synchronous, never blocks on the API server. */
  current(): TrustSnapshot;
  /** True once every watched object has been listed at least once. */
  isSynced(): boolean;
}

/** One target ConfigMap of the trust bundle; `pem` is undefined when the ConfigMap lacks the key. */
export interface TrustRootsView {
  namespace: string;
  source: string;
  pem?: string;
}

/** What the exporter keeps of a meshed pod: never its spec, only its trust facts. */
export interface MeshedPodView {
  namespace: string;
  name: string;
  /** `linkerd.io/trust-root-sha256`, or the SHA-256 of a literal trust-anchors env when the annotation is missing. */
  trustRootSha256?: string;
  /** The proxy reads its anchors through `configMapKeyRef` (resolved at container start; the annotation then means nothing). */
  trustFromConfigMap: boolean;
  /** `status.startTime` in epoch milliseconds. */
  startTime?: number;
  /** SHA-256 (DER) of the anchors in a literal trust-anchors env (what the proxy loaded), when it has one. */
  trustedAnchors?: string[];
}

/** The rotation state ConfigMap's data, as the rotation engine wrote it (parsed by the consumer). */
export interface StateDataView {
  source: string;
  data: Readonly<Record<string, string>>;
}

/** What the exporter reports on: the anchor and issuer certificates, every bundle, meshed pods, the state. */
export interface ExporterSnapshot {
  preparedAnchor?: CertificateView;
  activeAnchor?: CertificateView;
  previousAnchor?: CertificateView;
  issuer?: IssuerView;
  /** Every trust-roots ConfigMap found, sorted by namespace. */
  trustRoots: TrustRootsView[];
  /** Meshed pods that have not terminated, sorted by namespace and name; empty when pods are not watched. */
  pods: MeshedPodView[];
  podsWatched: boolean;
  /** Undefined when the state ConfigMap does not exist (no run yet). */
  state?: StateDataView;
  /**
   * The anchors meshed pods trust through a literal env (`MeshedPodView.trustedAnchors`), one PEM
   * certificate each, sorted by fingerprint: after Retire the old anchor is held nowhere else, and it
   * is what verifies a cross-signature pods still rely on.
   */
  podAnchors?: string[];
}

/** What the exporter depends on: a current snapshot, read without I/O. */
export interface ExporterSource {
  /** The latest snapshot; the same object until something in it changed. */
  current(): ExporterSnapshot;
  isSynced(): boolean;
}
