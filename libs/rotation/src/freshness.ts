// The freshness rule of each phase: whether a meshed pod already holds what the phase needs, or why not.
// decide's phases and `plan` both judge pods by these rules, so a plan lists what a run restarts.
import { shortFp, type ClusterSnapshot, type EpochMs, type Fingerprint, type IdentityIssuerFacts, type MeshedPod } from './snapshot.js';
import { iso } from './state.js';
import { formatAnchors, podTrust, trustContext, trustsOneOf, type TrustContext } from './trust.js';
import type { RotationState } from './state.js';
import type { DecideOptions, Strategy } from './options.js';
import type { Freshness } from './workloads.js';

/** The old anchor and the new one of a rotation. */
export interface AnchorPair {
  readonly from: Fingerprint;
  readonly to: Fingerprint;
}

/** TrustBoth: the pod trusts both anchors for sure. */
export function trustBothFreshness(trust: TrustContext, anchors: AnchorPair): Freshness {
  const required = [anchors.from, anchors.to];
  return (pod) => {
    const verdict = podTrust(pod, trust);
    if (!verdict.known) return { fresh: false, why: `has unknown trust (${verdict.why})` };
    const missing = required.filter((fp) => !verdict.certain.has(fp));
    if (missing.length === 0) return { fresh: true };
    const hash = pod.trustRootSha256 && !pod.trustFromConfigMap ? ` (trust-root-sha256 ${pod.trustRootSha256.slice(0, 16)})` : '';
    return { fresh: false, why: `trusts ${formatAnchors(verdict.certain)}${hash}, missing ${formatAnchors(missing)}` };
  };
}

/**
 * Promote, identity restart: the identity pod started at or after `baseline` (a start time proving
 * a start after the issuer Secret was seen chained to the new anchor, trust.ts `provenStartOfRoll`),
 * so it loaded the new issuer from its files at start.
 */
export function identityRestartFreshness(baseline: EpochMs): Freshness {
  return (pod) =>
    pod.startedAt >= baseline ? { fresh: true } : { fresh: false, why: `started ${iso(pod.startedAt)}, before the identity controller was restarted on the new issuer (${iso(baseline)})` };
}

/**
 * Promote: the pod started once every identity replica ran the new issuer, so its leaf chains to the
 * new anchor (`leavesFreshSince`: identityFreshAt's next second plus the clock skew allowance).
 */
export function promoteFreshness(leavesFreshSince: EpochMs): Freshness {
  return (pod) =>
    pod.startedAt >= leavesFreshSince
      ? { fresh: true }
      : { fresh: false, why: `started ${iso(pod.startedAt)}, before every identity controller ran the new issuer (${iso(leavesFreshSince)})` };
}

/**
 * Retire: the pod trusts the new anchor for sure, cannot trust the retired one, and trusts nothing
 * the synced bundle no longer holds (`bundle`: empty while the ConfigMaps differ).
 */
export function retireFreshness(trust: TrustContext, rule: AnchorPair & { readonly bundle: ReadonlySet<Fingerprint> }): Freshness {
  const { from, to, bundle } = rule;
  return (pod) => {
    const verdict = podTrust(pod, trust);
    if (!verdict.known) return { fresh: false, why: `has unknown trust (${verdict.why})` };
    if (verdict.possible.has(from)) return { fresh: false, why: `still trusts the retired anchor ${shortFp(from)}` };
    if (!verdict.certain.has(to)) return { fresh: false, why: `does not trust ${shortFp(to)} for sure (trusts ${formatAnchors(verdict.certain)})` };
    const dropped = [...verdict.possible].filter((fp) => !bundle.has(fp));
    if (dropped.length > 0) return { fresh: false, why: `still trusts ${formatAnchors(dropped)}, no longer in the bundle` };
    return { fresh: true };
  };
}

/** A phase not reached yet: every pod running now predates it. */
export const notReachedYet: Freshness = () => ({ fresh: false, why: 'predates this phase' });

/**
 * Before a rotation starts: the pods it will restart in some phase. `restart` restarts every meshed pod
 * (Promote and Retire restart them all); `cross-signed` only those trusting neither the active anchor
 * nor the waiting one (TrustBoth), as `trustEitherFreshness` judges them.
 */
export function rotationRestartFreshness(trust: TrustContext, rule: { readonly strategy: Strategy; readonly from: Fingerprint; readonly to?: Fingerprint }): Freshness {
  return rule.strategy === 'cross-signed' ? trustEitherFreshness(trust, { from: rule.from, to: rule.to ?? rule.from }) : () => ({ fresh: false, why: 'is restarted by every restart-strategy rotation' });
}

