// Phases Idle and Done: bootstrap the runner-owned anchor Secrets from the prepared anchor, restart
// pods whose cross-signature nears its end, then start a rotation when due (docs/rotation.md).
import type { Decision } from '../decision.js';
import { crossSignatureFreshness, crossSignatureReliances, rotationRestartFreshness } from '../freshness.js';
import type { Strategy } from '../options.js';
import { shortFp, workloadKey, type AnchorFacts } from '../snapshot.js';
import { iso, ms, type RotationRecord } from '../state.js';
import { chooseStrategy } from '../strategy.js';
import { crossSignWindowOf, expiryMarginOf, formatDuration } from '../options.js';
import { podTrust, trustContext } from '../trust.js';
import { rollStatus } from '../workloads.js';
import { issuerChainedTo, issuerSignerOnActive } from '../gates/issuer-signer.js';
import { unrestartableStop } from '../gates/unrestartable.js';
import { act, anchorRef, gate, MAX_LISTED, stop, transition, usableNewAnchor, type DecideContext } from './context.js';

export function decideIdle(context: DecideContext): Decision {
  const active = context.snapshot.active;
  if (!active) return bootstrapActive(context);
  const previous = context.snapshot.previous;
  if (!previous) return bootstrapPrevious(context, active);
  // Pods relying on a cross-signature near its end are restarted even when the issuer's signer is
  // wrong (their connectivity ends with X); nothing else happens until the signer is right.
  return (
    halfFinishedRotation(context, active, previous) ??
    crossSignedStateLost(context) ??
    restartCrossSignReliant(context) ??
    issuerSignerOnActive(context) ??
    issuerChainedTo(context, active.fingerprint, `in phase ${context.state.phase}`) ??
    startIfDue(context, active)
  );
}

/**
 * Outside a rotation the previous-anchor Secret holds the active anchor (bootstrap and Retire make
 * it so). An active anchor the previous Secret does not hold means a rotation was promoted and not
 * retired, and its state is gone (the state ConfigMap was deleted or reset mid-Promote), or someone
 * wrote an anchor Secret by hand: "no rotation due" would leave the old anchor pinned nowhere.
 */
function halfFinishedRotation(context: DecideContext, active: AnchorFacts, previous: AnchorFacts): Decision | undefined {
  if (previous.fingerprint === active.fingerprint) return undefined;
  const { objects } = context;
  const names = context.options.names;
  const crossSigned = context.snapshot.issuer?.chainVia?.some((via) => via.anchor === previous.fingerprint) ? `, cross-signed by ${shortFp(previous.fingerprint)},` : '';
  return stop(
    context,
    'half-finished-rotation',
    `expected ${objects.previousSecret} to hold the active anchor ${shortFp(active.fingerprint)} outside a rotation (phase ${context.state.phase}), found ${shortFp(previous.fingerprint)}: a rotation ${shortFp(previous.fingerprint)} -> ${shortFp(active.fingerprint)} was promoted${crossSigned} but not retired, and its state is gone (ConfigMap ${names.releaseNamespace}/${names.stateConfigMap} deleted or reset), or an anchor Secret was written by hand; restore the state ConfigMap from a backup (the RotationPromote and AnchorPromoted Events on ${objects.preparedCertificate} name the rotation), or finish it by hand as docs/rotation.md "Lost state" says, then run again`,
  );
}

/** Step 1: no active-anchor Secret: adopt the prepared anchor, if the identity issuer chains to it. */
function bootstrapActive(context: DecideContext): Decision {
  const { snapshot, objects } = context;
  const prepared = snapshot.prepared.anchor;
  if (!prepared) {
    return stop(
      context,
      'anchor-secret-missing',
      `expected ${objects.preparedSecret} issued by cert-manager to bootstrap from, found none; check ${objects.preparedCertificate} and its ${objects.trustRootIssuer}`,
    );
  }
  const chainsTo = snapshot.issuer?.chainsTo;
  if (snapshot.issuer && chainsTo !== prepared.fingerprint) {
    return stop(
      context,
      'cannot-adopt',
      `expected the identity issuer to chain to the prepared anchor ${shortFp(prepared.fingerprint)} to adopt it as active, found it chained to ${shortFp(chainsTo)}; restore the anchor the issuer was signed with into ${objects.preparedSecret}, or reissue the issuer from it`,
    );
  }
  return act({
    action: { kind: 'write-active-anchor', fingerprint: prepared.fingerprint, purpose: 'bootstrap' },
    state: context.state,
    summary: `bootstrap: active anchor := prepared ${shortFp(prepared.fingerprint)}`,
    event: { type: 'Normal', reason: 'AnchorBootstrapped', message: `active anchor set from prepared anchor ${shortFp(prepared.fingerprint)}` },
  });
}

