// The rotation state machine: from a fresh snapshot and the persisted state, the one next step.
// Pure and idempotent: "already done?" is read from the cluster, so a killed run resumes exactly.
import type { Action, Blocker, Decision, Gate, GateName, RotationEvent } from './decision.js';
import { checkActionSafety, describeViolation, type Violation } from './invariants.js';
import type { DecideOptions } from './options.js';
import { podKey, shortFp, workloadKey, type AnchorFacts, type ClusterSnapshot, type Fingerprint, type MeshedPod } from './snapshot.js';
import { iso, ms, type Phase, type RollPhase, type RotationRecord, type RotationState, type StopReason } from './state.js';
import {
  formatAnchors,
  leafLifetimeElapsedAt,
  leavesRenewed,
  learnBundles,
  nextWholeSecond,
  podTrust,
  pruneBundles,
  sourceAnchors,
  syncedBundle,
  trustContext,
  type TrustContext,
} from './trust.js';
import { identitySubset, rollStatus, type Freshness, type RollStatus } from './workloads.js';

/** How many missing items a gate lists; the summary always carries the full count. */
const MAX_LISTED = 20;

interface Ctx {
  readonly s: ClusterSnapshot;
  /** The persisted state with this snapshot's bundles learned. */
  readonly state: RotationState;
  readonly o: DecideOptions;
  readonly now: number;
}

/**
 * The next step of the rotation. `options` should come from `resolveOptions`. Deadlines are the
 * caller's: a Gate names what is awaited so the caller can stop safely when its deadline passes.
 */
export function decide(snapshot: ClusterSnapshot, state: RotationState, options: DecideOptions): Decision {
  const leaseStop = checkLease(snapshot, options);
  if (leaseStop) return leaseStop;
  const ctx: Ctx = {
    s: snapshot,
    state: { ...state, knownBundles: learnBundles(state.knownBundles, snapshot) },
    o: options,
    now: snapshot.observedAt,
  };
  switch (state.phase) {
    case 'Idle':
    case 'Done':
      return decideIdle(ctx);
    case 'Stopped':
      return resumeStopped(ctx);
    case 'Prepare':
    case 'TrustBoth':
    case 'Promote':
    case 'Retire': {
      const rotation = state.rotation;
      if (!rotation) {
        return stop(ctx, 'state-invalid', `expected rotation details in phase ${state.phase}, found none; repair the state ConfigMap or reset it to Idle only if the bundle still holds the active anchor`);
      }
      if (!snapshot.active) {
        return stop(ctx, 'anchor-secret-missing', `expected Secret linkerd-active-anchor (anchor ${shortFp(rotation.from.fingerprint)} or ${shortFp(rotation.to?.fingerprint)}), found none; restore it from a backup before rerunning`);
      }
      return decidePhase(ctx, state.phase, rotation, snapshot.active);
    }
  }
}

function decidePhase(ctx: Ctx, phase: 'Prepare' | 'TrustBoth' | 'Promote' | 'Retire', r: RotationRecord, active: AnchorFacts): Decision {
  if (phase === 'Prepare') return decidePrepare(ctx, r, active);
  const to = r.to;
  if (!to) return stop(ctx, 'state-invalid', `expected a target anchor in phase ${phase}, found none; repair the state ConfigMap`);
  if (phase === 'TrustBoth') return decideTrustBoth(ctx, r, to.fingerprint, active);
  if (phase === 'Promote') return decidePromote(ctx, r, to.fingerprint, active);
  return decideRetire(ctx, r, to.fingerprint, active);
}

// ---- lease, idle, resume ---------------------------------------------------------------------

function checkLease(s: ClusterSnapshot, o: DecideOptions): Decision | undefined {
  const lease = s.lease;
  const live = lease?.expiresAt === undefined || lease.expiresAt > s.observedAt;
  if (lease?.holder && lease.holder !== o.holder && live) {
    const until = lease.expiresAt === undefined ? '' : ` until ${iso(lease.expiresAt)}`;
    return {
      kind: 'stop',
      reason: 'lease-held',
      message: `expected the rotation Lease to be free, found it held by ${lease.holder}${until}; let that run finish (or its Lease expire) and run again`,
    };
  }
  if (lease?.holder !== o.holder || !live) {
    return {
      kind: 'stop',
      reason: 'lease-lost',
      message: `expected this run (${o.holder}) to hold the rotation Lease, found ${lease?.holder ? `${lease.holder}, expired` : 'no holder'}; acquire the Lease before deciding`,
    };
  }
  return undefined;
}

