// Phase Recover (`recover`): bring back a mesh whose anchor or issuer expired, or whose active anchor
// is gone, by the fastest path; every step waits on an observed condition (docs/rotation.md, "Recover").
import type { Action, Decision } from '../decision.js';
import { identityRestartFreshness } from '../freshness.js';
import { bundlesAndInjector } from '../gates/bundles-and-injector.js';
import { rollPhase } from '../gates/roll.js';
import { diagnoseExpiry, recoversAnchor } from '../recovery.js';
import { resumePhase } from '../rules.js';
import { shortFp, type Fingerprint } from '../snapshot.js';
import { iso, ms, type RotationRecord } from '../state.js';
import { nextWholeSecond, podTrust, provenStartAfter, provenStartOfRoll, restartsProveStartAfter, trustContext } from '../trust.js';
import { identitySubset, type Freshness } from '../workloads.js';
import { act, anchorRef, finishedState, gate, stop, transition, updateRotation, usableNewAnchor, withRotation, type DecideContext, type RecordContext, type RotationContext } from './context.js';
import { awaitRenewal, requestRenewal } from './prepare.js';

/**
 * The `from` of a recovery whose active-anchor Secret is gone: its key is unknown, so any valid
 * prepared anchor counts as new. All zeros is no SHA-256 a certificate has.
 */
export const UNKNOWN_ANCHOR: Fingerprint = '0'.repeat(64);

/** `recover` on a mesh in an expiry incident: leave whatever phase it is in for Recover. */
export function startRecovery(context: DecideContext): Decision | undefined {
  if (!context.options.recover || resumePhase(context.state) === 'Recover') return undefined;
  const diagnosis = diagnoseExpiry(context.snapshot, context.options);
  if (diagnosis.case === 'healthy') return undefined;
  const { snapshot } = context;
  const now = iso(context.now);
  const active = snapshot.active;
  const rotation: RotationRecord = {
    id: `recovery-${now}`,
    strategy: 'restart',
    recovery: diagnosis.case,
    from: active ? anchorRef(active) : { fingerprint: snapshot.issuer?.chainsTo ?? UNKNOWN_ANCHOR, publicKeyFingerprint: UNKNOWN_ANCHOR },
    startedAt: now,
    phaseStartedAt: now,
    preparedRevisionAtStart: snapshot.prepared.revision,
    prepareRequests: 0,
    retargets: [],
    issuerRenewals: 0,
  };
  const dropped = context.state.rotation ? `; the rotation ${context.state.rotation.id} in phase ${resumePhase(context.state)} is abandoned` : '';
  const { stopped: _stopped, ...state } = context.state;
  return transition({ ...context, state }, { to: 'Recover', rotation, why: `recovery (${diagnosis.case}) started: ${diagnosis.why}${dropped}` });
}

export function decideRecover(context: DecideContext): Decision {
  const rotation = context.state.rotation;
  if (!rotation?.recovery) {
    return stop(context, 'state-invalid', 'expected a recovery record (rotation.recovery) in phase Recover, found none; repair the state ConfigMap, or run `rotator recover --yes` after resetting it to Idle');
  }
  const inRecovery: RecordContext = { ...context, rotation };
  return recoversAnchor(rotation.recovery) ? recoverAnchor(inRecovery) : recoverIssuer(inRecovery);
}

/**
 * An expired, missing or untrusted anchor: a new anchor in every anchor Secret (the bundle becomes
 * exactly it), a new issuer under it, then identity, the control plane and the data plane restarted.
 */
function recoverAnchor(context: RecordContext): Decision {
  const { rotation, snapshot } = context;
  const to = rotation.to?.fingerprint;
  if (to === undefined) return chooseTarget(context);
  const active = snapshot.active;
  if (active?.fingerprint !== to) {
    if (snapshot.prepared.anchor?.fingerprint !== to) {
      const { to: _lost, ...rest } = rotation;
      return transition(context, { to: 'Recover', rotation: { ...rest, retargets: [...rotation.retargets, { fingerprint: to, at: iso(context.now) }] }, why: `the prepared anchor changed from ${shortFp(to)} to ${shortFp(snapshot.prepared.anchor?.fingerprint)} before it was made active; choosing again` });
    }
    return act({
      action: { kind: 'write-active-anchor', fingerprint: to, purpose: 'recover' },
      state: context.state,
      summary: `recover: active anchor := ${shortFp(to)}`,
      event: { type: 'Normal', reason: 'AnchorRecovered', message: `anchor ${shortFp(to)} is now the active (signing) anchor, replacing ${shortFp(rotation.from.fingerprint)} (${rotation.recovery})` },
    });
  }
  const inRotation: RotationContext = { ...context, active };
  if (snapshot.previous?.fingerprint !== to) {
    return act({ action: { kind: 'write-previous-anchor', fingerprint: to, source: 'active', purpose: 'recover' }, state: context.state, summary: `recover: previous anchor := ${shortFp(to)}, dropping ${shortFp(snapshot.previous?.fingerprint)} from the bundle` });
  }
  const trustsNew = onlyNewFreshness(inRotation, to);
  return (
    bundlesAndInjector(inRotation, { require: new Set([to]), ...(rotation.from.fingerprint !== UNKNOWN_ANCHOR ? { forbid: rotation.from.fingerprint } : {}) }) ??
    issuerValid(inRotation, to) ??
    rollPhase(
      { ...inRotation, snapshot: identitySubset(snapshot) },
      { phase: 'Recover', fresh: trustsNew, followBundle: true, gate: 'identity-restarted', goal: `trust only ${shortFp(to)} (identity controller first)`, then: () => undefined },
    ) ??
    rollPhase(atRecoverConcurrency(inRotation), { phase: 'Recover', fresh: trustsNew, followBundle: true, gate: 'pods-trust-only-new', goal: `trust only ${shortFp(to)}`, then: () => finish(inRotation, to) })
  );
}