/** Step 2: no previous-anchor Secret: copy the active certificate into it (never a key). */
function bootstrapPrevious(context: DecideContext, active: AnchorFacts): Decision {
  return act({
    action: { kind: 'write-previous-anchor', fingerprint: active.fingerprint, source: 'active', purpose: 'bootstrap' },
    state: context.state,
    summary: `bootstrap: previous anchor := active ${shortFp(active.fingerprint)}`,
  });
}

/**
 * Phase Idle is never reached again after a rotation (a finished one is Done), so an issuer chain
 * carrying a valid cross-signature X in Idle means a cross-signed rotation ran and its state is gone
 * (the state ConfigMap was deleted or reset after Retire). Without the known bundles the pods started
 * before it have unknown trust, so step 3 cannot find those trusting only the old anchor, which fail
 * once X ends: stop while any pod's trust is unknown. Once they are restarted, step 3 takes over.
 */
function crossSignedStateLost(context: DecideContext): Decision | undefined {
  const { snapshot, now, objects } = context;
  if (context.state.phase !== 'Idle') return undefined;
  const vias = (snapshot.issuer?.chainVia ?? []).filter((via) => via.notAfter > now);
  if (vias.length === 0) return undefined;
  const trust = trustContext(snapshot, context.state, context.options);
  const unknown = snapshot.pods.flatMap((pod) => {
    const verdict = podTrust(pod, trust);
    return verdict.known ? [] : [`${pod.namespace}/${pod.name} (${verdict.why})`];
  });
  if (unknown.length === 0) return undefined;
  const ends = vias.reduce((a, b) => (b.notAfter < a.notAfter ? b : a));
  const names = context.options.names;
  return stop(
    context,
    'rotation-state-lost',
    `expected no cross-signature in ${objects.issuerSecret} in phase Idle (no rotation recorded), found one by ${shortFp(ends.anchor)} until ${iso(ends.notAfter)}: a cross-signed rotation ran and its state is gone (ConfigMap ${names.releaseNamespace}/${names.stateConfigMap} deleted or reset), so ${unknown.length} meshed pod(s) have trust the rotator cannot prove (first: ${unknown[0]}), and those trusting only ${shortFp(ends.anchor)} fail when the cross-signature ends; restore the state ConfigMap from a backup, or restart those workloads before ${iso(ends.notAfter)}, then run again`,
  );
}

/**
 * Step 3: a pod that reaches the issuer only through a cross-signature (it trusts the old anchor,
 * not the new one) is restarted once that cross-signature's notAfter is `crossSignWindowOf` away
 * (`crossSignMarginMs`, at least the expiry margin); no other pod is. Restarts since the window
 * opened count, so a rerun does not restart twice.
 */
function restartCrossSignReliant(context: DecideContext): Decision | undefined {
  const { snapshot, options, now } = context;
  const issuer = snapshot.issuer;
  if (!issuer?.chainVia?.length) return undefined;
  const trust = trustContext(snapshot, context.state, options);
  const window = crossSignWindowOf(options);
  const opensAt = crossSignatureReliances(snapshot, context.state, options)
    .map(({ reliance }) => reliance.until - window)
    .filter((opens) => now >= opens);
  if (opensAt.length === 0) return undefined;
  // A restart counts only when it came after the window opened AND after the last rotation ended:
  // an ordinary deploy (kubectl rollout restart) made before then gave its pods the old bundle, so
  // they may still rely on the cross-signature; counted as rolled, they would never be restarted.
  const lastEnded = context.state.last ? ms(context.state.last.finishedAt) : 0;
  const baseline = Math.max(Math.min(...opensAt), lastEnded);
  const status = rollStatus(snapshot, { fresh: crossSignatureFreshness(trust, { issuer, now, marginMs: window }), baseline, maxConcurrent: options.maxConcurrentRollouts });
  const stuck = unrestartableStop(context, status.blockers, 'relying on a cross-signature that ends soon');
  if (stuck) return stuck;
  if (status.toRoll.length === 0) {
    if (status.inProgress.length === 0) return undefined;
    return gate(context, {
      name: 'cross-signed-pods-restarted',
      summary: `waiting for ${status.inProgress.length} restarted workload(s) whose pods relied on a cross-signature that ends soon: ${status.inProgress.slice(0, 5).map(workloadKey).join(', ')}`,
      missing: status.inProgress.slice(0, MAX_LISTED).map(workloadKey),
      progress: { done: status.rolled.length - status.inProgress.length, total: status.rolled.length + status.needsRoll.length },
      watch: ['pods', 'workloads'],
    });
  }
  const rolled = status.rolled.length + status.toRoll.length;
  const total = status.rolled.length + status.needsRoll.length;
  const tier = status.tier ?? 'data-plane';
  return act({
    action: { kind: 'roll-workloads', phase: 'Done', tier, workloads: status.toRoll, restartedAt: iso(now), rolled, total },
    state: context.state,
    summary: `restart ${status.toRoll.length} ${tier} workload(s) whose pods trust only an anchor reached through a cross-signature that ends soon (rolled ${rolled}/${total})`,
  });
}