function decideIdle(ctx: Ctx): Decision {
  const { s } = ctx;
  const prepared = s.prepared.anchor;
  if (!s.active) {
    if (!prepared) {
      return stop(ctx, 'anchor-secret-missing', 'expected Secret linkerd-trust-anchor issued by cert-manager to bootstrap from, found none; check Certificate linkerd-trust-anchor and its Issuer');
    }
    const chainsTo = s.issuer?.chainsTo;
    if (s.issuer && chainsTo !== prepared.fingerprint) {
      return stop(ctx, 'cannot-adopt', `expected the identity issuer to chain to the prepared anchor ${shortFp(prepared.fingerprint)} to adopt it as active, found it chained to ${shortFp(chainsTo)}; restore the anchor the issuer was signed with into linkerd-trust-anchor, or reissue the issuer from it`);
    }
    return act(ctx, { kind: 'write-active-anchor', fingerprint: prepared.fingerprint, purpose: 'bootstrap' }, ctx.state, `bootstrap: active anchor := prepared ${shortFp(prepared.fingerprint)}`, {
      type: 'Normal',
      reason: 'AnchorBootstrapped',
      message: `active anchor set from prepared anchor ${shortFp(prepared.fingerprint)}`,
    });
  }
  if (!s.previous) {
    return act(ctx, { kind: 'write-previous-anchor', fingerprint: s.active.fingerprint, source: 'active', purpose: 'bootstrap' }, ctx.state, `bootstrap: previous anchor := active ${shortFp(s.active.fingerprint)}`);
  }
  const due = startDue(ctx, s.active);
  if (!due.start) return { kind: 'done', state: ctx.state, summary: due.why };
  const rotation: RotationRecord = {
    id: `rotation-${iso(ctx.now)}`,
    from: anchorRef(s.active),
    startedAt: iso(ctx.now),
    phaseStartedAt: iso(ctx.now),
    preparedRevisionAtStart: s.prepared.revision,
    prepareRequests: 0,
    retargets: [],
    rolls: {},
    issuerRenewals: 0,
  };
  return transition(ctx, 'Prepare', rotation, `rotation of anchor ${shortFp(s.active.fingerprint)} started: ${due.why}`);
}

function startDue(ctx: Ctx, active: AnchorFacts): { start: boolean; why: string } {
  const { s, o } = ctx;
  const prepared = s.prepared.anchor;
  const waiting = prepared !== undefined && usableNewAnchor(prepared, active.publicKeyFingerprint, ctx.now);
  if (o.start === 'always') return { start: true, why: 'forced' };
  if (o.start === 'if-due' && waiting) return { start: true, why: `prepared anchor ${shortFp(prepared?.fingerprint)} with a new key is waiting` };
  const age = ctx.now - active.notBefore;
  if (o.start === 'if-due' && o.maxActiveAgeMs !== undefined && age >= o.maxActiveAgeMs) {
    return { start: true, why: `active anchor ${shortFp(active.fingerprint)} is ${Math.floor(age / 3_600_000)}h old` };
  }
  const last = ctx.state.last ? `; last rotation ${shortFp(ctx.state.last.from)} -> ${shortFp(ctx.state.last.to)} finished ${ctx.state.last.finishedAt}` : '';
  return { start: false, why: `no rotation due (start policy ${o.start}, active anchor ${shortFp(active.fingerprint)}${waiting ? ', prepared anchor waiting' : ''})${last}` };
}

function usableNewAnchor(anchor: AnchorFacts, oldKey: string, now: number): boolean {
  return anchor.publicKeyFingerprint !== oldKey && anchor.notAfter > now;
}

function resumeStopped(ctx: Ctx): Decision {
  const stopped = ctx.state.stopped;
  const to: Phase = stopped?.phase ?? (ctx.state.rotation ? 'Prepare' : 'Idle');
  const why = stopped ? `resuming after stop (${stopped.reason}: ${stopped.message})` : 'resuming after stop';
  const { stopped: _dropped, ...rest } = ctx.state;
  return act(ctx, { kind: 'record-transition', from: 'Stopped', to, why }, { ...rest, phase: to }, why, {
    type: 'Normal',
    reason: 'RotationResumed',
    message: `resuming in phase ${to}`,
  });
}

// ---- Prepare ---------------------------------------------------------------------------------

