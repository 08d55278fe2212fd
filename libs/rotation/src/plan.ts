// `plan`: every phase and restart a rotation would do from here, in order, with counts; changes nothing.
// Uses the freshness rules (freshness.ts) and roll order of `decide`, so the plan matches a run.
import type { Blocker, Decision } from './decision.js';
import { decide } from './decide.js';
import { identityRestartFreshness, notReachedYet, promoteFreshness, reachableFreshness, retireFreshness, trustBothFreshness, trustEitherFreshness } from './freshness.js';
import { objectRefs } from './object-refs.js';
import type { DecideOptions, Strategy } from './options.js';
import { resumePhase } from './rules.js';
import { shortFp, type ClusterSnapshot, type Fingerprint, type Tier, type WorkloadRef } from './snapshot.js';
import { ms, type Phase, type RollPhase, type RotationState } from './state.js';
import { chooseStrategy, strategyOf } from './strategy.js';
import { formatAnchors, leafLifetimeElapsedAt, leavesFreshSince, provenStartAfter, provenStartOfRoll, reachableAnchors, syncedBundle, trustContext } from './trust.js';
import { identitySubset, rollStatus, TIERS, type Freshness, type RollStatus } from './workloads.js';
import { recoveryPlan, type RecoveryPlan } from './recovery.js';

export type PlanStepKind =
  | 'bootstrap'
  | 'renew-prepared-anchor'
  | 'use-prepared-anchor'
  | 'wait'
  | 'roll'
  | 'write-active-anchor'
  | 'renew-identity-issuer'
  | 'write-previous-anchor'
  | 'finish';

export interface PlanStep {
  readonly phase: Phase;
  readonly kind: PlanStepKind;
  readonly description: string;
  /** Roll steps: the workloads, in restart order. */
  readonly workloads?: readonly WorkloadRef[];
  readonly tier?: Tier;
}

export interface Plan {
  /** Whether a run with these options would rotate (start or resume). */
  readonly rotates: boolean;
  readonly summary: string;
  /** The phase the rotation is in (or would start from). */
  readonly phase: Phase;
  readonly from?: Fingerprint;
  /** Undefined while the new anchor is still to be issued. */
  readonly to?: Fingerprint;
  /** The strategy the rotation uses (recorded, or the one a start would choose). */
  readonly strategy?: Strategy;
  /** Why `restart` is used although `cross-signed` was asked for. */
  readonly strategyNote?: string;
  readonly steps: readonly PlanStep[];
  readonly rolls: { readonly total: number; readonly byPhase: Readonly<Record<RollPhase, number>>; readonly byTier: Readonly<Record<Tier, number>> };
  /** Pods the rotator will not restart that block a phase until an operator (or a Job's end) removes them. */
  readonly blockers: readonly (Blocker & { readonly phase: Phase })[];
  /** What `decide` would do right now. */
  readonly next: Decision;
  /** An expiry incident (recovery.ts): what `recover` would do instead; absent on a healthy mesh. */
  readonly recovery?: RecoveryPlan;
}

const ORDER: readonly Phase[] = ['Prepare', 'TrustBoth', 'Promote', 'Retire', 'Done'];