/** The prepared anchor if it is valid with a new key; else ask cert-manager for one, as Prepare does. */
function chooseTarget(context: RecordContext): Decision {
  const { rotation } = context;
  const prepared = context.snapshot.prepared.anchor;
  const oldKey = rotation.from.publicKeyFingerprint;
  if (prepared && usableNewAnchor(prepared, oldKey, context.now)) {
    return transition(context, { to: 'Recover', rotation: { ...rotation, to: anchorRef(prepared) }, why: `recovering to the prepared anchor ${shortFp(prepared.fingerprint)} (valid until ${iso(prepared.notAfter)}, new key)` });
  }
  return awaitRenewal(context) ?? requestRenewal(context);
}

/** The issuer is valid and chains to `anchor`: else wait while cert-manager issues, or renew it (bounded). */
function issuerValid(context: RotationContext, anchor: Fingerprint): Decision | undefined {
  const { rotation, objects, now } = context;
  const issuer = context.snapshot.issuer;
  if (issuer && issuer.chainsTo === anchor && issuer.notAfter > now) return undefined;
  const stale = issuer?.issuing === 'true' ? issuer.signedRequest : undefined;
  if (stale && stale.chainsTo !== anchor && context.snapshot.active?.fingerprint === anchor) {
    // cert-manager signed this request before `anchor` was active (with the expired anchor, the only
    // CA it had): the webhook refuses to store it, and cert-manager retries storing that same
    // request, Issuing=True, for ever. Deleted, it is made again and signed by the active anchor.
    const signer = stale.chainsTo !== undefined ? shortFp(stale.chainsTo) : 'an anchor no Secret or bundle holds any more';
    if (rotation.issuerRenewals >= context.options.maxIssuerRenewals) {
      return stop(context, 'issuer-not-chained', `expected cert-manager to sign the identity issuer's next request under ${shortFp(anchor)} after ${rotation.issuerRenewals} renewals, found CertificateRequest ${stale.name} signed under ${signer} again; check ${objects.identityClusterIssuer} (spec.ca.secretName must name the active anchor Secret) and the cert-manager controller's logs, then run \`rotator recover --yes\` again`);
    }
    return act({
      action: { kind: 'discard-issuer-request', name: stale.name },
      state: updateRotation(context, { issuerRenewals: rotation.issuerRenewals + 1 }).state,
      summary: `recover: delete CertificateRequest ${stale.name}, signed under ${signer}, so cert-manager signs the issuer under ${shortFp(anchor)}`,
      event: { type: 'Normal', reason: 'IssuerRequestDiscarded', message: `deleted CertificateRequest ${stale.name} of ${objects.issuerCertificate}: signed under ${signer}, which the recovery replaced by ${shortFp(anchor)}; cert-manager issues it again (${rotation.recovery})` },
    });
  }
  if (!issuer || issuer.issuing === 'true') {
    return gate(context, {
      name: 'identity-issuer-chained',
      summary: `waiting for cert-manager to issue ${objects.issuerCertificate} under ${shortFp(anchor)}${issuer ? ' (Issuing=True)' : ' (Secret missing)'}`,
      missing: [`a valid identity issuer chained to ${shortFp(anchor)}`],
      watch: ['issuer'],
    });
  }
  if (rotation.issuerRenewals >= context.options.maxIssuerRenewals) {
    const why = issuer.issuing === 'false' ? `its last issuance failed (${issuer.lastFailureMessage ?? 'no message'})` : `it chains to ${shortFp(issuer.chainsTo)} and ends ${iso(issuer.notAfter)}`;
    return stop(context, 'issuer-not-chained', `expected a valid ${objects.issuerSecret} under ${shortFp(anchor)} after ${rotation.issuerRenewals} renewals, found that ${why}; check ${objects.identityClusterIssuer} and the cert-manager controller's logs, then run \`rotator recover --yes\` again`);
  }
  const action: Action = { kind: 'renew-identity-issuer' };
  return act({
    action,
    state: updateRotation(context, { issuerRenewals: rotation.issuerRenewals + 1 }).state,
    summary: `recover: renew the identity issuer under ${shortFp(anchor)}`,
    event: { type: 'Normal', reason: 'IssuerRenewalRequested', message: `requested renewal of ${objects.issuerCertificate} under anchor ${shortFp(anchor)} (${rotation.recovery})` },
  });
}

