// Phase Retire: drop the old anchor from the bundle sources, wait for every bundle and the
// injector to follow, restart every pod that may still trust it, then record Done (docs/rotation.md).
import type { Action, Decision } from '../decision.js';
import { reachableFreshness, retireFreshness } from '../freshness.js';
import { bundlesAndInjector } from '../gates/bundles-and-injector.js';
import { rollPhase } from '../gates/roll.js';
import { safetyGate } from '../gates/safety.js';
import { shortFp, type ClusterSnapshot, type Fingerprint } from '../snapshot.js';
import { strategyOf } from '../strategy.js';
import { formatAnchors, reachableAnchors, syncedBundle, trustContext } from '../trust.js';
import { act, activeChanged, finishedState, type RotationContext } from './context.js';

export function decideRetire(context: RotationContext, to: Fingerprint): Decision {
  const from = context.rotation.from.fingerprint;
  if (context.active.fingerprint !== to) return activeChanged(context, to);
  if (context.snapshot.previous?.fingerprint !== to) return retireAnchor(context, to);
  const trust = trustContext(context.snapshot, context.state, context.options);
  // cross-signed: a pod that trusts only the old anchor keeps working through X; only a pod that
  // trusts no anchor a valid chain reaches is restarted (none, after TrustBoth).
  const crossSigned = strategyOf(context.rotation) === 'cross-signed';
  return (
    bundlesAndInjector(context, { require: new Set([to]), forbid: from }) ??
    rollPhase(context, {
      phase: 'Retire',
      fresh: crossSigned
        ? reachableFreshness(trust, reachableAnchors(context.snapshot.issuer, context.now))
        : retireFreshness(trust, { from, to, bundle: syncedBundle(context.snapshot)?.anchors ?? new Set<Fingerprint>() }),
      followBundle: true,
      gate: 'pods-trust-only-new',
      goal: crossSigned ? `trust an anchor the issuer reaches` : `trust ${shortFp(to)} and no longer ${shortFp(from)}`,
      then: () => finish(context, to),
    })
  );
}

/** Step 1: the new anchor's certificate into the previous-anchor Secret, once no leaf in use chains to the old one. */
function retireAnchor(context: RotationContext, to: Fingerprint): Decision {
  const from = context.rotation.from.fingerprint;
  const action: Action = { kind: 'write-previous-anchor', fingerprint: to, source: 'active', purpose: 'retire' };
  return (
    safetyGate(context, action, 'retirement-safe') ??
    act({
      action,
      state: context.state,
      summary: `retire ${shortFp(from)}: previous anchor := ${shortFp(to)}`,
      event: { type: 'Normal', reason: 'AnchorRetired', message: `anchor ${shortFp(from)} removed from the trust bundle sources; bundle becomes ${formatAnchors(sourcesAfterRetire(context.snapshot, to))}` },
    })
  );
}

function sourcesAfterRetire(snapshot: ClusterSnapshot, to: Fingerprint): Fingerprint[] {
  return [...new Set([to, ...(snapshot.prepared.anchor ? [snapshot.prepared.anchor.fingerprint] : [])])];
}

/** Step 4: record the finished rotation as `last`, clear it, and go to Done. */
function finish(context: RotationContext, to: Fingerprint): Decision {
  const { rotation } = context;
  const state = finishedState(context, to);
  const why =
    strategyOf(rotation) === 'cross-signed'
      ? `rotation ${shortFp(rotation.from.fingerprint)} -> ${shortFp(to)} done (cross-signed): every meshed pod trusts an anchor the issuer reaches; pods trusting only ${shortFp(rotation.from.fingerprint)} are restarted before its cross-signature ends`
      : `rotation ${shortFp(rotation.from.fingerprint)} -> ${shortFp(to)} done: every meshed pod trusts only the new anchors`;
  return act({ action: { kind: 'record-transition', from: 'Retire', to: 'Done', why }, state, summary: why, event: { type: 'Normal', reason: 'RotationDone', message: why } });
}
