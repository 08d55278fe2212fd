// Phase Promote: make the new anchor the signing one, get an identity issuer chained to it loaded
// by every identity replica, then renew every leaf in use (docs/rotation.md, "Promote", steps 1-5).
import type { Action, Decision } from '../decision.js';
import { identityRestartFreshness, promoteFreshness } from '../freshness.js';
import { bundlesAndInjector } from '../gates/bundles-and-injector.js';
import { issuerChainedTo } from '../gates/issuer-signer.js';
import { rollPhase } from '../gates/roll.js';
import { safetyGate } from '../gates/safety.js';
import { shortFp, type Fingerprint, type IdentityIssuerFacts } from '../snapshot.js';
import { iso, ms } from '../state.js';
import { crossSignProblems, strategyOf } from '../strategy.js';
import { leafLifetimeElapsedAt, leavesRenewed, nextWholeSecond, provenStartAfter, provenStartOfRoll, reachableAnchors, restartsProveStartAfter } from '../trust.js';
import { identitySubset } from '../workloads.js';
import { act, activeChanged, gate, stop, transition, updateRotation, withRotation, type RotationContext } from './context.js';
import { formatAnchors } from '../trust.js';
import { retargetIfReplaced } from './trust-both.js';

/** A step either decides (stop here) or hands the next step the context with what it recorded. */
type StepOutcome = Decision | RotationContext;

export function decidePromote(context: RotationContext, to: Fingerprint): Decision {
  const { rotation, active } = context;
  if (active.fingerprint === rotation.from.fingerprint) {
    return rotation.promotedAt === undefined ? promoteAnchor(context, to) : activeChanged(context, to);
  }
  if (active.fingerprint !== to) return activeChanged(context, to);
  // A run killed between the write and persisting it promoted without recording when.
  let current = rotation.promotedAt === undefined ? updateRotation(context, { promotedAt: iso(context.now) }) : context;
  for (const step of [awaitIssuerChained, awaitIssuerUpdated, restartIdentity]) {
    const outcome = step(current, to);
    if (isDecision(outcome)) return outcome;
    current = outcome;
  }
  return awaitLeaves(current, to);
}

/**
 * Step 1: write the new anchor into the active-anchor Secret, once every pod and the injector trust
 * it (`cross-signed`: trust it or the old anchor, which signs X, the cross-signature the adapter
 * mints into the issuer's chain). A cross-signed rotation whose old anchor can no longer cross-sign
 * (expired, key gone) falls back to `restart` and trusts both again first.
 */
function promoteAnchor(context: RotationContext, to: Fingerprint): Decision {
  const from = context.rotation.from.fingerprint;
  const ready = issuerChainedTo(context, from, 'before promotion (phase Promote)') ?? retargetIfReplaced(context, 'Promote') ?? bundlesAndInjector(context, { require: new Set([from, to]) });
  if (ready) return ready;
  const crossSigned = strategyOf(context.rotation) === 'cross-signed';
  const problems = crossSigned ? crossSignProblems(context.active) : [];
  if (problems.length > 0) {
    const note = `cannot cross-sign with ${shortFp(from)} any more (${problems.join('; ')}); using strategy restart, which restarts every meshed workload`;
    return transition(context, { to: 'TrustBoth', rotation: { ...context.rotation, strategy: 'restart', strategyNote: note }, why: `${note}: every pod must trust both anchors before promotion` });
  }
  const action: Action = { kind: 'write-active-anchor', fingerprint: to, purpose: 'promote', ...(crossSigned ? { crossSignedBy: from } : {}) };
  return (
    safetyGate(context, action, 'promotion-safe') ??
    act({
      action,
      state: updateRotation(context, { promotedAt: iso(context.now) }).state,
      summary: `promote ${shortFp(to)} to active anchor${crossSigned ? `, cross-signed by ${shortFp(from)}` : ''}`,
      event: { type: 'Normal', reason: 'AnchorPromoted', message: `anchor ${shortFp(to)} is now the active (signing) anchor; ${shortFp(from)} still trusted` },
    })
  );
}

/**
 * Step 2: an identity issuer chained to the new anchor (`cross-signed`: and carrying X, so that it
 * also reaches the old anchor): wait while cert-manager issues, else renew it.
 */