/** cross-signed TrustBoth: the pod trusts the old or the new anchor for sure; only a pod that trusts neither is restarted. */
export function trustEitherFreshness(trust: TrustContext, anchors: AnchorPair): Freshness {
  return (pod) => {
    const verdict = podTrust(pod, trust);
    if (!verdict.known) return { fresh: false, why: `has unknown trust (${verdict.why})` };
    if (trustsOneOf(verdict, new Set([anchors.from, anchors.to]))) return { fresh: true };
    return { fresh: false, why: `trusts ${formatAnchors(verdict.certain)}, neither ${shortFp(anchors.from)} nor ${shortFp(anchors.to)}: it cannot follow a chain through the cross-signature` };
  };
}

/**
 * cross-signed Retire: the pod trusts, for sure, an anchor a valid chain from the current issuer
 * reaches (`reachable`, trust.ts `reachableAnchors`). A pod is stale only when it trusts none.
 */
export function reachableFreshness(trust: TrustContext, reachable: ReadonlySet<Fingerprint>): Freshness {
  return (pod) => {
    const verdict = podTrust(pod, trust);
    if (!verdict.known) return { fresh: false, why: `has unknown trust (${verdict.why})` };
    if (trustsOneOf(verdict, reachable)) return { fresh: true };
    return { fresh: false, why: `trusts ${formatAnchors(verdict.certain)}, no anchor a valid chain reaches ${formatAnchors(reachable)}` };
  };
}

/** A pod that reaches the issuer only through a cross-signature, until that cross-signature ends. */
export interface CrossSignatureReliance {
  /** The old anchor the pod trusts, which signed the cross-signature. */
  readonly anchor: Fingerprint;
  /** The cross-signature's notAfter: the pod must be restarted before it. */
  readonly until: EpochMs;
}

/**
 * The "relies on X until T" rule, the one place it is defined (for `decide`, the runner's status and
 * the exporter): the pod does not trust the issuer's anchor for sure, but trusts an anchor that
 * cross-signed it, valid at `now`. Undefined when the pod does not rely on a cross-signature.
 */
export function crossSignatureReliance(pod: MeshedPod, rule: { readonly trust: TrustContext; readonly issuer: IdentityIssuerFacts | undefined; readonly now: EpochMs }): CrossSignatureReliance | undefined {
  const { trust, issuer, now } = rule;
  if (issuer?.chainsTo === undefined) return undefined;
  const verdict = podTrust(pod, trust);
  if (!verdict.known || verdict.certain.has(issuer.chainsTo)) return undefined;
  // Some set of anchors the proxy may hold lacks the issuer's anchor: it relies on the cross-signatures
  // it may trust (the earliest to end counts), as long as every such set trusts one of them.
  const vias = (issuer.chainVia ?? []).filter((via) => via.notAfter > now && verdict.possible.has(via.anchor));
  if (vias.length === 0 || !trustsOneOf(verdict, new Set([issuer.chainsTo, ...vias.map((via) => via.anchor)]))) return undefined;
  const earliest = vias.reduce((a, b) => (b.notAfter < a.notAfter ? b : a));
  return { anchor: earliest.anchor, until: earliest.notAfter };
}

/**
 * After a cross-signed rotation (Idle and Done, every run): a pod relying on a cross-signature is
 * stale once that cross-signature's notAfter is `marginMs` away, and no other pod is.
 */
export function crossSignatureFreshness(trust: TrustContext, rule: { readonly issuer: IdentityIssuerFacts | undefined; readonly now: EpochMs; readonly marginMs: EpochMs }): Freshness {
  return (pod) => {
    const reliance = crossSignatureReliance(pod, { trust, issuer: rule.issuer, now: rule.now });
    if (reliance === undefined || rule.now < reliance.until - rule.marginMs) return { fresh: true };
    return { fresh: false, why: `trusts only ${shortFp(reliance.anchor)}, reached through a cross-signature that ends ${iso(reliance.until)}` };
  };
}

/** Every meshed pod that relies on a cross-signature, and until when: what `status` and the exporter count (not stale). */
export function crossSignatureReliances(snapshot: ClusterSnapshot, state: RotationState, options?: Pick<DecideOptions, 'clockSkewMs'>): { readonly pod: MeshedPod; readonly reliance: CrossSignatureReliance }[] {
  const trust = trustContext(snapshot, state, options);
  return snapshot.pods.flatMap((pod) => {
    const reliance = crossSignatureReliance(pod, { trust, issuer: snapshot.issuer, now: snapshot.observedAt });
    return reliance ? [{ pod, reliance }] : [];
  });
}
