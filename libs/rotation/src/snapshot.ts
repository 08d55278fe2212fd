// The cluster facts the rotation engine decides on: anchors, issuer, bundles, injector, pods, workloads.
// Filled by the Kubernetes adapter; holds fingerprints and times only, never key material (I5).

/** Lower-case hex SHA-256 of a certificate's DER: the identity of an anchor everywhere. */
export type Fingerprint = string;

/** Milliseconds since the Unix epoch. Kubernetes times (startTime, event times) have whole seconds. */
export type EpochMs = number;

/** One CA certificate, known by fingerprints. */
export interface AnchorFacts {
  readonly fingerprint: Fingerprint;
  /** SHA-256 of the SubjectPublicKeyInfo: tells a new key from a re-issued certificate. */
  readonly publicKeyFingerprint: string;
  readonly notBefore: EpochMs;
  readonly notAfter: EpochMs;
  /**
   * Active anchor only: whether the adapter could cross-sign the next anchor with it (its key is in
   * the Secret, it has not expired, its pathLen fits anchor -> X -> issuer -> leaf), or why not.
   * Undefined when the adapter does not report it: the engine then cannot cross-sign.
   */
  readonly crossSignable?: true | { readonly reasons: readonly string[] };
  /**
   * Active anchor only: the fingerprint of the cross-signature X the active Secret's `tls.crt` holds
   * in its place (this anchor's subject and key, signed by another anchor) after a cross-signed
   * promotion; undefined when `tls.crt` is the anchor itself or the adapter does not report it.
   * `check --fleet` compares it: every cluster of a fleet carries the one X minted in the primary.
   */
  readonly crossSignature?: Fingerprint;
}

/**
 * A certificate in the identity issuer's chain carrying the subject and key of the anchor the issuer
 * chains to, issued and signed by another anchor (X): proxies that trust `anchor` verify through it.
 */
export interface CrossSignatureFacts {
  /** The anchor that signed the cross-signature. */
  readonly anchor: Fingerprint;
  /** The cross-signature's notAfter: after it, only `chainsTo` is reached. */
  readonly notAfter: EpochMs;
}

/** A cert-manager Certificate's `Issuing` condition, reduced to what the engine needs. */
export interface IssuingFacts {
  /** `true` while cert-manager issues; `false` after a failure; `absent` when idle. */
  readonly issuing: 'true' | 'false' | 'absent';
  /** `status.revision`; 0 when the Certificate has never been issued. */
  readonly revision: number;
  /** `status.lastFailureTime`, when cert-manager reported a failed issuance. */
  readonly lastFailureAt?: EpochMs;
  /** The `Issuing=False` condition's reason and message, for the operator. */
  readonly lastFailureMessage?: string;
}

/** Certificate `linkerd-trust-anchor` and its Secret: the prepared anchor. */
export interface PreparedAnchorFacts extends IssuingFacts {
  /** The Secret's certificate; undefined while the Secret is missing or unreadable. */
  readonly anchor?: AnchorFacts;
}

/** Secret `linkerd-identity-issuer` and its Certificate. */
export interface IdentityIssuerFacts extends IssuingFacts {
  readonly fingerprint: Fingerprint;
  /** The anchor the issuer verifies against (checked by the adapter); undefined when none known. */
  readonly chainsTo?: Fingerprint;
  /**
   * cert-manager's CertificateRequest for the next revision when it is already signed (Ready) but not
   * stored in the Secret yet, and the known anchor its certificate chains to (undefined: none).
   */
  readonly signedRequest?: { readonly name: string; readonly chainsTo?: Fingerprint };
  /** Cross-signatures the issuer Secret's `tls.crt` carries after the issuer (none when undefined). */
  readonly chainVia?: readonly CrossSignatureFacts[];
  readonly notBefore: EpochMs;
  readonly notAfter: EpochMs;
}

/**
 * What cert-manager signs the identity issuer with: the issuer Certificate's `spec.issuerRef` and
 * the configured ClusterIssuer (`linkerd-identity-issuer`), whose CA must be the active-anchor Secret.
 */
export interface IssuerSigningFacts {
  /** The ClusterIssuer named in `options.names`: absent, or found with its `spec.ca.secretName` (undefined: not a CA issuer). */
  readonly clusterIssuer:
    | { readonly found: false }
    | {
        readonly found: true;
        readonly caSecretName?: string;
        /** Its Ready condition when not True ("reason: message"): why cert-manager cannot sign with it. */
        readonly notReady?: string;
      };
  /** The issuer Certificate's `spec.issuerRef`; undefined when the Certificate is missing. */
  readonly certificateIssuerRef?: { readonly kind: string; readonly name: string };
  /**
   * The issuer Certificate's `spec.revisionHistoryLimit`; undefined when unset (cert-manager then
   * keeps 1 since v1.18) or the Certificate is missing. The runner reads the issuer's chain from the
   * request of the current revision, which a limit of 1 deletes as soon as a renewal starts.
   */
  readonly revisionHistoryLimit?: number;
}

/** ConfigMap `linkerd-identity-trust-roots` in one target namespace. */
export interface BundleFacts {
  readonly namespace: string;
  /** SHA-256 of the `ca-bundle.crt` text: what the injector stamps as `linkerd.io/trust-root-sha256`. */
  readonly sha256: string;
  /** Fingerprints of the certificates in the bundle. */
  readonly anchors: readonly Fingerprint[];
}

/** What the proxy-injector would stamp on a pod created now (server-side dry-run). */
export interface InjectorFacts {
  readonly trustRootSha256: string;
}

/** Controllers the engine can restart through their pod template. */
export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'Rollout';