function decidePrepare(ctx: Ctx, r: RotationRecord, active: AnchorFacts): Decision {
  const { s, o } = ctx;
  if (active.fingerprint !== r.from.fingerprint) return activeChanged(ctx, r.from.fingerprint, active);
  const prepared = s.prepared.anchor;
  if (prepared && usableNewAnchor(prepared, r.from.publicKeyFingerprint, ctx.now)) {
    return transition(ctx, 'TrustBoth', { ...r, to: anchorRef(prepared) }, `prepared anchor ${shortFp(prepared.fingerprint)} has a new key; trusting both ${formatAnchors([r.from.fingerprint, prepared.fingerprint])}`);
  }
  const renewedSinceStart = s.prepared.revision > r.preparedRevisionAtStart;
  if (renewedSinceStart && s.prepared.issuing !== 'true' && prepared && prepared.publicKeyFingerprint === r.from.publicKeyFingerprint) {
    return stop(ctx, 'prepared-key-unchanged', `expected cert-manager to renew linkerd-trust-anchor with a new private key, found revision ${s.prepared.revision} with the old key ${shortFp(prepared.publicKeyFingerprint)}; set spec.privateKey.rotationPolicy: Always on the Certificate and run again`);
  }
  if (s.prepared.issuing === 'true') {
    return gate(ctx, {
      name: 'prepared-anchor-renewed',
      summary: `waiting for cert-manager to issue a new prepared anchor (revision now ${s.prepared.revision}, Issuing=True)`,
      missing: ['Certificate linkerd-trust-anchor: Issuing=True'],
      watch: ['prepared-anchor'],
    });
  }
  const requestedAt = r.prepareRequestedAt === undefined ? undefined : ms(r.prepareRequestedAt);
  if (requestedAt !== undefined && s.prepared.lastFailureAt !== undefined && s.prepared.lastFailureAt >= Math.floor(requestedAt / 1000) * 1000) {
    return stop(ctx, 'prepared-renewal-failed', `expected cert-manager to issue linkerd-trust-anchor, found a failed issuance (${s.prepared.lastFailureMessage ?? 'no message'}); fix the Issuer linkerd-trust-root-issuer and run again`);
  }
  if (r.prepareRequests >= o.maxPrepareRequests) {
    return stop(ctx, 'prepared-renewal-failed', `expected a new prepared anchor after ${r.prepareRequests} renewal requests, found revision ${s.prepared.revision} still holding ${shortFp(prepared?.fingerprint)}; check the cert-manager controller logs and run again`);
  }
  const next: RotationRecord = { ...r, prepareRequests: r.prepareRequests + 1, prepareRequestedAt: iso(ctx.now) };
  return act(ctx, { kind: 'renew-prepared-anchor', revision: s.prepared.revision }, withRotation(ctx.state, next), `renew prepared anchor (revision ${s.prepared.revision})`, {
    type: 'Normal',
    reason: 'PreparedAnchorRenewalRequested',
    message: `requested renewal of linkerd-trust-anchor at revision ${s.prepared.revision}`,
  });
}

// ---- TrustBoth -------------------------------------------------------------------------------

function decideTrustBoth(ctx: Ctx, r: RotationRecord, to: Fingerprint, active: AnchorFacts): Decision {
  const from = r.from.fingerprint;
  if (active.fingerprint !== from) return activeChanged(ctx, from, active);
  const retarget = checkRetarget(ctx, r, 'TrustBoth');
  if (retarget) return retarget;
  const ready = bundleAndInjector(ctx, new Set([from, to]), undefined);
  if (ready) return ready;
  const context = trustContext(ctx.s, ctx.state);
  const fresh: Freshness = (pod) => trustsAll(pod, context, [from, to]);
  return rollPhase(ctx, r, 'TrustBoth', fresh, undefined, true, 'pods-trust-both', `trust ${formatAnchors([from, to])}`, () =>
    transition(ctx, 'Promote', r, `every meshed pod trusts ${formatAnchors([from, to])}; promoting ${shortFp(to)}`),
  );
}

/**
 * cert-manager renewed the prepared anchor again before promotion: the target's key exists only
 * in the prepared Secret, so it is gone and can never be promoted. Retarget to the newer anchor and
 * trust both again; pods that trust {from, old target} still trust `from`, which still signs.
 */
