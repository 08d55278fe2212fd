// Which strategy a rotation uses: `cross-signed` when asked for and the active anchor can cross-sign
// the next one (facts from the adapter), else `restart`, saying why. Recorded in the rotation state.
import { rotationNeedMs, formatDuration, type DecideOptions, type Strategy } from './options.js';
import { shortFp, type AnchorFacts } from './snapshot.js';
import type { RotationRecord } from './state.js';

/** The strategy of a rotation under way: the one it recorded, `restart` for states written before strategies. */
export function strategyOf(rotation: Pick<RotationRecord, 'strategy'> | undefined): Strategy {
  return rotation?.strategy ?? 'restart';
}

export interface StrategyChoice {
  readonly strategy: Strategy;
  /** Why `restart` is used although `cross-signed` was asked for. */
  readonly note?: string;
}

/** Why `active` cannot cross-sign the next anchor; empty when it can. */
export function crossSignProblems(active: AnchorFacts): string[] {
  const facts = active.crossSignable;
  if (facts === true) return [];
  if (facts === undefined) return [`the adapter did not report whether anchor ${shortFp(active.fingerprint)} can cross-sign (its key, expiry and pathLen)`];
  return facts.reasons.length > 0 ? [...facts.reasons] : [`anchor ${shortFp(active.fingerprint)} cannot cross-sign (no reason given)`];
}

/**
 * The strategy a rotation of `active` starting at `now` uses with these options: `restart` when the
 * active anchor cannot cross-sign, or ends before a cross-signed rotation could finish
 * (`rotationNeedMs`: X ends with it, and the pods trusting only it need restarting before then).
 */
export function chooseStrategy(active: AnchorFacts, options: Pick<DecideOptions, 'strategy' | 'phaseTimeoutMs' | 'leafLifetimeMs' | 'clockSkewMs'>, now: number): StrategyChoice {
  if (options.strategy === 'restart') return { strategy: 'restart' };
  const need = rotationNeedMs(options);
  const problems = crossSignProblems(active);
  if (problems.length === 0 && active.notAfter - now < need) {
    problems.push(
      `it ends ${new Date(active.notAfter).toISOString()}, in ${formatDuration(active.notAfter - now)}, sooner than the ${formatDuration(need)} a cross-signed rotation needs (one leaf lifetime, the clock skew and five phase deadlines), and its cross-signature cannot outlive it`,
    );
  }
  if (problems.length === 0) return { strategy: 'cross-signed' };
  return { strategy: 'restart', note: `cannot cross-sign with the active anchor (${problems.join('; ')}); using strategy restart, which restarts every meshed workload` };
}