/** The rotation's full remaining course as things stand; reads only its arguments. */
export function plan(snapshot: ClusterSnapshot, state: RotationState, options: DecideOptions): Plan {
  const next = decide(snapshot, state, options);
  const steps: PlanStep[] = [];
  const byPhase: Record<RollPhase, number> = { TrustBoth: 0, Promote: 0, Retire: 0 };
  const byTier: Record<Tier, number> = { 'control-plane': 0, extension: 0, 'data-plane': 0 };
  const blockers = new Map<string, Blocker & { phase: Phase }>();
  const phase: Phase = resumePhase(state);
  const objects = objectRefs(options.names);
  const rotation = state.rotation;
  const recovery = recoveryPlan(snapshot, options);

  if (!snapshot.active) steps.push({ phase, kind: 'bootstrap', description: `write ${objects.activeSecret} from the prepared anchor ${shortFp(snapshot.prepared.anchor?.fingerprint)}` });
  if (!snapshot.previous) steps.push({ phase, kind: 'bootstrap', description: `write ${objects.previousSecret} (certificate only) from the active anchor` });

  const inRotation = rotation !== undefined && ORDER.includes(phase) && phase !== 'Done';
  const starting = !inRotation && wouldStart(next);
  const choice = inRotation ? { strategy: strategyOf(rotation), ...(rotation?.strategyNote !== undefined ? { note: rotation.strategyNote } : {}) } : snapshot.active ? chooseStrategy(snapshot.active, options, snapshot.observedAt) : undefined;
  const result = (outcome: { rotates: boolean; summary: string; from?: Fingerprint | undefined; to?: Fingerprint | undefined }): Plan => ({
    rotates: outcome.rotates,
    summary: outcome.summary,
    phase: inRotation ? phase : starting ? 'Prepare' : phase,
    ...(outcome.from ? { from: outcome.from } : {}),
    ...(outcome.to ? { to: outcome.to } : {}),
    ...(outcome.rotates && choice ? { strategy: choice.strategy, ...(choice.note !== undefined ? { strategyNote: choice.note } : {}) } : {}),
    steps,
    rolls: { total: byPhase.TrustBoth + byPhase.Promote + byPhase.Retire, byPhase, byTier },
    blockers: [...blockers.values()],
    next,
    ...(recovery ? { recovery } : {}),
  });
  if (phase === 'Recover') {
    const now = next.kind === 'action' ? next.summary : next.kind === 'gate' ? `waiting: ${next.gate.summary}` : next.kind === 'done' ? next.summary : `stop (${next.reason}): ${next.message}`;
    return result({ rotates: false, summary: `a recovery (${rotation?.recovery ?? 'unknown case'}) is under way; \`recover --yes\` or \`rotate\` resumes it: ${now}` });
  }
  if (!inRotation && !starting) {
    return result({ rotates: false, summary: next.kind === 'done' ? next.summary : `no rotation now: ${next.kind === 'stop' ? next.message : 'bootstrap first'}` });
  }

  const from = rotation?.from.fingerprint ?? snapshot.active?.fingerprint ?? snapshot.prepared.anchor?.fingerprint;
  const prepared = snapshot.prepared.anchor;
  const fromKey = rotation?.from.publicKeyFingerprint ?? snapshot.active?.publicKeyFingerprint;
  const to = rotation?.to?.fingerprint ?? (prepared && prepared.publicKeyFingerprint !== fromKey ? prepared.fingerprint : undefined);
  const current: Phase = inRotation ? phase : 'Prepare';
  const context = trustContext(snapshot, state, options);
  const isCurrent = (p: Phase) => p === current;
  const later = (p: Phase) => ORDER.indexOf(p) >= ORDER.indexOf(current);
  const toName = to ? shortFp(to) : 'the new anchor';
  const crossSigned = choice?.strategy === 'cross-signed';

  const addRolls = (p: RollPhase, status: RollStatus, prefix = '') => {
    for (const tier of TIERS) {
      const list = status.needsRoll.filter((ref) => tierOf(snapshot, ref) === tier);
      if (list.length === 0) continue;
      byPhase[p] += list.length;
      byTier[tier] += list.length;
      steps.push({ phase: p, kind: 'roll', tier, workloads: list, description: `${prefix}restart ${list.length} ${tier} workload(s)` });
    }
    for (const blocker of status.blockers) {
      const key = `${blocker.namespace}/${blocker.pod}`;
      if (!blockers.has(key)) blockers.set(key, { ...blocker, phase: p });
    }
  };
  const baselineOf = (p: Phase) => (isCurrent(p) && rotation?.rollBaseline ? ms(rotation.rollBaseline) : Number.POSITIVE_INFINITY);
  const status = (p: Phase, fresh: Freshness) => rollStatus(snapshot, { fresh, baseline: baselineOf(p), maxConcurrent: options.maxConcurrentRollouts });

  if (later('Prepare')) {
    steps.push(
      to
        ? { phase: 'Prepare', kind: 'use-prepared-anchor', description: `use the waiting prepared anchor ${toName}` }
        : { phase: 'Prepare', kind: 'renew-prepared-anchor', description: `renew ${objects.preparedCertificate} and wait for a new key` },
    );
  }
  if (later('TrustBoth')) {
    steps.push({ phase: 'TrustBoth', kind: 'wait', description: `wait until every trust-roots ConfigMap holds ${formatAnchors([from ?? '', to ?? ''].filter(Boolean))}${to ? '' : ' (with the new anchor)'} and the injector serves it` });
    // cross-signed: a pod that trusts the old anchor for sure is fresh whatever the new one will be.
    const fresh: Freshness = crossSigned && from ? trustEitherFreshness(context, { from, to: to ?? from }) : to && from ? trustBothFreshness(context, { from, to }) : notReachedYet;
    addRolls('TrustBoth', status('TrustBoth', fresh));
    steps.push({ phase: 'TrustBoth', kind: 'wait', description: crossSigned ? 'wait until every meshed pod trusts the old or the new anchor and is Ready' : 'wait until every meshed pod trusts both anchors and is Ready' });
  }
  if (later('Promote')) {
    if (!(isCurrent('Promote') && snapshot.active?.fingerprint === to)) {
      steps.push({ phase: 'Promote', kind: 'write-active-anchor', description: `write ${toName} into ${objects.activeSecret}${crossSigned ? `, with X (${toName} cross-signed by ${shortFp(from)}) for the identity issuer's chain` : ''}` });
    }
    if (!(isCurrent('Promote') && to && snapshot.issuer?.chainsTo === to)) {
      steps.push({ phase: 'Promote', kind: 'renew-identity-issuer', description: `renew ${objects.issuerCertificate} under ${toName}` });
    }
    steps.push({ phase: 'Promote', kind: 'wait', description: 'wait for the issuer to chain to the new anchor and identity to report IssuerUpdated' });
    if (!(isCurrent('Promote') && rotation?.identityFreshAt)) {
      const since = isCurrent('Promote') && rotation?.rollBaseline ? ms(rotation.rollBaseline) : undefined;
      const fresh: Freshness = since === undefined ? notReachedYet : identityRestartFreshness(provenStartOfRoll(since, options.clockSkewMs));
      const identity = rollStatus(identitySubset(snapshot), { fresh, baseline: baselineOf('Promote'), maxConcurrent: options.maxConcurrentRollouts });
      addRolls('Promote', identity, 'restart the identity controller so every replica runs the new issuer: ');
    }
    if (crossSigned && !options.rollAfterPromote) {
      const since = isCurrent('Promote') ? leavesFreshSince(rotation) : undefined;
      const until = since === undefined ? `one leaf lifetime (${Math.round(options.leafLifetimeMs / 3_600_000)}h) after the identity restart` : new Date(leafLifetimeElapsedAt(since, options)).toISOString();
      steps.push({ phase: 'Promote', kind: 'wait', description: `wait until ${until} for every leaf chained only to ${shortFp(from)} to expire; the run ends and a later run resumes (no data-plane restart)` });
    } else if (options.gentle) {
      steps.push({ phase: 'Promote', kind: 'wait', description: `gentle: wait one leaf lifetime (${Math.round(options.leafLifetimeMs / 3_600_000)}h) instead of restarting` });
    } else {
      const since = isCurrent('Promote') ? leavesFreshSince(rotation) : undefined;
      // Until identityFreshAt is recorded, Promote's roll baseline is the identity restart's: no
      // restart of this step has happened yet, so every restarted workload counts as to restart.
      const leaves = since === undefined ? { fresh: notReachedYet, baseline: Number.POSITIVE_INFINITY } : { fresh: promoteFreshness(provenStartAfter(since, options.clockSkewMs)), baseline: baselineOf('Promote') };
      addRolls('Promote', rollStatus(snapshot, { ...leaves, maxConcurrent: options.maxConcurrentRollouts }));
      steps.push({ phase: 'Promote', kind: 'wait', description: 'wait until every meshed pod started after IssuerUpdated and is Ready' });
    }
  }
  if (later('Retire')) {
    if (!(isCurrent('Retire') && snapshot.previous?.fingerprint === to)) {
      steps.push({ phase: 'Retire', kind: 'write-previous-anchor', description: `write ${toName} into ${objects.previousSecret}, dropping ${shortFp(from)} from the bundle` });
    }
    steps.push({ phase: 'Retire', kind: 'wait', description: `wait until every trust-roots ConfigMap and the injector drop ${shortFp(from)}` });
    // cross-signed: after TrustBoth every pod trusts an anchor the new issuer reaches (directly or through X).
    const fresh: Freshness = crossSigned
      ? isCurrent('Retire')
        ? reachableFreshness(context, reachableAnchors(snapshot.issuer, snapshot.observedAt))
        : () => ({ fresh: true })
      : isCurrent('Retire') && from && to
        ? retireFreshness(context, { from, to, bundle: syncedBundle(snapshot)?.anchors ?? new Set<Fingerprint>() })
        : notReachedYet;
    addRolls('Retire', status('Retire', fresh));
    steps.push({ phase: 'Retire', kind: 'wait', description: crossSigned ? 'wait until every meshed pod trusts an anchor the issuer reaches and is Ready' : 'wait until every meshed pod trusts only the new anchor and is Ready' });
  }
  steps.push({ phase: 'Done', kind: 'finish', description: 'record the finished rotation and emit an Event' });

  const strategyText = choice ? `; strategy ${choice.strategy}${choice.note !== undefined ? ` (${choice.note})` : ''}` : '';
  const summary = `${inRotation ? `resume in ${phase}` : 'start a rotation'}: ${shortFp(from)} -> ${to ? shortFp(to) : '(new anchor from renewal)'}; ${byPhase.TrustBoth + byPhase.Promote + byPhase.Retire} workload restarts (TrustBoth ${byPhase.TrustBoth}, Promote ${byPhase.Promote}, Retire ${byPhase.Retire})${blockers.size > 0 ? `; ${blockers.size} pod(s) the rotator cannot restart` : ''}${strategyText}`;
  return result({ rotates: true, summary, from, to });
}

function wouldStart(next: Decision): boolean {
  return next.kind === 'action' && next.action.kind === 'record-transition' && next.action.to === 'Prepare';
}

function tierOf(snapshot: ClusterSnapshot, ref: WorkloadRef): Tier {
  const workload = snapshot.workloads.find((w) => w.kind === ref.kind && w.namespace === ref.namespace && w.name === ref.name);
  return workload?.tier ?? snapshot.pods.find((p) => p.namespace === ref.namespace && p.owner?.name === ref.name)?.tier ?? 'data-plane';
}