function checkRetarget(ctx: Ctx, r: RotationRecord, phase: 'TrustBoth' | 'Promote'): Decision | undefined {
  const to = r.to;
  const prepared = ctx.s.prepared.anchor;
  if (!to || prepared?.fingerprint === to.fingerprint) return undefined;
  if (!prepared) {
    return gate(ctx, {
      name: 'prepared-anchor-present',
      summary: `waiting for Secret linkerd-trust-anchor to hold the target anchor ${shortFp(to.fingerprint)} again (it is missing)`,
      missing: ['Secret linkerd-trust-anchor'],
      watch: ['prepared-anchor'],
    });
  }
  if (!usableNewAnchor(prepared, r.from.publicKeyFingerprint, ctx.now)) {
    return stop(ctx, 'prepared-anchor-changed', `expected Secret linkerd-trust-anchor to hold the target anchor ${shortFp(to.fingerprint)}, found ${shortFp(prepared.fingerprint)} with the old key or expired; restore the prepared anchor or renew it, then run again`);
  }
  if (r.retargets.length >= ctx.o.maxRetargets) {
    return stop(ctx, 'prepared-anchor-unstable', `expected the prepared anchor to stay put during a rotation, found it replaced ${r.retargets.length + 1} times (now ${shortFp(prepared.fingerprint)}); check renewBefore and rotationPolicy on Certificate linkerd-trust-anchor, then run again`);
  }
  const next: RotationRecord = {
    ...r,
    to: anchorRef(prepared),
    retargets: [...r.retargets, { fingerprint: to.fingerprint, at: iso(ctx.now) }],
    rolls: {},
  };
  return transition(
    ctx,
    'TrustBoth',
    next,
    `cert-manager replaced target anchor ${shortFp(to.fingerprint)} with ${shortFp(prepared.fingerprint)} in phase ${phase}, before promotion; the old target's key is gone, so the rotation now targets ${shortFp(prepared.fingerprint)} and trusts both again`,
  );
}

// ---- Promote ---------------------------------------------------------------------------------

