// Which meshed pods are stale outside a rotation: one rule for `status`/`check` (the runner) and the
// exporter's stale-proxies metric. It follows the strategy of the rotation under way, else of the
// last one: `restart` rolls every pod whose bundle changed, so a pod is stale while it holds another
// bundle; `cross-signed` restarts only pods that trust no anchor a valid chain reaches, so that is
// what stale means then. A pod relying on a valid cross-signature is never stale (docs/rotation.md).
import { crossSignatureReliance, type CrossSignatureReliance } from './freshness.js';
import type { Strategy } from './options.js';
import type { EpochMs, IdentityIssuerFacts, MeshedPod } from './snapshot.js';
import type { RotationState } from './state.js';
import { strategyOf } from './strategy.js';
import { podTrust, type TrustContext } from './trust.js';

export interface Staleness {
  /** The cross-signature the pod reaches the issuer through: not stale until it ends. */
  readonly relying?: CrossSignatureReliance;
  /**
   * Judged by trust (cross-signed): true when the pod trusts, for sure, neither the issuer's anchor
   * nor a cross-signature's signer. Undefined: judge it by the bundle it holds (strategy restart, a
   * pod of unknown trust, or an issuer chained to no known anchor).
   */
  readonly stale?: boolean;
}

/** The strategy staleness follows: the rotation under way, else the last one (none recorded: restart). */
export function stalenessStrategy(state: Pick<RotationState, 'rotation' | 'last'> | undefined): Strategy {
  return strategyOf(state?.rotation ?? state?.last);
}

export function stalenessOf(pod: MeshedPod, rule: { readonly trust: TrustContext; readonly issuer: IdentityIssuerFacts | undefined; readonly now: EpochMs; readonly strategy: Strategy }): Staleness {
  const relying = crossSignatureReliance(pod, rule);
  if (relying) return { relying, stale: false };
  const chainsTo = rule.issuer?.chainsTo;
  if (rule.strategy !== 'cross-signed' || chainsTo === undefined) return {};
  const verdict = podTrust(pod, rule.trust);
  return verdict.known ? { stale: !verdict.certain.has(chainsTo) } : {};
}