/** Step 4: start a rotation of `active` when due; otherwise Done, and the state is not rewritten (I4). */
function startIfDue(context: DecideContext, active: AnchorFacts): Decision {
  const due = startDue(context, active);
  if (!due.start) return { kind: 'done', state: context.state, summary: due.why };
  const choice = chooseStrategy(active, context.options, context.now);
  const stuck = unrestartableAtStart(context, active, choice.strategy);
  if (stuck) return stuck;
  const now = iso(context.now);
  const rotation: RotationRecord = {
    id: `rotation-${now}`,
    strategy: choice.strategy,
    ...(choice.note !== undefined ? { strategyNote: choice.note } : {}),
    from: anchorRef(active),
    startedAt: now,
    phaseStartedAt: now,
    preparedRevisionAtStart: context.snapshot.prepared.revision,
    prepareRequests: 0,
    retargets: [],
    issuerRenewals: 0,
  };
  const note = choice.note !== undefined ? `; ${choice.note}` : '';
  return transition(context, { to: 'Prepare', rotation, why: `rotation of anchor ${shortFp(active.fingerprint)} started (strategy ${choice.strategy}): ${due.why}${note}` });
}

/**
 * Before the first write of a rotation: a pod it will restart whose controller a restart does not
 * replace would leave a phase waiting until its deadline, so the run stops now, naming them.
 */
function unrestartableAtStart(context: DecideContext, active: AnchorFacts, strategy: Strategy): Decision | undefined {
  const { snapshot, options } = context;
  const prepared = snapshot.prepared.anchor;
  const to = prepared !== undefined && usableNewAnchor(prepared, active.publicKeyFingerprint, context.now) ? prepared.fingerprint : undefined;
  const fresh = rotationRestartFreshness(trustContext(snapshot, context.state, options), { strategy, from: active.fingerprint, ...(to !== undefined ? { to } : {}) });
  const status = rollStatus(snapshot, { fresh, baseline: Number.POSITIVE_INFINITY, maxConcurrent: options.maxConcurrentRollouts });
  return unrestartableStop(context, status.blockers, `a rotation (strategy ${strategy}) restarts`);
}

function startDue(context: DecideContext, active: AnchorFacts): { start: boolean; why: string } {
  const { snapshot, options, state } = context;
  const prepared = snapshot.prepared.anchor;
  const waiting = prepared !== undefined && usableNewAnchor(prepared, active.publicKeyFingerprint, context.now);
  if (options.start === 'always') return { start: true, why: 'forced' };
  const margin = expiryMarginOf(options);
  if (options.start === 'if-due' && active.notAfter - context.now <= margin) {
    return {
      start: true,
      why: `active anchor ${shortFp(active.fingerprint)} ends ${iso(active.notAfter)}, within the expiry margin ${formatDuration(margin)} a rotation needs (--expiry-margin)`,
    };
  }
  if (options.start === 'if-due' && waiting) return { start: true, why: `prepared anchor ${shortFp(prepared?.fingerprint)} with a new key is waiting` };
  const age = context.now - active.notBefore;
  if (options.start === 'if-due' && options.maxActiveAgeMs !== undefined && age >= options.maxActiveAgeMs) {
    return { start: true, why: `active anchor ${shortFp(active.fingerprint)} is ${Math.floor(age / 3_600_000)}h old` };
  }
  const last = state.last ? `; last rotation ${shortFp(state.last.from)} -> ${shortFp(state.last.to)} finished ${state.last.finishedAt}` : '';
  return { start: false, why: `no rotation due (start policy ${options.start}, active anchor ${shortFp(active.fingerprint)}${waiting ? ', prepared anchor waiting' : ''})${last}` };
}
