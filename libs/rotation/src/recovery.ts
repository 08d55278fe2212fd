// Which expiry incident the mesh is in (an expired issuer, an expired or missing active anchor) and
// what `recover` does about it: one place for `plan`, `status`, the `recover` command and its phase.
import type { DecideOptions } from './options.js';
import { objectRefs } from './object-refs.js';
import { podKey, shortFp, workloadKey, type ClusterSnapshot, type Fingerprint, type MeshedPod, type WorkloadRef } from './snapshot.js';
import { INCIDENTS, iso, type Incident, type RotationState } from './state.js';
import { resumePhase } from './rules.js';
import { notReachedYet } from './freshness.js';
import { identitySubset, rollStatus, TIERS } from './workloads.js';

/** The cases of docs/rotation.md "Recover": `healthy` means `recover` refuses to run. */
export const EXPIRY_CASES = ['healthy', ...INCIDENTS] as const;
export type ExpiryCase = 'healthy' | Incident;

export interface ExpiryDiagnosis {
  readonly case: ExpiryCase;
  /** One sentence naming the certificates and their ends. */
  readonly why: string;
  /** The active anchor when it exists (expired or not). */
  readonly active?: Fingerprint;
}

/** Whether recovery replaces the anchor (and then the issuer and every meshed pod), not only the issuer. */
export function recoversAnchor(expiry: ExpiryCase): boolean {
  return expiry === 'anchor-expired' || expiry === 'both-expired' || expiry === 'active-anchor-missing';
}

/**
 * Classifies the mesh at the snapshot's time. A missing active-anchor Secret is a first install (not
 * an incident) while the issuer chains to a valid prepared anchor that bootstrap will adopt.
 */
export function diagnoseExpiry(snapshot: ClusterSnapshot, options: Pick<DecideOptions, 'names'>): ExpiryDiagnosis {
  const now = snapshot.observedAt;
  const objects = objectRefs(options.names);
  const { active, issuer, prepared } = snapshot;
  if (!active) {
    const adoptable = prepared.anchor !== undefined && prepared.anchor.notAfter > now && (issuer === undefined || issuer.chainsTo === prepared.anchor.fingerprint);
    if (adoptable) return { case: 'healthy', why: `no ${objects.activeSecret} yet: a run adopts the prepared anchor ${shortFp(prepared.anchor?.fingerprint)} (bootstrap)` };
    return { case: 'active-anchor-missing', why: `${objects.activeSecret} is gone and the issuer does not chain to a valid prepared anchor it could be adopted from` };
  }
  const inAnyBundle = snapshot.bundles.some((b) => b.anchors.includes(active.fingerprint));
  if (snapshot.bundles.length > 0 && !inAnyBundle) {
    return { case: 'active-anchor-missing', why: `the active anchor ${shortFp(active.fingerprint)} is in none of the ${snapshot.bundles.length} trust-roots ConfigMap(s): no proxy started now trusts it`, active: active.fingerprint };
  }
  const anchorExpired = active.notAfter <= now;
  const issuerExpired = issuer !== undefined && issuer.notAfter <= now;
  const anchorText = `the active anchor ${shortFp(active.fingerprint)} ${anchorExpired ? 'expired' : 'ends'} ${iso(active.notAfter)}`;
  const issuerText = issuer ? `the identity issuer ${shortFp(issuer.fingerprint)} ${issuerExpired ? 'expired' : 'ends'} ${iso(issuer.notAfter)}` : `there is no identity issuer`;
  const why = `${anchorText}; ${issuerText}`;
  const expiry: ExpiryCase = anchorExpired ? (issuerExpired ? 'both-expired' : 'anchor-expired') : issuerExpired ? 'issuer-expired' : 'healthy';
  return { case: expiry, why, active: active.fingerprint };
}

/**
 * Why `recover` refuses to run, or undefined: it runs on an expiry incident, or to finish a recovery
 * under way (a rerun after a kill), never on a healthy mesh.
 */
export function recoverRefusal(snapshot: ClusterSnapshot, state: Pick<RotationState, 'phase' | 'stopped' | 'rotation'>, options: Pick<DecideOptions, 'names'>): string | undefined {
  if (resumePhase(state) === 'Recover') return undefined;
  const diagnosis = diagnoseExpiry(snapshot, options);
  if (diagnosis.case !== 'healthy') return undefined;
  return `expected an expiry incident to recover from (an expired issuer or anchor, or an active anchor gone from the bundle), found a healthy mesh: ${diagnosis.why}; nothing was changed. Use \`rotator rotate\` (--force to rotate now) for a rotation, and \`rotator status\` to see the mesh`;
}

/** A restart step of a recovery, in order. */
export interface RecoveryRestart {
  readonly what: 'identity' | 'control-plane' | 'extension' | 'data-plane' | 'not-ready';
  readonly workloads: readonly WorkloadRef[];
}

