// The knobs of a rotation run (start policy, gentle mode, roll concurrency, lifetimes, bounds).
// Parsed once by the caller; `resolveOptions` fills defaults and rejects values that cannot work.
import { DEFAULT_OBJECT_NAMES, type ObjectNames } from '@linkerd-rotator/names';

/**
 * When a run may start a new rotation (an unfinished one is always resumed):
 * - `never`: only resume;
 * - `if-due`: start when a prepared anchor with a new key is waiting, or the active anchor is older
 *   than `maxActiveAgeMs` (the CronJob's `--only-if-older-than`);
 * - `always`: start now (`--force`).
 */
export type StartPolicy = 'never' | 'if-due' | 'always';

/**
 * How a rotation keeps the mesh whole (docs/rotation.md, "Strategies"):
 * - `cross-signed`: the new anchor is cross-signed by the old one, so only the identity controller
 *   (and pods that trust neither anchor) are restarted; falls back to `restart` when it cannot work;
 * - `restart`: every meshed workload is rolled in TrustBoth, Promote and Retire (a compromised anchor).
 */
export type Strategy = 'cross-signed' | 'restart';

export interface DecideOptions {
  readonly start: StartPolicy;
  /** The strategy of a rotation this run starts (a rotation under way keeps the one it recorded). */
  readonly strategy: Strategy;
  /** cross-signed: roll the data plane once at Promote instead of waiting for A-only leaves to expire. */
  readonly rollAfterPromote: boolean;
  /** cross-signed: pods relying on a cross-signature are restarted once its notAfter is this close. */
  readonly crossSignMarginMs: number;
  /** With `if-due`: rotate when the active anchor's notBefore is at least this old. */
  readonly maxActiveAgeMs?: number;
  /** The deadline of each awaited condition (the runner's `--phase-timeout`); `rotationNeedMs` counts five. */
  readonly phaseTimeoutMs: number;
  /**
   * With `if-due`: start a rotation once the active anchor's notAfter is this close, whatever its age
   * and whether a prepared anchor is waiting (`--expiry-margin`). Unset: twice `rotationNeedMs`.
   */
  readonly expiryMarginMs?: number;
  /** Wait one leaf lifetime after promotion instead of rolling every meshed workload. */
  readonly gentle: boolean;
  /** Workloads restarting at once, across tiers. */
  readonly maxConcurrentRollouts: number;
  /**
   * The runner's, not decide's: restart requests (patches) in flight at once while it carries out one
   * roll action (`--restart-concurrency`). An action restarts at most `maxConcurrentRollouts` (in
   * recovery `recoverConcurrency`) workloads, so this bounds the burst of API writes, not the rollouts.
   */
  readonly restartConcurrency: number;
  /** Linkerd's `issuanceLifetime` (24h by default). */
  readonly leafLifetimeMs: number;
  /** Linkerd's clock skew allowance (20s). */
  readonly clockSkewMs: number;
  /** Renewal requests of the prepared anchor before giving up. */
  readonly maxPrepareRequests: number;
  /** Renewal requests of the identity issuer after promotion before giving up. */
  readonly maxIssuerRenewals: number;
  /** Times cert-manager may replace the target before promotion before the run stops. */
  readonly maxRetargets: number;
  /** The install's object names: every message names these objects (object-refs.ts). */
  readonly names: ObjectNames;
  /**
   * `recover` (docs/rotation.md, "Recover"): a run may start a recovery when the mesh is in an expiry
   * incident (recovery.ts `diagnoseExpiry`). Off for every other run, which only resumes one.
   */
  readonly recover: boolean;
  /** Recovery: workloads restarting at once (`--recover-concurrency`); the mesh is down, so high. */
  readonly recoverConcurrency: number;
  /** Recovery of an expired issuer: how long proxies get to renew their leaves before their workloads are restarted. */
  readonly recoverLeafGraceMs: number;
}

