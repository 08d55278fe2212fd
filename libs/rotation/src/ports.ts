// The interfaces the Kubernetes adapter implements so the rotation engine can read and act.
// Each port is one narrow capability; contracts below say what must be atomic and what is idempotent.
import type { Gate, RotationEvent } from './decision.js';
import type { ClusterSnapshot, EpochMs, Fingerprint, WorkloadRef } from './snapshot.js';

/** Reads every fact `decide` needs at one moment (list/watch caches are fine; one GET per pod per poll is not). */
export interface ClusterReader {
  readSnapshot(): Promise<ClusterSnapshot>;
}

/** The outcome of a guarded copy: `mismatch` when the source no longer holds the expected anchor. */
export type WriteOutcome = { readonly written: true } | { readonly written: false; readonly found?: Fingerprint };

/** Writes the runner-owned anchor Secrets. Keys are copied between Secrets only; never logged (I5). */
export interface AnchorSecrets {
  /**
   * Copies tls.crt and tls.key from the prepared-anchor Secret into the active-anchor Secret,
   * from one read of the prepared Secret, and only if its certificate has `expected`.
   * With `crossSignedBy` (strategy cross-signed): also mint X, `expected`'s subject and key issued and
   * signed by that anchor (the active one at this moment, whose key the Secret holds), valid no
   * longer than it, and lay the Secret out so the identity issuer's chain carries X while the bundle
   * keeps reading the self-signed anchor (docs/cross-signing.md).
   */
  writeActiveFromPrepared(expected: Fingerprint, request?: { readonly crossSignedBy?: Fingerprint }): Promise<WriteOutcome>;
  /** Copies tls.crt only (never a key) from `source` into the previous-anchor Secret, if `source` holds `expected`. */
  writePrevious(source: 'prepared' | 'active', expected: Fingerprint): Promise<WriteOutcome>;
}

/** Triggers cert-manager renewals by setting `Issuing=True` (reason ManuallyTriggered), like `cmctl renew`. */
export interface CertificateRenewals {
  renewPreparedAnchor(): Promise<void>;
  renewIdentityIssuer(): Promise<void>;
  /** Deletes the issuer Certificate's CertificateRequest `name`: cert-manager then makes a new one. */
  discardIssuerRequest(name: string): Promise<void>;
}

/**
 * Restarts a workload by patching `restartedAt` on its pod template (Rollout: `spec.restartAt`). The
 * runner restarts the workloads of one roll action concurrently, `restartConcurrency` at a time.
 */
export interface WorkloadRestarts {
  /** Resolves `not-found` when the workload (or its namespace) no longer exists; that is not an error. */
  restart(workload: WorkloadRef, restartedAt: string): Promise<'restarted' | 'not-found'>;
}

export interface StoredState {
  readonly data: Readonly<Record<string, string>>;
  readonly resourceVersion: string;
}

export type StateWriteOutcome = { readonly ok: true; readonly resourceVersion: string } | { readonly ok: false; readonly conflict: true };

/** The state ConfigMap, with optimistic concurrency on `resourceVersion`. */
export interface StateStore {
  /** Undefined when the ConfigMap does not exist yet. */
  read(): Promise<StoredState | undefined>;
  /** Creates (expected undefined) or replaces (expected = the last version read or written). */
  write(data: Readonly<Record<string, string>>, expectedResourceVersion: string | undefined): Promise<StateWriteOutcome>;
}

/**
 * The `coordination.k8s.io` Lease that keeps two runs apart, as a reader sees it (`status`). It is
 * the runner's: it holds the Lease around every step; `decide` and `plan` never look at it.
 */
export interface LeaseFacts {
  readonly holder?: string;
  readonly expiresAt?: EpochMs;
}

export type LeaseOutcome = { readonly held: true; readonly expiresAt: number } | { readonly held: false; readonly holder?: string; readonly expiresAt?: number };

/** The `coordination.k8s.io` Lease; acquire succeeds when it is free, expired, or already ours. */
export interface LeaseLock {
  acquire(holder: string, durationMs: number): Promise<LeaseOutcome>;
  renew(holder: string, durationMs: number): Promise<LeaseOutcome>;
  release(holder: string): Promise<void>;
}

/** Kubernetes Events on the state ConfigMap and Certificate linkerd-trust-anchor. */
export interface EventRecorder {
  record(event: RotationEvent): Promise<void>;
}

export interface Clock {
  now(): number;
}

/** A condition to wait for: `satisfied` is evaluated on fresh snapshots; `gate` says what to watch. */
export interface WaitCondition {
  readonly gate: Gate;
  satisfied(snapshot: ClusterSnapshot): boolean;
}

/**
 * Waits until the condition holds or `deadline` passes, driven by watches on `gate.watch`
 * (and a timer for `clock` gates), never by a fixed poll interval chosen here.
 */
export interface Waiter {
  waitFor(condition: WaitCondition, deadline: number): Promise<'satisfied' | 'timeout'>;
}

export interface RotationPorts {
  readonly cluster: ClusterReader;
  readonly anchors: AnchorSecrets;
  readonly certificates: CertificateRenewals;
  readonly workloads: WorkloadRestarts;
  readonly state: StateStore;
  readonly lease: LeaseLock;
  readonly events: EventRecorder;
  readonly clock: Clock;
  readonly waiter: Waiter;
}

/**
 * An anchor Secret's content as the fleet driver copies it between clusters (docs/multicluster.md,
 * "Where the new anchor comes from"). Opaque to the engine: only the adapter reads `data`, and it is
 * never logged (a copy of the active Secret holds B's key).
 */
export interface AnchorCopy {
  /** The anchor the Secret holds (its `anchor.crt`). */
  readonly fingerprint: Fingerprint;
  /** X's fingerprint when the Secret carries a cross-signature (strategy cross-signed). */
  readonly crossSignature?: Fingerprint;
  readonly data: Readonly<Record<string, string>>;
}

/** The copies of B the fleet driver makes: read in the primary, written certificate-only or as the primary's active Secret in a member. */
export interface FleetAnchors {
  /** The prepared Secret's certificate only (no key), if it holds `expected`. */
  readPreparedCertificate(expected: Fingerprint): Promise<AnchorCopy | undefined>;
  /** The active Secret as promotion wrote it (B's key, X when cross-signed), if it holds `expected`. */
  readActive(expected: Fingerprint): Promise<AnchorCopy | undefined>;
  /** Member: writes the prepared Secret with the certificate only, if it does not hold `copy` yet. */
  writePreparedCertificate(copy: AnchorCopy): Promise<WriteOutcome>;
  /** Member: writes the active Secret as `copy` (the primary's), only while it still holds `expectedCurrent` (A). */
  writeActiveCopy(copy: AnchorCopy, expectedCurrent: Fingerprint): Promise<WriteOutcome>;
}

/** One cluster of a fleet: the single-cluster ports plus the fleet's copies of B. */
export interface FleetClusterPorts extends RotationPorts {
  readonly fleet: FleetAnchors;
}
