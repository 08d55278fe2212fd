// Invariants I1 and I2 as pure checks over a snapshot, and the same rules applied to an action's outcome.
// `decide` only emits actions these accept; the runner checks again before acting, and tests check every step.
import type { Action } from './decision.js';
import type { DecideOptions } from './options.js';
import { podKey, shortFp, type ClusterSnapshot, type Fingerprint, type MeshedPod } from './snapshot.js';
import type { RotationState } from './state.js';
import { strategyOf } from './strategy.js';
import { resumePhase } from './rules.js';
import { bundleAnchors, coversRoutes, trustsOneOf, formatAnchors, formatRoutes, leafRoutesInCirculation, podTrust, reachableAnchors, trustContext, type TrustContext } from './trust.js';

export interface Violation {
  readonly invariant: 'I1' | 'I2';
  /** The pod (`namespace/name`), `identity-issuer`, or `proxy-injector`. */
  readonly subject: string;
  readonly expected: string;
  readonly found: string;
}

export interface InvariantReport {
  readonly violations: readonly Violation[];
  /** Pods whose trust cannot be proven; preconditions treat them as violations. */
  readonly unverified: readonly { readonly pod: string; readonly why: string }[];
}

function subjectOf(pod: MeshedPod): string {
  return pod.identityController ? `${podKey(pod)} (identity controller)` : podKey(pod);
}

/** What every pod must trust for sure (one anchor of each route), under which invariant, and why (for the message). */
interface TrustRequirement {
  readonly required: readonly ReadonlySet<Fingerprint>[];
  readonly invariant: Violation['invariant'];
  readonly why: string;
}

/** Pods that do not trust, for sure, an anchor of every route in `required`; unknown trust counts against them. */
function podsMissing(snapshot: ClusterSnapshot, context: TrustContext, requirement: TrustRequirement): Violation[] {
  const { required, invariant, why } = requirement;
  const out: Violation[] = [];
  for (const pod of snapshot.pods) {
    const trust = podTrust(pod, context);
    if (!trust.known) {
      out.push({ invariant, subject: subjectOf(pod), expected: `${why} ${formatRoutes(required)}`, found: `unknown trust (${trust.why})` });
      continue;
    }
    if (!required.every((route) => trustsOneOf(trust, route))) {
      out.push({ invariant, subject: subjectOf(pod), expected: `${why} ${formatRoutes(required)}`, found: `trusts ${formatAnchors(trust.certain)}` });
    }
  }
  return out;
}

function splitUnverified(violations: Violation[]): InvariantReport {
  const unverified = violations
    .filter((v) => v.found.startsWith('unknown trust'))
    .map((v) => ({ pod: v.subject, why: v.found }));
  return { violations: violations.filter((v) => !v.found.startsWith('unknown trust')), unverified };
}

/**
 * The pods of one cluster that do not trust, for sure, an anchor of every route in `routes` (unknown
 * trust counts against them), as I1 violations. The fleet gates (fleet.ts) pass the routes of the
 * leaves of every cluster: a proxy verifies leaves from other clusters against its own anchors.
 */
export function podsMissingRoutes(facts: { readonly snapshot: ClusterSnapshot; readonly state: RotationState; readonly options: DecideOptions }, routes: readonly ReadonlySet<Fingerprint>[], why: string): Violation[] {
  const { snapshot, state, options } = facts;
  return podsMissing(snapshot, trustContext(snapshot, state, options), { required: routes, invariant: 'I1', why });
}

/** I1: every running proxy trusts an anchor that every leaf it can be shown reaches (through X too). */
export function checkI1(snapshot: ClusterSnapshot, state: RotationState, options: DecideOptions): InvariantReport {
  const leaves = leafRoutesInCirculation(snapshot, state, options);
  return splitUnverified(podsMissing(snapshot, trustContext(snapshot, state, options), { required: leaves, invariant: 'I1', why: 'trust every leaf anchor in use' }));
}

/** I2: the issuer reaches (directly, or through a valid cross-signature) an anchor every running proxy and the identity controller trust. */
export function checkI2(snapshot: ClusterSnapshot, state: RotationState): InvariantReport {
  const issuer = snapshot.issuer;
  if (!issuer) return { violations: [], unverified: [] };
  if (issuer.chainsTo === undefined) {
    return {
      violations: [{ invariant: 'I2', subject: 'identity-issuer', expected: 'an issuer that chains to a known anchor', found: `issuer ${shortFp(issuer.fingerprint)} chains to none` }],
      unverified: [],
    };
  }
  const required = [reachableAnchors(issuer, snapshot.observedAt)];
  return splitUnverified(podsMissing(snapshot, trustContext(snapshot, state), { required, invariant: 'I2', why: 'trust the issuer anchor' }));
}

/**
 * The violations an action would cause: promoting or renewing the issuer under an anchor not all
 * proxies trust (I2, and I1 for the leaves that follow), retiring an anchor leaves still chain to
 * (I1 for pods started afterwards), or restarting pods while the injector serves a bundle that
 * does not cover every leaf in use (I1 for the restarted pods). Unknown trust counts as a violation.
 */