function awaitIssuerChained(context: RotationContext, to: Fingerprint): StepOutcome {
  const { rotation, objects } = context;
  const names = context.options.names;
  const issuer = context.snapshot.issuer;
  const from = rotation.from.fingerprint;
  const crossSigned = strategyOf(rotation) === 'cross-signed';
  const chained = issuer?.chainsTo === to && (!crossSigned || reachableAnchors(issuer, context.now).has(from));
  if (chained) return context;
  const wanted = crossSigned ? `${shortFp(to)} and, through the cross-signature X, ${shortFp(from)}` : shortFp(to);
  if (!issuer || issuer.issuing === 'true') {
    return gate(context, {
      name: 'identity-issuer-chained',
      summary: `waiting for cert-manager to issue ${objects.issuerCertificate} chained to ${wanted}${issuer ? ' (Issuing=True)' : ' (Secret missing)'}`,
      missing: [`identity issuer chained to ${wanted}`],
      watch: ['issuer'],
    });
  }
  if (rotation.issuerRenewals >= context.options.maxIssuerRenewals) {
    return stop(
      context,
      'issuer-not-chained',
      `expected ${objects.issuerSecret} to chain to ${wanted} after ${rotation.issuerRenewals} renewals, found it chained to ${shortFp(issuer.chainsTo)}${crossSigned ? ` carrying cross-signatures by ${formatAnchors((issuer.chainVia ?? []).map((via) => via.anchor))}` : ''}; check ClusterIssuer ${names.identityClusterIssuer} points at ${names.activeAnchorSecret} in namespace ${names.trustNamespace}, then run again`,
    );
  }
  const action: Action = { kind: 'renew-identity-issuer' };
  return (
    safetyGate(context, action, 'promotion-safe') ??
    act({
      action,
      state: updateRotation(context, { issuerRenewals: rotation.issuerRenewals + 1 }).state,
      summary: `renew identity issuer under ${shortFp(to)}`,
      event: { type: 'Normal', reason: 'IssuerRenewalRequested', message: `requested renewal of ${objects.issuerCertificate} under anchor ${shortFp(to)}` },
    })
  );
}

/** Step 3: the identity controller reports IssuerUpdated for the new issuer; a rejection stops the run. */
function awaitIssuerUpdated(context: RotationContext, to: Fingerprint): StepOutcome {
  if (context.rotation.issuerUpdatedAt !== undefined) return context;
  // awaitIssuerChained passed: the issuer exists and chains to `to`.
  const issuer = context.snapshot.issuer as IdentityIssuerFacts;
  const since = issuer.notBefore;
  const events = context.snapshot.identityEvents;
  const updated = events.filter((e) => e.reason === 'IssuerUpdated' && e.at >= since).map((e) => e.at);
  if (updated.length > 0) return updateRotation(context, { issuerUpdatedAt: iso(Math.min(...updated)) });
  const skipped = events.find((e) => (e.reason === 'IssuerUpdateSkipped' || e.reason === 'IssuerValidationFailed') && e.at >= since);
  if (skipped) {
    return stop(
      context,
      'identity-rejected-issuer',
      `expected the identity controller to load the issuer chained to ${shortFp(to)}, found ${skipped.reason} at ${iso(skipped.at)} (${skipped.message ?? 'no message'}); the identity controller does not trust ${shortFp(to)}: restart ${context.objects.identityDeployment} once ${context.objects.linkerdTrustRoots} holds ${shortFp(to)}, then run again`,
    );
  }
  return gate(context, {
    name: 'identity-loaded-issuer',
    summary: `waiting for the identity controller to report IssuerUpdated for issuer ${shortFp(issuer.fingerprint)} (chained to ${shortFp(to)})`,
    missing: [`IssuerUpdated at or after ${iso(since)}`],
    watch: ['identity-events'],
  });
}

/**
 * Step 4: restart the identity controller alone. One IssuerUpdated proves one replica reloaded;
 * restarting every identity pod proves them all (and covers a replica that missed the Secret
 * update, linkerd2#15109). The baseline is taken after this snapshot showed the issuer Secret
 * chained to the new anchor, so an identity pod started at or after it loaded the new issuer from
 * its files at start. Once they all did, `identityFreshAt`: every leaf issued since chains to it.
 */
