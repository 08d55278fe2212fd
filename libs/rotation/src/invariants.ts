// Invariants I1 and I2 as pure checks over a snapshot, and the same rules applied to an action's outcome.
// `decide` only emits actions these accept; the runner checks again before acting, and tests check every step.
import type { Action } from './decision.js';
import type { DecideOptions } from './options.js';
import { podKey, shortFp, type ClusterSnapshot, type Fingerprint, type MeshedPod } from './snapshot.js';
import type { RotationState } from './state.js';
import { bundleAnchors, formatAnchors, leafAnchorsInCirculation, podTrust, trustContext, type TrustContext } from './trust.js';

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

/** What every pod must trust for sure, under which invariant, and why (for the message). */
interface TrustRequirement {
  readonly required: ReadonlySet<Fingerprint>;
  readonly invariant: Violation['invariant'];
  readonly why: string;
}

/** Pods that do not trust every anchor in `required` for sure; unknown trust counts against them. */
function podsMissing(snapshot: ClusterSnapshot, context: TrustContext, requirement: TrustRequirement): Violation[] {
  const { required, invariant, why } = requirement;
  const out: Violation[] = [];
  for (const pod of snapshot.pods) {
    const trust = podTrust(pod, context);
    if (!trust.known) {
      out.push({ invariant, subject: subjectOf(pod), expected: `${why} ${formatAnchors(required)}`, found: `unknown trust (${trust.why})` });
      continue;
    }
    const missing = [...required].filter((fp) => !trust.certain.has(fp));
    if (missing.length > 0) {
      out.push({ invariant, subject: subjectOf(pod), expected: `${why} ${formatAnchors(required)}`, found: `trusts ${formatAnchors(trust.certain)}` });
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

/** I1: every running proxy trusts the anchor of every leaf it can be shown. */
export function checkI1(snapshot: ClusterSnapshot, state: RotationState, options: DecideOptions): InvariantReport {
  const leaves = leafAnchorsInCirculation(snapshot, state, options);
  return splitUnverified(podsMissing(snapshot, trustContext(snapshot, state), { required: leaves, invariant: 'I1', why: 'trust every leaf anchor in use' }));
}

/** I2: the issuer is signed by an anchor every running proxy and the identity controller trust. */
export function checkI2(snapshot: ClusterSnapshot, state: RotationState): InvariantReport {
  const issuer = snapshot.issuer;
  if (!issuer) return { violations: [], unverified: [] };
  if (issuer.chainsTo === undefined) {
    return {
      violations: [{ invariant: 'I2', subject: 'identity-issuer', expected: 'an issuer that chains to a known anchor', found: `issuer ${shortFp(issuer.fingerprint)} chains to none` }],
      unverified: [],
    };
  }
  return splitUnverified(podsMissing(snapshot, trustContext(snapshot, state), { required: new Set([issuer.chainsTo]), invariant: 'I2', why: 'trust the issuer anchor' }));
}

/**
 * The violations an action would cause: promoting or renewing the issuer under an anchor not all
 * proxies trust (I2, and I1 for the leaves that follow), retiring an anchor leaves still chain to
 * (I1 for pods started afterwards), or restarting pods while the injector serves a bundle that
 * does not cover every leaf in use (I1 for the restarted pods). Unknown trust counts as a violation.
 */
export function checkActionSafety(action: Action, facts: { readonly snapshot: ClusterSnapshot; readonly state: RotationState; readonly options: DecideOptions }): Violation[] {
  const { snapshot, state, options } = facts;
  const context = trustContext(snapshot, state);
  switch (action.kind) {
    case 'write-active-anchor': {
      if (action.purpose === 'bootstrap') {
        const chainsTo = snapshot.issuer?.chainsTo;
        return chainsTo === undefined || chainsTo === action.fingerprint
          ? []
          : [{ invariant: 'I2', subject: 'identity-issuer', expected: `an issuer chained to the adopted anchor ${shortFp(action.fingerprint)}`, found: `chained to ${shortFp(chainsTo)}` }];
      }
      const needed = new Set([...leafAnchorsInCirculation(snapshot, state, options), action.fingerprint]);
      return [
        ...podsMissing(snapshot, context, { required: needed, invariant: 'I2', why: 'trust the anchor that will sign the issuer and every leaf anchor in use' }),
        ...injectorCovers(snapshot, context, needed),
      ];
    }
    case 'renew-identity-issuer': {
      const signer = snapshot.active?.fingerprint;
      if (signer === undefined) return [{ invariant: 'I2', subject: 'identity-issuer', expected: 'an active anchor to sign the issuer', found: 'no active-anchor Secret' }];
      return signerTrusted(snapshot, context, signer);
    }
    case 'write-previous-anchor': {
      const after = new Set<Fingerprint>([action.fingerprint]);
      if (snapshot.prepared.anchor) after.add(snapshot.prepared.anchor.fingerprint);
      if (snapshot.active) after.add(snapshot.active.fingerprint);
      const needed = new Set(leafAnchorsInCirculation(snapshot, state, options));
      const missing = [...needed].filter((fp) => !after.has(fp));
      return missing.length === 0
        ? []
        : [{ invariant: 'I1', subject: 'trust bundle', expected: `a bundle ${formatAnchors(after)} covering every leaf anchor in use ${formatAnchors(needed)}`, found: `leaves may still chain to ${formatAnchors(missing)}` }];
    }
    case 'roll-workloads': {
      const needed = new Set(leafAnchorsInCirculation(snapshot, state, options));
      return injectorCovers(snapshot, context, needed);
    }
    case 'renew-prepared-anchor':
    case 'record-transition':
      return [];
  }
}

/** A new signing anchor must be trusted for sure by every running proxy, identity controller included. */
function signerTrusted(snapshot: ClusterSnapshot, context: TrustContext, signer: Fingerprint): Violation[] {
  return podsMissing(snapshot, context, { required: new Set([signer]), invariant: 'I2', why: 'trust the anchor that will sign the issuer' });
}

/** Pods created now get the injector's bundle: it must contain `needed`. */
function injectorCovers(snapshot: ClusterSnapshot, context: TrustContext, needed: ReadonlySet<Fingerprint>): Violation[] {
  const served = bundleAnchors(context, snapshot.injector?.trustRootSha256);
  const expected = `pods injected now to trust ${formatAnchors(needed)}`;
  if (!served) {
    return [{ invariant: 'I1', subject: 'proxy-injector', expected, found: snapshot.injector ? 'an injected bundle the rotator has not seen in any ConfigMap' : 'no answer from the injector dry-run' }];
  }
  const missing = [...needed].filter((fp) => !served.has(fp));
  return missing.length === 0 ? [] : [{ invariant: 'I1', subject: 'proxy-injector', expected, found: `it injects ${formatAnchors(served)}` }];
}

export function describeViolation(v: Violation): string {
  return `${v.invariant} ${v.subject}: expected ${v.expected}, found ${v.found}`;
}
