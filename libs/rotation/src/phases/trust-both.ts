// Phase TrustBoth: every bundle and the injector hold both anchors, then every meshed pod is
// restarted until it trusts both; a target cert-manager replaced is retargeted (docs/rotation.md).
import type { Decision } from '../decision.js';
import { trustBothFreshness, trustEitherFreshness } from '../freshness.js';
import { bundlesAndInjector } from '../gates/bundles-and-injector.js';
import { issuerChainedTo } from '../gates/issuer-signer.js';
import { rollPhase } from '../gates/roll.js';
import { shortFp, type Fingerprint } from '../snapshot.js';
import { iso } from '../state.js';
import { strategyOf } from '../strategy.js';
import { formatAnchors, trustContext } from '../trust.js';
import { activeChanged, anchorRef, gate, stop, transition, usableNewAnchor, type RotationContext } from './context.js';

/**
 * Restarts every pod that does not trust both anchors (`restart`), or only the pods that trust
 * neither (`cross-signed`: a pod trusting the old anchor follows the new one through X).
 */
export function decideTrustBoth(context: RotationContext, to: Fingerprint): Decision {
  const from = context.rotation.from.fingerprint;
  if (context.active.fingerprint !== from) return activeChanged(context, from);
  const crossSigned = strategyOf(context.rotation) === 'cross-signed';
  const trust = trustContext(context.snapshot, context.state, context.options);
  return (
    issuerChainedTo(context, from, 'before promotion (phase TrustBoth)') ??
    retargetIfReplaced(context, 'TrustBoth') ??
    bundlesAndInjector(context, { require: new Set([from, to]) }) ??
    rollPhase(context, {
      phase: 'TrustBoth',
      fresh: crossSigned ? trustEitherFreshness(trust, { from, to }) : trustBothFreshness(trust, { from, to }),
      followBundle: true,
      gate: 'pods-trust-both',
      goal: crossSigned ? `trust ${shortFp(from)} or ${shortFp(to)}` : `trust ${formatAnchors([from, to])}`,
      then: () => transition(context, { to: 'Promote', rotation: context.rotation, why: `every meshed pod trusts ${crossSigned ? `${shortFp(from)} or ${shortFp(to)}` : formatAnchors([from, to])}; promoting ${shortFp(to)}${crossSigned ? `, cross-signed by ${shortFp(from)}` : ''}` }),
    })
  );
}

/**
 * cert-manager renewed the prepared anchor again before promotion: the target's key exists only
 * in the prepared Secret, so it is gone and can never be promoted. Retarget to the newer anchor and
 * trust both again; pods that trust {from, old target} still trust `from`, which still signs.
 */
export function retargetIfReplaced(context: RotationContext, phase: 'TrustBoth' | 'Promote'): Decision | undefined {
  const { rotation, objects } = context;
  const to = rotation.to;
  const prepared = context.snapshot.prepared.anchor;
  if (!to || prepared?.fingerprint === to.fingerprint) return undefined;
  if (!prepared) {
    return gate(context, {
      name: 'prepared-anchor-present',
      summary: `waiting for ${objects.preparedSecret} to hold the target anchor ${shortFp(to.fingerprint)} again (it is missing)`,
      missing: [objects.preparedSecret],
      watch: ['prepared-anchor'],
    });
  }
  if (!usableNewAnchor(prepared, rotation.from.publicKeyFingerprint, context.now)) {
    return stop(
      context,
      'prepared-anchor-changed',
      `expected ${objects.preparedSecret} to hold the target anchor ${shortFp(to.fingerprint)}, found ${shortFp(prepared.fingerprint)} with the old key or expired; restore the prepared anchor or renew it, then run again`,
    );
  }
  if (rotation.retargets.length >= context.options.maxRetargets) {
    return stop(
      context,
      'prepared-anchor-unstable',
      `expected the prepared anchor to stay put during a rotation, found it replaced ${rotation.retargets.length + 1} times (now ${shortFp(prepared.fingerprint)}); check renewBefore and rotationPolicy on ${objects.preparedCertificate}, then run again`,
    );
  }
  return transition(context, {
    to: 'TrustBoth',
    rotation: { ...rotation, to: anchorRef(prepared), retargets: [...rotation.retargets, { fingerprint: to.fingerprint, at: iso(context.now) }] },
    why: `cert-manager replaced target anchor ${shortFp(to.fingerprint)} with ${shortFp(prepared.fingerprint)} in phase ${phase}, before promotion; the old target's key is gone, so the rotation now targets ${shortFp(prepared.fingerprint)} and trusts both again`,
  });
}
