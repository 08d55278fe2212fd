// The cluster's trust state as the webhook (and later the exporter) sees it: a plain, immutable
// value with certificates only, never a private key, behind an interface tests can fake.

/** A certificate held in a Secret's tls.crt. `source` names the object for messages. */
export interface CertificateView {
  source: string;
  certPem: string;
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
  phase: string;
  /** SHA-256 (DER) of anchors every bundle must keep while this phase lasts. */
  requiredAnchorFingerprints: string[];
  /** Set when the ConfigMap exists but cannot be read; the webhook then fails closed. */
  problem?: string;
}

export interface TrustSnapshot {
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

/** A fixed snapshot: for unit tests, benchmarks and offline use. */
export class StaticSnapshotSource implements TrustSnapshotSource {
  constructor(
    private snapshot: TrustSnapshot,
    private synced = true,
  ) {}

  current(): TrustSnapshot {
    return this.snapshot;
  }

  isSynced(): boolean {
    return this.synced;
  }

  set(snapshot: TrustSnapshot, synced = true): void {
    this.snapshot = snapshot;
    this.synced = synced;
  }
}