function decidePromote(ctx: Ctx, r: RotationRecord, to: Fingerprint, active: AnchorFacts): Decision {
  const { s, o } = ctx;
  const from = r.from.fingerprint;
  if (active.fingerprint === from) {
    if (r.promotedAt !== undefined) return activeChanged(ctx, to, active);
    const retarget = checkRetarget(ctx, r, 'Promote');
    if (retarget) return retarget;
    const ready = bundleAndInjector(ctx, new Set([from, to]), undefined);
    if (ready) return ready;
    const action: Action = { kind: 'write-active-anchor', fingerprint: to, purpose: 'promote' };
    const unsafe = safetyGate(ctx, action, 'promotion-safe');
    if (unsafe) return unsafe;
    return act(ctx, action, withRotation(ctx.state, { ...r, promotedAt: iso(ctx.now) }), `promote ${shortFp(to)} to active anchor`, {
      type: 'Normal',
      reason: 'AnchorPromoted',
      message: `anchor ${shortFp(to)} is now the active (signing) anchor; ${shortFp(from)} still trusted`,
    });
  }
  if (active.fingerprint !== to) return activeChanged(ctx, to, active);
  let next: RotationRecord = r.promotedAt === undefined ? { ...r, promotedAt: iso(ctx.now) } : r;
  const issuer = s.issuer;
  if (!issuer || issuer.chainsTo !== to) {
    if (!issuer || issuer.issuing === 'true') {
      return gate({ ...ctx, state: withRotation(ctx.state, next) }, {
        name: 'identity-issuer-chained',
        summary: `waiting for cert-manager to issue linkerd-identity-issuer signed by ${shortFp(to)}${issuer ? ' (Issuing=True)' : ' (Secret missing)'}`,
        missing: [`identity issuer chained to ${shortFp(to)}`],
        watch: ['issuer'],
      });
    }
    if (next.issuerRenewals >= o.maxIssuerRenewals) {
      return stop(ctx, 'issuer-not-chained', `expected linkerd-identity-issuer to chain to ${shortFp(to)} after ${next.issuerRenewals} renewals, found it chained to ${shortFp(issuer.chainsTo)}; check ClusterIssuer linkerd-identity-issuer points at linkerd-active-anchor, then run again`);
    }
    const action: Action = { kind: 'renew-identity-issuer' };
    const unsafe = safetyGate({ ...ctx, state: withRotation(ctx.state, next) }, action, 'promotion-safe');
    if (unsafe) return unsafe;
    next = { ...next, issuerRenewals: next.issuerRenewals + 1 };
    return act(ctx, action, withRotation(ctx.state, next), `renew identity issuer under ${shortFp(to)}`, {
      type: 'Normal',
      reason: 'IssuerRenewalRequested',
      message: `requested renewal of linkerd-identity-issuer under anchor ${shortFp(to)}`,
    });
  }
  if (next.issuerUpdatedAt === undefined) {
    const since = issuer.notBefore;
    const updated = s.identityEvents.filter((e) => e.reason === 'IssuerUpdated' && e.at >= since).map((e) => e.at);
    if (updated.length === 0) {
      const skipped = s.identityEvents.find((e) => (e.reason === 'IssuerUpdateSkipped' || e.reason === 'IssuerValidationFailed') && e.at >= since);
      if (skipped) {
        return stop(ctx, 'identity-rejected-issuer', `expected the identity controller to load the issuer chained to ${shortFp(to)}, found ${skipped.reason} at ${iso(skipped.at)} (${skipped.message ?? 'no message'}); the identity controller does not trust ${shortFp(to)}: restart it once its trust-roots ConfigMap holds ${shortFp(to)}, then run again`);
      }
      return gate({ ...ctx, state: withRotation(ctx.state, next) }, {
        name: 'identity-loaded-issuer',
        summary: `waiting for the identity controller to report IssuerUpdated for issuer ${shortFp(issuer.fingerprint)} (chained to ${shortFp(to)})`,
        missing: [`IssuerUpdated at or after ${iso(since)}`],
        watch: ['identity-events'],
      });
    }
    next = { ...next, issuerUpdatedAt: iso(Math.min(...updated)) };
  }
  const loadedAt = ms(next.issuerUpdatedAt as string);
  if (next.identityFreshAt === undefined) {
    // One IssuerUpdated proves one replica reloaded; restarting every identity pod proves them all
    // (and covers a replica that missed the Secret update, linkerd2#15109).
    // The baseline is taken after this snapshot showed the issuer Secret chained to B, so an
    // identity pod started at or after it loaded the new issuer from its files at start.
    const baseline = next.rollBaseline !== undefined ? ms(next.rollBaseline) : Math.max(nextWholeSecond(ctx.now), loadedAt + 1000);
    next = { ...next, rollBaseline: iso(baseline) };
    const fresh: Freshness = (pod) =>
      pod.startedAt >= baseline ? { fresh: true } : { fresh: false, why: `started ${iso(pod.startedAt)}, before the identity controller was restarted on the new issuer (${iso(baseline)})` };
    const identityOnly = identitySubset(s);
    const identityCtx = { ...ctx, s: identityOnly, state: withRotation(ctx.state, next) };
    const restarted = rollPhase(identityCtx, next, 'Promote', fresh, loadedAt + 1000, false, 'identity-restarted', 'run the new issuer (identity controller restarted after IssuerUpdated)', () => undefined);
    if (restarted) return restarted;
    const { rollBaseline: _identityBaseline, rollBundle: _identityBundle, ...rest } = next;
    next = { ...rest, identityFreshAt: iso(ctx.now) };
  }
  const since = nextWholeSecond(ms(next.identityFreshAt as string));
  const withNext = { ...ctx, state: withRotation(ctx.state, next) };
  const toRetire = () => transition(withNext, 'Retire', next, `every leaf in use chains to ${shortFp(to)}; retiring ${shortFp(from)}`);
  if (o.gentle) {
    if (leavesRenewed(s, next, o)) return toRetire();
    const until = leafLifetimeElapsedAt(since, o);
    return gate(withNext, {
      name: 'leaf-lifetime-elapsed',
      summary: `gentle mode: waiting one leaf lifetime, until ${iso(until)}, for every proxy to renew its leaf under ${shortFp(to)}`,
      missing: [`${Math.ceil((until - ctx.now) / 60_000)} minutes`],
      watch: ['clock', 'pods'],
      notBefore: until,
    });
  }
  const fresh: Freshness = (pod) =>
    pod.startedAt >= since ? { fresh: true } : { fresh: false, why: `started ${iso(pod.startedAt)}, before every identity controller ran the new issuer (${iso(since)})` };
  return rollPhase(withNext, next, 'Promote', fresh, since, false, 'leaves-renewed', 'hold a leaf chained to the new anchor', toRetire);
}

// ---- Retire ----------------------------------------------------------------------------------

