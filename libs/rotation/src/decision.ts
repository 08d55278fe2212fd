// What `decide` returns: one Action to perform, a Gate to wait on, Done, or Stop with a bounded reason.
// Every decision carries the state to persist once it has been carried out.
import type { Fingerprint, OwnerKind, Tier, WorkloadRef } from './snapshot.js';
import type { Phase, RollPhase, RotationState, StopReason } from './state.js';

export type Action =
  /** Copy tls.crt and tls.key from the prepared-anchor Secret into the active-anchor Secret, if it still holds `fingerprint`. */
  | {
      readonly kind: 'write-active-anchor';
      readonly fingerprint: Fingerprint;
      readonly purpose: 'bootstrap' | 'promote' | 'recover';
      /** cross-signed: the adapter mints X (this anchor's subject and key, signed by `crossSignedBy`) into the issuer's chain. */
      readonly crossSignedBy?: Fingerprint;
    }
  /** Copy tls.crt (never a key) from `source` into the previous-anchor Secret, if `source` holds `fingerprint`. */
  | {
      readonly kind: 'write-previous-anchor';
      readonly fingerprint: Fingerprint;
      readonly source: 'prepared' | 'active';
      readonly purpose: 'bootstrap' | 'retire' | 'recover';
    }
  /** Set `Issuing=True` on Certificate linkerd-trust-anchor, as `cmctl renew` does. */
  | { readonly kind: 'renew-prepared-anchor'; readonly revision: number }
  /** Set `Issuing=True` on Certificate linkerd-identity-issuer. */
  | { readonly kind: 'renew-identity-issuer' }
  /**
   * Delete the issuer's signed but unstored CertificateRequest `name` (it chains to an anchor the
   * recovery replaced: the webhook refuses it, and cert-manager would retry storing it forever).
   */
  | { readonly kind: 'discard-issuer-request'; readonly name: string }
  /** Patch `restartedAt` on these workloads (a workload that no longer exists is skipped). */
  | {
      readonly kind: 'roll-workloads';
      /** `Done`: a pod relying on a cross-signature that nears its end (freshness.ts `crossSignatureReliance`). */
      readonly phase: RollPhase | 'Done' | 'Recover';
      readonly tier: Tier;
      readonly workloads: readonly WorkloadRef[];
      readonly restartedAt: string;
      /** Workloads rolled in this phase including these, and the phase's total so far. */
      readonly rolled: number;
      readonly total: number;
    }
  /** Nothing to do in the cluster: persist the new phase. */
  | { readonly kind: 'record-transition'; readonly from: Phase; readonly to: Phase; readonly why: string };

export interface RotationEvent {
  readonly type: 'Normal' | 'Warning';
  /** CamelCase, as Kubernetes Events expect. */
  readonly reason: string;
  readonly message: string;
}

export type GateName =
  | 'prepared-anchor-renewed'
  | 'prepared-anchor-present'
  | 'bundles-synced'
  | 'public-view-synced'
  | 'injector-serves-bundle'
  | 'roll-baseline-reached'
  | 'pods-trust-both'
  | 'identity-issuer-chained'
  | 'identity-loaded-issuer'
  | 'identity-restarted'
  | 'leaves-renewed'
  | 'leaf-lifetime-elapsed'
  | 'old-leaves-expired'
  | 'cross-signed-pods-restarted'
  | 'pods-trust-only-new'
  | 'promotion-safe'
  | 'retirement-safe'
  // The fleet driver's (fleet-driver.ts): the three fleet gates (fleet.ts), and a member waiting for the primary.
  | 'fleet-trusts-new-anchor'
  | 'fleet-may-promote'
  | 'fleet-leaves-chain-to-new'
  | 'fleet-anchor-prepared'
  | 'fleet-primary-promoted';

/** A meshed pod the rotator never restarts: an operator deletes it, or a Job finishes it. */
export interface Blocker {
  readonly namespace: string;
  readonly pod: string;
  readonly owner: OwnerKind | 'bare';
  readonly ownerName?: string;
  /** What is wrong, and what to do. */
  readonly message: string;
}

/** What `waitFor` should watch; the adapter maps these to informers or, for `clock`, a timer. */
export type WatchSource = 'prepared-anchor' | 'anchor-secrets' | 'public-view' | 'bundles' | 'injector' | 'pods' | 'workloads' | 'issuer' | 'identity-events' | 'clock';

export interface Gate {
  readonly name: GateName;
  readonly phase: Phase;
  /** One line: what is awaited and how much is still missing ("3 of 40 meshed pods ..."). */
  readonly summary: string;
  /** The items still missing, most relevant first, capped for display. */
  readonly missing: readonly string[];
  readonly progress?: { readonly done: number; readonly total: number };
  readonly blockers: readonly Blocker[];
  readonly watch: readonly WatchSource[];
  /** For clock gates: the gate opens at this time. */
  readonly notBefore?: number;
  /** A long clock gate: the run records it and ends (exit 0); a later scheduled run resumes at `notBefore`. */
  readonly resumeLater?: boolean;
}

export type Decision =
  | { readonly kind: 'action'; readonly action: Action; readonly state: RotationState; readonly event?: RotationEvent; readonly summary: string }
  | { readonly kind: 'gate'; readonly gate: Gate; readonly state: RotationState }
  | { readonly kind: 'done'; readonly state: RotationState; readonly summary: string }
  | {
      readonly kind: 'stop';
      readonly reason: StopReason;
      readonly message: string;
      /** The Stopped state to persist. */
      readonly state: RotationState;
      readonly event?: RotationEvent;
    };