/**
 * An expired issuer under a valid anchor: renew it, restart the identity controller (it loads the
 * issuer at start), give proxies `recoverLeafGraceMs` to renew their leaves on their own, then
 * restart only the workloads whose pods are still not Ready.
 */
function recoverIssuer(context: RecordContext): Decision {
  const active = context.snapshot.active;
  if (!active) {
    return stop(context, 'anchor-secret-missing', `expected ${context.objects.activeSecret} (anchor ${shortFp(context.rotation.from.fingerprint)}) while recovering an expired issuer, found none; run \`rotator recover --yes\` again to recover the anchor`);
  }
  const inRotation: RotationContext = { ...context, active };
  const issuer = issuerValid(inRotation, active.fingerprint);
  if (issuer) return issuer;
  const identity = restartIdentityOnIssuer(inRotation);
  if ('kind' in identity) return identity;
  const { rotation, options, now } = identity;
  const freshAt = ms(rotation.identityFreshAt as string);
  const graceEnds = freshAt + options.recoverLeafGraceMs;
  const renewedLeaf = provenStartAfter(nextWholeSecond(freshAt), options.clockSkewMs);
  const recovered: Freshness = (pod) => (pod.ready || pod.startedAt >= renewedLeaf ? { fresh: true } : { fresh: false, why: `is not Ready ${Math.round((now - freshAt) / 1000)}s after identity ran the new issuer` });
  const stale = identity.snapshot.pods.filter((pod) => !recovered(pod).fresh);
  if (stale.length > 0 && now < graceEnds) {
    return gate(identity, {
      name: 'leaves-renewed',
      summary: `waiting until ${iso(graceEnds)} for ${stale.length} meshed pod(s) to renew their leaves and be Ready on their own; the workloads of those still not Ready are restarted then`,
      missing: stale.slice(0, 20).map((pod) => `${pod.namespace}/${pod.name} is not Ready`),
      watch: ['pods', 'clock'],
      notBefore: graceEnds,
    });
  }
  return rollPhase(atRecoverConcurrency(identity), { phase: 'Recover', fresh: recovered, notBefore: graceEnds, followBundle: false, gate: 'leaves-renewed', goal: 'hold a renewed leaf (Ready)', then: () => finish(identity, undefined) });
}

/** Restart every identity pod after the renewed issuer was seen; then `identityFreshAt` (as Promote's step 4). */
function restartIdentityOnIssuer(context: RotationContext): Decision | RotationContext {
  const { rotation, options } = context;
  if (rotation.identityFreshAt !== undefined) return context;
  const skew = options.clockSkewMs;
  const baseline = rotation.rollBaseline !== undefined ? ms(rotation.rollBaseline) : restartsProveStartAfter(nextWholeSecond(context.now), skew);
  const withBaseline = updateRotation(context, { rollBaseline: iso(baseline) });
  const restarted = rollPhase(
    { ...withBaseline, snapshot: identitySubset(context.snapshot) },
    { phase: 'Recover', fresh: identityRestartFreshness(provenStartOfRoll(baseline, skew)), followBundle: false, gate: 'identity-restarted', goal: 'run the renewed issuer (identity controller restarted after it)', then: () => undefined },
  );
  if (restarted) return restarted;
  const { rollBaseline: _baseline, rollBundle: _bundle, ...rest } = withBaseline.rotation;
  return withRotation(context, { ...rest, identityFreshAt: iso(context.now) });
}

/** A pod that trusts `to` for sure and nothing else: it loaded the recovered bundle at start. */
function onlyNewFreshness(context: RotationContext, to: Fingerprint): Freshness {
  const trust = trustContext(context.snapshot, context.state, context.options);
  const from = context.rotation.from.fingerprint;
  return (pod) => {
    const verdict = podTrust(pod, trust);
    if (!verdict.known) return { fresh: false, why: `has unknown trust (${verdict.why})` };
    if (verdict.certain.has(to) && !verdict.possible.has(from)) return { fresh: true };
    return { fresh: false, why: `started before the bundle held ${shortFp(to)} without ${shortFp(from)}` };
  };
}

/** The mesh is down: restart `recoverConcurrency` workloads at once instead of a rotation's few. */
function atRecoverConcurrency<C extends RotationContext>(context: C): C {
  return { ...context, options: { ...context.options, maxConcurrentRollouts: context.options.recoverConcurrency } };
}

/** Record the recovery (an anchor recovery as `last`, like a rotation), clear it, and go to Done. */
function finish(context: RotationContext, to: Fingerprint | undefined): Decision {
  const { rotation } = context;
  const state = finishedState(context, to);
  const why = to !== undefined
    ? `recovery (${rotation.recovery}) done: ${shortFp(to)} replaced ${shortFp(rotation.from.fingerprint)}; every meshed pod trusts only ${shortFp(to)} and is Ready`
    : `recovery (${rotation.recovery}) done: the identity issuer was renewed and every meshed pod is Ready`;
  return act({ action: { kind: 'record-transition', from: 'Recover', to: 'Done', why }, state, summary: why, event: { type: 'Normal', reason: 'RecoveryDone', message: why } });
}