function restartIdentity(context: RotationContext): StepOutcome {
  const { rotation } = context;
  if (rotation.identityFreshAt !== undefined) return context;
  const identity = identitySubset(context.snapshot);
  if (identity.pods.length === 0) {
    // Nothing to restart would pass the gate vacuously and claim every leaf chains to the new anchor.
    const { objects } = context;
    return stop(
      context,
      'identity-pods-missing',
      `expected pods of ${objects.identityDeployment} (the identity controller, recognised by label linkerd.io/control-plane-component=identity in namespace ${context.options.names.linkerdNamespace}) among ${context.snapshot.pods.length} meshed pods, found none; without them the rotator cannot prove every identity replica runs the new issuer: check that the identity Deployment is running and meshed and that --linkerd-namespace names its namespace, then run again`,
    );
  }
  const loadedAt = ms(rotation.issuerUpdatedAt as string);
  const skew = context.options.clockSkewMs;
  const baseline = rotation.rollBaseline !== undefined ? ms(rotation.rollBaseline) : restartsProveStartAfter(Math.max(nextWholeSecond(context.now), loadedAt + 1000), skew);
  const withBaseline = updateRotation(context, { rollBaseline: iso(baseline) });
  const restarted = rollPhase(
    { ...withBaseline, snapshot: identity },
    {
      phase: 'Promote',
      fresh: identityRestartFreshness(provenStartOfRoll(baseline, skew)),
      notBefore: loadedAt + 1000,
      followBundle: false,
      gate: 'identity-restarted',
      goal: 'run the new issuer (identity controller restarted after IssuerUpdated)',
      then: () => undefined,
    },
  );
  if (restarted) return restarted;
  const { rollBaseline: _identityBaseline, rollBundle: _identityBundle, ...rest } = withBaseline.rotation;
  return withRotation(context, { ...rest, identityFreshAt: iso(context.now) });
}

/**
 * Step 5: every leaf in use chains to the new anchor: restart every workload with a pod started
 * before `identityFreshAt`; in gentle mode, wait one leaf lifetime instead. `cross-signed` waits
 * for every leaf chained only to the old anchor to expire (gate `old-leaves-expired`, a long gate
 * the run ends on and a later run resumes), or with `rollAfterPromote` rolls like `restart`.
 * Then go to Retire.
 */
function awaitLeaves(context: RotationContext, to: Fingerprint): Decision {
  const { rotation, snapshot, options } = context;
  const since = nextWholeSecond(ms(rotation.identityFreshAt as string));
  const toRetire = () => transition(context, { to: 'Retire', rotation, why: `every leaf in use chains to ${shortFp(to)}; retiring ${shortFp(rotation.from.fingerprint)}` });
  if (strategyOf(rotation) === 'cross-signed' && !options.rollAfterPromote) {
    if (leavesRenewed(snapshot, rotation, options)) return toRetire();
    const until = leafLifetimeElapsedAt(since, options);
    const parked = { ...context, state: { ...context.state, rotation: { ...rotation, waitingUntil: iso(until) } } };
    return gate(parked, {
      name: 'old-leaves-expired',
      summary: `waiting until ${iso(until)} for every leaf chained only to ${shortFp(rotation.from.fingerprint)} to expire (one leaf lifetime after every identity replica ran the new issuer); a later run resumes`,
      missing: [`${Math.ceil((until - context.now) / 60_000)} minutes`],
      watch: ['clock', 'pods'],
      notBefore: until,
      resumeLater: true,
    });
  }
  if (options.gentle) {
    if (leavesRenewed(snapshot, rotation, options)) return toRetire();
    const until = leafLifetimeElapsedAt(since, options);
    return gate(context, {
      name: 'leaf-lifetime-elapsed',
      summary: `gentle mode: waiting one leaf lifetime, until ${iso(until)}, for every proxy to renew its leaf under ${shortFp(to)}`,
      missing: [`${Math.ceil((until - context.now) / 60_000)} minutes`],
      watch: ['clock', 'pods'],
      notBefore: until,
    });
  }
  return rollPhase(context, {
    phase: 'Promote',
    fresh: promoteFreshness(provenStartAfter(since, options.clockSkewMs)),
    notBefore: restartsProveStartAfter(since, options.clockSkewMs),
    followBundle: false,
    gate: 'leaves-renewed',
    goal: 'hold a leaf chained to the new anchor',
    then: toRetire,
  });
}

function isDecision(outcome: StepOutcome): outcome is Decision {
  return 'kind' in outcome;
}