function decideRetire(ctx: Ctx, r: RotationRecord, to: Fingerprint, active: AnchorFacts): Decision {
  const { s } = ctx;
  const from = r.from.fingerprint;
  if (active.fingerprint !== to) return activeChanged(ctx, to, active);
  if (s.previous?.fingerprint !== to) {
    const action: Action = { kind: 'write-previous-anchor', fingerprint: to, source: 'active', purpose: 'retire' };
    const unsafe = safetyGate(ctx, action, 'retirement-safe');
    if (unsafe) return unsafe;
    return act(ctx, action, ctx.state, `retire ${shortFp(from)}: previous anchor := ${shortFp(to)}`, {
      type: 'Normal',
      reason: 'AnchorRetired',
      message: `anchor ${shortFp(from)} removed from the trust bundle sources; bundle becomes ${formatAnchors(sourcesAfterRetire(s, to))}`,
    });
  }
  const ready = bundleAndInjector(ctx, new Set([to]), from);
  if (ready) return ready;
  const context = trustContext(s, ctx.state);
  const current = syncedBundle(s)?.anchors ?? new Set<Fingerprint>();
  const fresh: Freshness = (pod) => {
    const trust = podTrust(pod, context);
    if (!trust.known) return { fresh: false, why: `has unknown trust (${trust.why})` };
    if (trust.possible.has(from)) return { fresh: false, why: `still trusts the retired anchor ${shortFp(from)}` };
    if (!trust.certain.has(to)) return { fresh: false, why: `does not trust ${shortFp(to)} for sure (trusts ${formatAnchors(trust.certain)})` };
    const dropped = [...trust.possible].filter((fp) => !current.has(fp));
    if (dropped.length > 0) return { fresh: false, why: `still trusts ${formatAnchors(dropped)}, no longer in the bundle` };
    return { fresh: true };
  };
  return rollPhase(ctx, r, 'Retire', fresh, undefined, true, 'pods-trust-only-new', `trust ${shortFp(to)} and no longer ${shortFp(from)}`, () => finish(ctx, r, to));
}

function sourcesAfterRetire(s: ClusterSnapshot, to: Fingerprint): Fingerprint[] {
  return [...new Set([to, ...(s.prepared.anchor ? [s.prepared.anchor.fingerprint] : [])])];
}

function finish(ctx: Ctx, r: RotationRecord, to: Fingerprint): Decision {
  const { rotation: _done, stopped: _stopped, ...rest } = ctx.state;
  const state: RotationState = {
    ...rest,
    phase: 'Done',
    knownBundles: pruneBundles(ctx.state.knownBundles, ctx.s),
    last: { id: r.id, from: r.from.fingerprint, to, startedAt: r.startedAt, finishedAt: iso(ctx.now) },
  };
  const why = `rotation ${shortFp(r.from.fingerprint)} -> ${shortFp(to)} done: every meshed pod trusts only the new anchors`;
  return act(ctx, { kind: 'record-transition', from: 'Retire', to: 'Done', why }, state, why, { type: 'Normal', reason: 'RotationDone', message: why });
}

// ---- shared gates ----------------------------------------------------------------------------

/**
 * Every target ConfigMap holds exactly what the sources say, the sources contain `required` and
 * not `forbidden`, and the injector stamps that bundle: only then may pods be restarted.
 */
function bundleAndInjector(ctx: Ctx, required: ReadonlySet<Fingerprint>, forbidden: Fingerprint | undefined): Decision | undefined {
  const { s } = ctx;
  const sources = sourceAnchors(s);
  const expected = formatAnchors(sources);
  const missingSource = [...required].filter((fp) => !sources.has(fp));
  if (missingSource.length > 0 || (forbidden !== undefined && sources.has(forbidden))) {
    return gate(ctx, {
      name: 'bundles-synced',
      summary: `waiting for the anchor Secrets to hold ${formatAnchors(required)}${forbidden ? ` and not ${shortFp(forbidden)}` : ''}; they hold ${expected}`,
      missing: [...missingSource.map((fp) => `anchor ${shortFp(fp)} in the bundle sources`), ...(forbidden !== undefined && sources.has(forbidden) ? [`anchor ${shortFp(forbidden)} removed from the sources`] : [])],
      watch: ['anchor-secrets', 'prepared-anchor'],
    });
  }
  const behind = s.bundles.filter((b) => !sameSet(new Set(b.anchors), sources));
  if (s.bundles.length === 0 || behind.length > 0) {
    return gate(ctx, {
      name: 'bundles-synced',
      summary:
        s.bundles.length === 0
          ? `waiting for trust-manager to write ConfigMap linkerd-identity-trust-roots (${expected}); none found in any target namespace`
          : `waiting for trust-manager: ${behind.length} of ${s.bundles.length} trust-roots ConfigMaps do not hold ${expected} yet`,
      missing: behind.slice(0, MAX_LISTED).map((b) => `${b.namespace}: holds ${formatAnchors(b.anchors)}`),
      watch: ['bundles'],
    });
  }
  const synced = syncedBundle(s);
  if (!synced) {
    return gate(ctx, {
      name: 'bundles-synced',
      summary: 'waiting for every trust-roots ConfigMap to hold the same bundle text',
      missing: s.bundles.map((b) => `${b.namespace}: sha256 ${b.sha256.slice(0, 16)}`).slice(0, MAX_LISTED),
      watch: ['bundles'],
    });
  }
  if (s.injector?.trustRootSha256 !== synced.sha256) {
    return gate(ctx, {
      name: 'injector-serves-bundle',
      summary: `waiting for the proxy-injector to inject bundle ${synced.sha256.slice(0, 16)} (${expected}); it injects ${s.injector ? s.injector.trustRootSha256.slice(0, 16) : 'nothing (dry-run failed)'}`,
      missing: [`trust-root-sha256 ${synced.sha256.slice(0, 16)} from a dry-run pod create`],
      watch: ['injector'],
    });
  }
  return undefined;
}