/** A pod's top owner: a workload, a Job (left to finish) or something else (never restarted). */
export type OwnerKind = WorkloadKind | 'Job' | 'Other';

/** Linkerd control plane, an extension (viz, multicluster, jaeger...), or the data plane. */
export type Tier = 'control-plane' | 'extension' | 'data-plane';

export interface WorkloadRef {
  readonly kind: WorkloadKind;
  readonly namespace: string;
  readonly name: string;
}

/** A pod with a linkerd-proxy container that has not terminated (Pending, Running, or Terminating). */
export interface MeshedPod {
  readonly namespace: string;
  readonly name: string;
  /** Top owner after walking ReplicaSets up; undefined for a bare pod. */
  readonly owner?: { readonly kind: OwnerKind; readonly name: string };
  readonly tier: Tier;
  /** True for pods of the identity controller, whose anchors are loaded once at start. */
  readonly identityController: boolean;
  /** Annotation `linkerd.io/trust-root-sha256`, when the injector stamped it. */
  readonly trustRootSha256?: string;
  /**
   * True when the proxy reads its anchors through `configMapKeyRef` (control plane from the chart):
   * the annotation then says nothing, and trust is inferred from the bundle at pod start.
   */
  readonly trustFromConfigMap: boolean;
  /** Anchors parsed from the pod's literal `LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS`, when the adapter has them. */
  readonly trustedAnchors?: readonly Fingerprint[];
  /** `status.startTime`. */
  readonly startedAt: EpochMs;
  readonly ready: boolean;
}

/** A Deployment, StatefulSet, DaemonSet or Argo Rollout that owns meshed pods. */
export interface WorkloadFacts extends WorkloadRef {
  readonly tier: Tier;
  /** Desired pods (DaemonSet: desiredNumberScheduled). */
  readonly replicas: number;
  readonly readyReplicas: number;
  readonly updatedReplicas: number;
  readonly generation: number;
  readonly observedGeneration: number;
  /** `kubectl.kubernetes.io/restartedAt` (Rollout: `spec.restartAt`), parsed; undefined when unset. */
  readonly restartedAt?: EpochMs;
  /** StatefulSet, DaemonSet: `spec.updateStrategy.type`; `OnDelete` replaces no pod on a template change. */
  readonly updateStrategy?: 'RollingUpdate' | 'OnDelete';
  /** StatefulSet: `spec.updateStrategy.rollingUpdate.partition`; pods with a lower ordinal are never replaced. */
  readonly partition?: number;
  /** Deployment: `spec.paused`; a paused Deployment rolls out nothing. */
  readonly paused?: boolean;
}

export type IdentityEventReason = 'IssuerUpdated' | 'IssuerUpdateSkipped' | 'IssuerValidationFailed';

/** An Event the identity controller recorded; `at` is its last timestamp (whole seconds). */
export interface IdentityEvent {
  readonly reason: IdentityEventReason;
  readonly at: EpochMs;
  readonly message?: string;
}

/**
 * The anchors the public PKI view holds (the ConfigMap the exporter publishes from the anchor
 * Secrets; the webhook judges every bundle and issuer write by it, not by the Secrets).
 */
export interface PublicViewFacts {
  readonly prepared?: Fingerprint;
  readonly active?: Fingerprint;
  readonly previous?: Fingerprint;
}

/** Everything `decide` and `plan` look at, read in one go by the adapter. */
export interface ClusterSnapshot {
  /** When the snapshot was taken (the clock port); `decide` uses it as "now". */
  readonly observedAt: EpochMs;
  readonly prepared: PreparedAnchorFacts;
  readonly active?: AnchorFacts;
  /** The previous-anchor Secret's certificate (it never holds a key). */
  readonly previous?: AnchorFacts;
  readonly issuer?: IdentityIssuerFacts;
  /** Undefined when the adapter does not read it (then not checked). */
  readonly issuerSigning?: IssuerSigningFacts;
  /**
   * The public PKI view; undefined when it does not exist (no exporter, hence no webhook judging by
   * it) or the adapter does not read it: then nothing waits for it.
   */
  readonly publicView?: PublicViewFacts;
  readonly bundles: readonly BundleFacts[];
  /** Undefined when the dry-run could not be made. */
  readonly injector?: InjectorFacts;
  readonly pods: readonly MeshedPod[];
  readonly workloads: readonly WorkloadFacts[];
  readonly identityEvents: readonly IdentityEvent[];
  /**
   * Linkerd identity's leaf lifetime: `-identity-issuance-lifetime` of the `identity` container of
   * Deployment `linkerd-identity` in Linkerd's namespace (24h when the flag is absent or Go cannot
   * parse it, as upstream). Undefined when the adapter does not read it or found no such container.
   */
  readonly identityIssuanceLifetimeMs?: number;
  /**
   * Namespaces of another Linkerd control plane (labelled `linkerd.io/is-control-plane=true`, or
   * holding Deployment `linkerd-identity`, other than Linkerd's namespace) that the trust-roots
   * Bundle targets: trust-manager overwrites that control plane's trust roots with these anchors.
   * Undefined (or empty) when there is none or the adapter does not read it.
   */
  readonly otherControlPlaneTargets?: readonly { readonly namespace: string; readonly why: string }[];
}

export function podKey(pod: { namespace: string; name: string }): string {
  return `${pod.namespace}/${pod.name}`;
}

export function workloadKey(ref: WorkloadRef): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

export function shortFp(fingerprint: Fingerprint | undefined): string {
  return fingerprint === undefined ? '(none)' : fingerprint.slice(0, 16);
}