export interface RecoveryPlan {
  readonly diagnosis: ExpiryDiagnosis;
  /** Steps in order, for people. */
  readonly steps: readonly string[];
  /** The restarts, identity first; `not-ready` (issuer case): only if those pods do not recover on their own. */
  readonly restarts: readonly RecoveryRestart[];
  /** Meshed pods that see handshake errors until recovery reaches them, and why. */
  readonly erroring: { readonly pods: readonly string[]; readonly why: string };
}

/** What `recover` would do from this snapshot; undefined on a healthy mesh. */
export function recoveryPlan(snapshot: ClusterSnapshot, options: Pick<DecideOptions, 'names' | 'recoverConcurrency' | 'recoverLeafGraceMs'>): RecoveryPlan | undefined {
  const diagnosis = diagnoseExpiry(snapshot, options);
  if (diagnosis.case === 'healthy') return undefined;
  const objects = objectRefs(options.names);
  const identity = rollStatus(identitySubset(snapshot), { fresh: notReachedYet, baseline: Number.POSITIVE_INFINITY, maxConcurrent: Number.MAX_SAFE_INTEGER }).needsRoll;
  const identityKeys = new Set(identity.map(workloadKey));
  if (!recoversAnchor(diagnosis.case)) {
    const notReady = notReadyWorkloads(snapshot, identityKeys);
    return {
      diagnosis,
      steps: [
        `renew ${objects.issuerCertificate} (Issuing=True) and wait until it is valid and chains to the active anchor`,
        `restart the identity controller (${identity.length} workload(s)) so it loads the new issuer`,
        `wait up to ${Math.round(options.recoverLeafGraceMs / 1000)}s for proxies to renew their leaves and be Ready; restart only the workloads whose pods are still not Ready`,
      ],
      restarts: [
        { what: 'identity', workloads: identity },
        { what: 'not-ready', workloads: notReady },
      ],
      erroring: {
        pods: snapshot.pods.filter((p) => !p.identityController).map(podKey),
        why: 'proxies whose leaf has ended fail handshakes until identity, restarted on the new issuer, renews it (proxies retry on their own)',
      },
    };
  }
  const everything = rollStatus(snapshot, { fresh: notReachedYet, baseline: Number.POSITIVE_INFINITY, maxConcurrent: Number.MAX_SAFE_INTEGER }).needsRoll.filter((w) => !identityKeys.has(workloadKey(w)));
  const tierOf = (w: WorkloadRef) => snapshot.workloads.find((x) => workloadKey(x) === workloadKey(w))?.tier ?? snapshot.pods.find((p) => p.namespace === w.namespace && p.owner?.name === w.name)?.tier ?? 'data-plane';
  const prepared = snapshot.prepared.anchor;
  const activeKey = snapshot.active?.publicKeyFingerprint;
  const usable = prepared !== undefined && prepared.notAfter > snapshot.observedAt && prepared.publicKeyFingerprint !== activeKey;
  return {
    diagnosis,
    steps: [
      usable ? `use the prepared anchor ${shortFp(prepared?.fingerprint)} (valid, new key)` : `renew ${objects.preparedCertificate} and wait for a valid anchor with a new key`,
      `write it into ${objects.activeSecret} and ${objects.previousSecret}: the trust bundle becomes exactly the new anchor`,
      'wait until every trust-roots ConfigMap and the proxy injector serve only the new anchor',
      `renew ${objects.issuerCertificate} under the new anchor and wait until it chains to it`,
      `restart the identity controller first, then the control plane, extensions and the data plane, ${options.recoverConcurrency} workload(s) at a time (--recover-concurrency)`,
      'wait until every meshed pod trusts only the new anchor and is Ready',
    ],
    restarts: [{ what: 'identity' as const, workloads: identity }, ...TIERS.map((tier) => ({ what: tier, workloads: everything.filter((w) => tierOf(w) === tier) }))].filter((r) => r.workloads.length > 0),
    erroring: {
      pods: snapshot.pods.map(podKey),
      why: diagnosis.case === 'active-anchor-missing' ? 'no leaf chains to an anchor every proxy trusts: handshakes fail until both ends are restarted' : 'every leaf chains to an expired anchor: handshakes fail until both ends are restarted',
    },
  };
}

/** Workloads (other than identity) with a meshed pod that is not Ready. */
function notReadyWorkloads(snapshot: ClusterSnapshot, identity: ReadonlySet<string>): WorkloadRef[] {
  const ready = (pod: MeshedPod) => (pod.ready ? { fresh: true as const } : { fresh: false as const, why: 'is not Ready' });
  return rollStatus(snapshot, { fresh: ready, baseline: Number.POSITIVE_INFINITY, maxConcurrent: Number.MAX_SAFE_INTEGER }).needsRoll.filter((w) => !identity.has(workloadKey(w)));
}