/**
 * Restarts stale workloads tier by tier and waits for every pod to be fresh and Ready; then `next`.
 * `minBaseline` keeps restarts made before a required moment (the issuer load) from counting.
 */
function rollPhase<T extends Decision | undefined>(
  ctx: Ctx,
  r: RotationRecord,
  phase: RollPhase,
  fresh: Freshness,
  minBaseline: number | undefined,
  bundleFresh: boolean,
  gateName: GateName,
  goal: string,
  next: () => T,
): Decision | T {
  let rotation = r;
  const bundle = bundleFresh ? syncedBundle(ctx.s)?.sha256 : undefined;
  if (rotation.rollBaseline === undefined || (bundle !== undefined && rotation.rollBundle !== bundle)) {
    // Restarts made before the bundle changed (cert-manager renewed the prepared anchor) picked up
    // the old bundle: they do not count, so stale workloads are restarted again.
    const { rollBundle: _old, ...rest } = rotation;
    rotation = { ...rest, rollBaseline: iso(Math.max(nextWholeSecond(ctx.now), minBaseline ?? 0)), ...(bundle !== undefined ? { rollBundle: bundle } : {}) };
  }
  const baseline = ms(rotation.rollBaseline as string);
  const withBaseline = { ...ctx, state: withRotation(ctx.state, rotation) };
  const status = rollStatus(ctx.s, fresh, baseline, ctx.o.maxConcurrentRollouts);
  if (status.complete) return next();
  if (status.toRoll.length > 0) {
    if (ctx.now < baseline) {
      return gate(withBaseline, {
        name: 'roll-baseline-reached',
        summary: `waiting until ${iso(baseline)} so that restarts are provably later than the bundle or issuer they must pick up`,
        missing: [`${baseline - ctx.now} ms`],
        watch: ['clock'],
        notBefore: baseline,
      });
    }
    const rolledBefore = status.rolled.length;
    const total = rolledBefore + status.needsRoll.length;
    const restartedAt = iso(ctx.now);
    const action: Action = {
      kind: 'roll-workloads',
      phase,
      tier: status.tier ?? 'data-plane',
      workloads: status.toRoll,
      restartedAt,
      rolled: rolledBefore + status.toRoll.length,
      total,
    };
    const unsafe = safetyGate(withBaseline, action, gateName);
    if (unsafe) return unsafe;
    const markers = { ...(rotation.rolls[phase] ?? {}) };
    for (const ref of status.toRoll) markers[workloadKey(ref)] = restartedAt;
    const after = withRotation(ctx.state, { ...rotation, rolls: { ...rotation.rolls, [phase]: markers } });
    return act(withBaseline, action, after, `${phase}: restart ${status.toRoll.length} ${action.tier} workload(s) (rolled ${action.rolled}/${total})`);
  }
  return gate(withBaseline, rollGate(phase, gateName, goal, status));
}

function rollGate(phase: Phase, name: GateName, goal: string, status: RollStatus): Omit<Gate, 'phase' | 'blockers'> & { blockers: Gate['blockers'] } {
  const stalePods = status.pending.length;
  const total = status.totalPods;
  const rolling = status.inProgress.length > 0 ? `; ${status.inProgress.length} rollout(s) in progress: ${status.inProgress.slice(0, 5).map(workloadKey).join(', ')}` : '';
  const blocked = status.blockers.length > 0 ? `; ${status.blockers.length} pod(s) the rotator cannot restart` : '';
  return {
    name,
    summary: `${phase}: ${stalePods} of ${total} meshed pods do not yet ${goal} or are not Ready${rolling}${blocked}`,
    missing: status.pending.slice(0, MAX_LISTED).map((p) => `${podKey(p.pod)} ${p.why}`),
    progress: { done: total - stalePods, total },
    blockers: status.blockers,
    watch: ['pods', 'workloads'],
  };
}

