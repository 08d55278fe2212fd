// The restart part of a phase: restart stale workloads tier by tier, then gate until every meshed
// pod is fresh by the phase's rule and Ready (gates `pods-trust-both`, `identity-restarted`, ...).
import type { Action, Decision, Gate, GateName } from '../decision.js';
import { act, gate, MAX_LISTED, withRotation, type RotationContext } from '../phases/context.js';
import { podKey, workloadKey, type EpochMs } from '../snapshot.js';
import { iso, ms, type RollPhase, type RotationRecord } from '../state.js';
import { configMapSettledAt, nextWholeSecond, syncedBundle } from '../trust.js';
import { rollStatus, type Freshness, type RollStatus } from '../workloads.js';
import { safetyGate } from './safety.js';
import { unrestartableStop } from './unrestartable.js';

export interface Roll<T> {
  readonly phase: RollPhase | 'Recover';
  /** The phase's rule for one pod (freshness.ts). */
  readonly fresh: Freshness;
  /** Restarts before this moment (the issuer load) do not count: the baseline is never earlier. */
  readonly notBefore?: EpochMs;
  /**
   * TrustBoth and Retire: restarts made before the synced bundle changed (cert-manager renewed the
   * prepared anchor) picked up the old bundle, so a new bundle takes a new baseline.
   */
  readonly followBundle: boolean;
  /** The gate to wait on while pods are stale or not Ready. */
  readonly gate: GateName;
  /** What a fresh pod does, for the gate's summary ("trust {A, B}"). */
  readonly goal: string;
  /** What comes once every pod is fresh and Ready. */
  readonly then: () => T;
}

/** Restarts stale workloads tier by tier and waits for every pod to be fresh and Ready; then `roll.then()`. */
export function rollPhase<T extends Decision | undefined>(context: RotationContext, roll: Roll<T>): Decision | T {
  const rotation = withBaseline(context, roll);
  const baseline = ms(rotation.rollBaseline as string);
  const withBaselineContext = withRotation(context, rotation);
  const status = rollStatus(context.snapshot, { fresh: roll.fresh, baseline, maxConcurrent: context.options.maxConcurrentRollouts });
  if (status.complete) return roll.then();
  const stuck = unrestartableStop(context, status.blockers, `the rotation restarts in phase ${roll.phase}`);
  if (stuck) return stuck;
  if (status.toRoll.length === 0) return gate(withBaselineContext, rollGate(roll, status));
  if (context.now < baseline) {
    return gate(withBaselineContext, {
      name: 'roll-baseline-reached',
      summary: `waiting until ${iso(baseline)} so that restarts are provably later than the bundle or issuer they must pick up`,
      missing: [`${baseline - context.now} ms`],
      watch: ['clock'],
      notBefore: baseline,
    });
  }
  const rolledBefore = status.rolled.length;
  const total = rolledBefore + status.needsRoll.length;
  const restartedAt = iso(context.now);
  const action: Action = {
    kind: 'roll-workloads',
    phase: roll.phase,
    tier: status.tier ?? 'data-plane',
    workloads: status.toRoll,
    restartedAt,
    rolled: rolledBefore + status.toRoll.length,
    total,
  };
  return (
    safetyGate(withBaselineContext, action, roll.gate) ??
    act({ action, state: withBaselineContext.state, summary: `${roll.phase}: restart ${status.toRoll.length} ${action.tier} workload(s) (rolled ${action.rolled}/${total})` })
  );
}

/**
 * The record with this phase's roll baseline: kept, or taken now (the next whole second, never before
 * `notBefore`). A phase that follows the bundle never takes it before two clock skew allowances past
 * the moment the bundle was seen synced (`configMapSettledAt` plus one, `restartsProveStartAfter`): a
 * configMapKeyRef pod started earlier has unknown trust, so a restart then could never make it fresh.
 * A kept baseline earlier than that (written before this rule) is taken again.
 */
function withBaseline(context: RotationContext, roll: Roll<unknown>): RotationRecord {
  const rotation = context.rotation;
  const bundle = roll.followBundle ? syncedBundle(context.snapshot)?.sha256 : undefined;
  const syncedAt = bundle === undefined ? undefined : context.state.knownBundles[bundle]?.syncedAt;
  // Restarts whose configMapKeyRef pods prove they read the synced bundle, even on a lagging node.
  const settledAt = syncedAt === undefined ? 0 : configMapSettledAt(ms(syncedAt), context.options.clockSkewMs) + context.options.clockSkewMs;
  const notBefore = Math.max(roll.notBefore ?? 0, settledAt);
  if (rotation.rollBaseline !== undefined && (bundle === undefined || rotation.rollBundle === bundle) && ms(rotation.rollBaseline) >= settledAt) return rotation;
  const { rollBundle: _old, ...rest } = rotation;
  return { ...rest, rollBaseline: iso(Math.max(nextWholeSecond(context.now), notBefore)), ...(bundle !== undefined ? { rollBundle: bundle } : {}) };
}

function rollGate(roll: Roll<unknown>, status: RollStatus): Omit<Gate, 'phase' | 'blockers'> & { blockers: Gate['blockers'] } {
  const stalePods = status.pending.length;
  const total = status.totalPods;
  const rolling = status.inProgress.length > 0 ? `; ${status.inProgress.length} rollout(s) in progress: ${status.inProgress.slice(0, 5).map(workloadKey).join(', ')}` : '';
  const blocked = status.blockers.length > 0 ? `; ${status.blockers.length} pod(s) the rotator cannot restart` : '';
  return {
    name: roll.gate,
    summary: `${roll.phase}: ${stalePods} of ${total} meshed pods do not yet ${roll.goal} or are not Ready${rolling}${blocked}`,
    missing: status.pending.slice(0, MAX_LISTED).map((p) => `${podKey(p.pod)} ${p.why}`),
    progress: { done: total - stalePods, total },
    blockers: status.blockers,
    watch: ['pods', 'workloads'],
  };
}