export const DEFAULT_OPTIONS: DecideOptions = {
  start: 'if-due',
  strategy: 'cross-signed',
  rollAfterPromote: false,
  crossSignMarginMs: 7 * 24 * 60 * 60 * 1000,
  gentle: false,
  maxConcurrentRollouts: 5,
  restartConcurrency: 10,
  phaseTimeoutMs: 30 * 60 * 1000,
  leafLifetimeMs: 24 * 60 * 60 * 1000,
  clockSkewMs: 20 * 1000,
  maxPrepareRequests: 3,
  maxIssuerRenewals: 3,
  maxRetargets: 3,
  names: DEFAULT_OBJECT_NAMES,
  recover: false,
  recoverConcurrency: 50,
  recoverLeafGraceMs: 2 * 60 * 1000,
};

export function resolveOptions(options: Partial<DecideOptions>): DecideOptions {
  const resolved: DecideOptions = { ...DEFAULT_OPTIONS, ...dropUndefined(options) };
  const positive: (keyof DecideOptions)[] = ['maxConcurrentRollouts', 'restartConcurrency', 'maxPrepareRequests', 'maxIssuerRenewals', 'recoverConcurrency'];
  for (const key of positive) {
    const value = resolved[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new RangeError(`expected ${key} to be a whole number of at least 1, found ${String(value)}; pass a positive integer`);
    }
  }
  for (const key of ['leafLifetimeMs', 'clockSkewMs', 'maxRetargets', 'crossSignMarginMs', 'phaseTimeoutMs', 'recoverLeafGraceMs'] as const) {
    if (!Number.isFinite(resolved[key]) || resolved[key] < 0) {
      throw new RangeError(`expected ${key} to be a non-negative number, found ${String(resolved[key])}; fix the option`);
    }
  }
  if (resolved.strategy !== 'cross-signed' && resolved.strategy !== 'restart') {
    throw new RangeError(`expected strategy cross-signed or restart, found ${String(resolved.strategy)}; fix --strategy`);
  }
  if (resolved.maxActiveAgeMs !== undefined && !(resolved.maxActiveAgeMs >= 0)) {
    throw new RangeError(`expected maxActiveAgeMs to be a non-negative duration, found ${String(resolved.maxActiveAgeMs)}; fix --only-if-older-than`);
  }
  if (resolved.expiryMarginMs !== undefined && !(resolved.expiryMarginMs >= 0)) {
    throw new RangeError(`expected expiryMarginMs to be a non-negative duration, found ${String(resolved.expiryMarginMs)}; fix --expiry-margin`);
  }
  return resolved;
}

/**
 * How long a rotation of the active anchor needs before that anchor's notAfter (issue 15, "Never get
 * there"): four phase deadlines (Prepare, TrustBoth, Promote, Retire), one leaf lifetime plus the
 * clock skew (cross-signed's wait for the old leaves, gentle mode's too), and one more phase deadline
 * to restart the pods still relying on the cross-signature X, which ends with the old anchor at the
 * latest. A cross-signed rotation that cannot finish in it uses strategy `restart` (strategy.ts).
 */
export function rotationNeedMs(options: Pick<DecideOptions, 'phaseTimeoutMs' | 'leafLifetimeMs' | 'clockSkewMs'>): number {
  return 5 * options.phaseTimeoutMs + options.leafLifetimeMs + options.clockSkewMs;
}

/**
 * The time before the active anchor's notAfter at which a scheduled run starts a rotation:
 * `--expiry-margin`, else twice `rotationNeedMs`, so that a run that stops on the way leaves as much
 * time again to fix what it names and finish. A schedule sparser than that margin adds its period.
 */
export function expiryMarginOf(options: DecideOptions): number {
  return options.expiryMarginMs ?? 2 * rotationNeedMs(options);
}

/**
 * How long before a cross-signature X ends the pods relying on it are restarted: `--cross-sign-margin`,
 * but never less than the expiry margin, so a cross-signature that pods still rely on is acted on as
 * early as an ending active anchor would be (issue 15), whatever the cross-sign margin is set to.
 */
export function crossSignWindowOf(options: DecideOptions): number {
  return Math.max(options.crossSignMarginMs, expiryMarginOf(options));
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A duration for messages and flags' help, largest unit first: `7d`, `8d2h0m20s` -> `8d2h20s`, `90s` -> `1m30s`, `250ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', sec || s === 0 ? `${sec}s` : ''].join('');
}