function safetyGate(ctx: Ctx, action: Action, name: GateName): Decision | undefined {
  const violations: Violation[] = checkActionSafety(action, ctx.s, ctx.state, ctx.o);
  if (violations.length === 0) return undefined;
  return gate(ctx, {
    name,
    summary: `holding ${action.kind}: ${violations.length} invariant check(s) fail; it would break trust between proxies`,
    missing: violations.slice(0, MAX_LISTED).map(describeViolation),
    watch: ['pods', 'bundles', 'injector', 'issuer'],
  });
}

// ---- helpers ---------------------------------------------------------------------------------

function trustsAll(pod: MeshedPod, context: TrustContext, required: readonly Fingerprint[]): ReturnType<Freshness> {
  const trust = podTrust(pod, context);
  if (!trust.known) return { fresh: false, why: `has unknown trust (${trust.why})` };
  const missing = required.filter((fp) => !trust.certain.has(fp));
  if (missing.length === 0) return { fresh: true };
  const hash = pod.trustRootSha256 && !pod.trustFromConfigMap ? ` (trust-root-sha256 ${pod.trustRootSha256.slice(0, 16)})` : '';
  return { fresh: false, why: `trusts ${formatAnchors(trust.certain)}${hash}, missing ${formatAnchors(missing)}` };
}

function sameSet<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

function anchorRef(anchor: AnchorFacts): RotationRecord['from'] {
  return { fingerprint: anchor.fingerprint, publicKeyFingerprint: anchor.publicKeyFingerprint };
}

function withRotation(state: RotationState, rotation: RotationRecord): RotationState {
  return { ...state, rotation };
}

function activeChanged(ctx: Ctx, expected: Fingerprint, active: AnchorFacts): Decision {
  return stop(ctx, 'active-anchor-changed', `expected Secret linkerd-active-anchor to hold ${shortFp(expected)}, found ${shortFp(active.fingerprint)}; something else wrote it: restore ${shortFp(expected)} (the state ConfigMap names it) and run again`);
}

function act(ctx: Ctx, action: Action, state: RotationState, summary: string, event?: RotationEvent): Decision {
  return { kind: 'action', action, state, summary, ...(event ? { event } : {}) };
}

function gate(ctx: Ctx, g: Omit<Gate, 'phase' | 'blockers'> & { blockers?: readonly Blocker[] }): Decision {
  return { kind: 'gate', gate: { ...g, phase: ctx.state.phase, blockers: g.blockers ?? [] }, state: ctx.state };
}

function transition(ctx: Ctx, to: Phase, rotation: RotationRecord, why: string): Decision {
  const { rollBaseline: _baseline, rollBundle: _bundle, ...rest } = rotation;
  const next: RotationRecord = { ...rest, phaseStartedAt: iso(ctx.now) };
  const state: RotationState = { ...ctx.state, phase: to, rotation: next, knownBundles: pruneBundles(ctx.state.knownBundles, ctx.s) };
  return act(ctx, { kind: 'record-transition', from: ctx.state.phase, to, why }, state, why, { type: 'Normal', reason: `Rotation${to}`, message: why });
}

function stop(ctx: Ctx, reason: StopReason, message: string): Decision {
  const phase = ctx.state.phase === 'Stopped' ? (ctx.state.stopped?.phase ?? 'Idle') : ctx.state.phase;
  const state: RotationState = { ...ctx.state, phase: 'Stopped', stopped: { reason, phase, message, at: iso(ctx.now) } };
  return { kind: 'stop', reason, message, state, event: { type: 'Warning', reason: 'RotationStopped', message: `${reason}: ${message}` } };
}

/** The state a caller persists when it stops on a missed gate deadline (I3): the old anchor stays trusted. */
export function stoppedOnDeadline(state: RotationState, gate: Gate, now: number): RotationState {
  const phase = state.phase === 'Stopped' ? (state.stopped?.phase ?? 'Idle') : state.phase;
  const details = [...gate.blockers.map((b) => b.message), ...gate.missing.slice(0, 5)];
  const message = `expected gate ${gate.name} to open before the deadline, found: ${gate.summary}${details.length > 0 ? ` (${details.join('; ')})` : ''}; fix what it names (or raise the timeout) and run again to resume`;
  return { ...state, phase: 'Stopped', stopped: { reason: 'deadline', phase, message, at: iso(now), gate: gate.name } };
}