export function checkActionSafety(action: Action, facts: { readonly snapshot: ClusterSnapshot; readonly state: RotationState; readonly options: DecideOptions }): Violation[] {
  const { snapshot, state, options } = facts;
  const context = trustContext(snapshot, state, options);
  if (resumePhase(state) === 'Recover') return recoverySafety(action, snapshot, context, state);
  switch (action.kind) {
    case 'write-active-anchor': {
      if (action.purpose === 'bootstrap') {
        const chainsTo = snapshot.issuer?.chainsTo;
        return chainsTo === undefined || chainsTo === action.fingerprint
          ? []
          : [{ invariant: 'I2', subject: 'identity-issuer', expected: `an issuer chained to the adopted anchor ${shortFp(action.fingerprint)}`, found: `chained to ${shortFp(chainsTo)}` }];
      }
      // cross-signed: the issuer will reach the new anchor and, through X, the one that signs X.
      const signer = new Set([action.fingerprint, ...(action.crossSignedBy !== undefined ? [action.crossSignedBy] : [])]);
      const needed = [...leafRoutesInCirculation(snapshot, state, options), signer];
      return [
        ...podsMissing(snapshot, context, { required: needed, invariant: 'I2', why: 'trust the anchor that will sign the issuer and every leaf anchor in use' }),
        ...injectorCovers(snapshot, context, needed),
      ];
    }
    case 'renew-identity-issuer': {
      const signer = snapshot.active?.fingerprint;
      if (signer === undefined) return [{ invariant: 'I2', subject: 'identity-issuer', expected: 'an active anchor to sign the issuer', found: 'no active-anchor Secret' }];
      // A cross-signed promotion asked for X (signed by the old anchor) beside the new one: the issuer reaches both.
      const rotation = state.rotation;
      const crossSigner = rotation && strategyOf(rotation) === 'cross-signed' && rotation.to?.fingerprint === signer ? [rotation.from.fingerprint] : [];
      return signerTrusted(snapshot, context, new Set([signer, ...crossSigner]));
    }
    case 'write-previous-anchor': {
      const after = new Set<Fingerprint>([action.fingerprint]);
      if (snapshot.prepared.anchor) after.add(snapshot.prepared.anchor.fingerprint);
      if (snapshot.active) after.add(snapshot.active.fingerprint);
      const needed = leafRoutesInCirculation(snapshot, state, options);
      const missing = needed.filter((route) => !coversRoutes(after, [route]));
      return missing.length === 0
        ? []
        : [{ invariant: 'I1', subject: 'trust bundle', expected: `a bundle ${formatAnchors(after)} covering every leaf anchor in use ${formatRoutes(needed)}`, found: `leaves may still chain to ${formatRoutes(missing)}` }];
    }
    case 'roll-workloads': {
      return injectorCovers(snapshot, context, leafRoutesInCirculation(snapshot, state, options));
    }
    case 'renew-prepared-anchor':
    case 'record-transition':
    case 'discard-issuer-request': // a request never stored: nothing a proxy or identity uses changes
      return [];
  }
}

/**
 * Phase Recover: the incident already broke I1 and I2 (no proxy can verify the expired anchor's
 * leaves), so the checks that keep them cannot hold; recovery's gates order the steps instead. One
 * rule still holds: a restarted pod gets a bundle with the anchor the mesh recovers to (for an
 * expired issuer, the active anchor), or the restart gains nothing.
 */
function recoverySafety(action: Action, snapshot: ClusterSnapshot, context: TrustContext, state: RotationState): Violation[] {
  if (action.kind !== 'roll-workloads') return [];
  const target = state.rotation?.to?.fingerprint ?? snapshot.active?.fingerprint;
  return target === undefined ? [] : injectorCovers(snapshot, context, [new Set([target])]);
}

/** A new signing anchor (or one that cross-signs it) must be trusted for sure by every running proxy, identity controller included. */
function signerTrusted(snapshot: ClusterSnapshot, context: TrustContext, signer: ReadonlySet<Fingerprint>): Violation[] {
  return podsMissing(snapshot, context, { required: [signer], invariant: 'I2', why: 'trust the anchor that will sign the issuer' });
}

/** Pods created now get the injector's bundle: it must hold an anchor of every route in `needed`. */
function injectorCovers(snapshot: ClusterSnapshot, context: TrustContext, needed: readonly ReadonlySet<Fingerprint>[]): Violation[] {
  const served = bundleAnchors(context, snapshot.injector?.trustRootSha256);
  const expected = `pods injected now to trust ${formatRoutes(needed)}`;
  if (!served) {
    return [{ invariant: 'I1', subject: 'proxy-injector', expected, found: snapshot.injector ? 'an injected bundle the rotator has not seen in any ConfigMap' : 'no answer from the injector dry-run' }];
  }
  return coversRoutes(served, needed) ? [] : [{ invariant: 'I1', subject: 'proxy-injector', expected, found: `it injects ${formatAnchors(served)}` }];
}

export function describeViolation(v: Violation): string {
  return `${v.invariant} ${v.subject}: expected ${v.expected}, found ${v.found}`;
}
