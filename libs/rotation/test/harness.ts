// Shared helpers for driving runRotation against the fake cluster and checking where it ends.
// The end-state check reads the fake's ground truth, never the engine's own view of it.
import { iso } from '../src/state.js';
import { initialState, parseState, runRotation, serializeState, type DecideOptions, type ProgressEvent, type RotationState, type RunOptions, type RunResult, type Strategy } from '../src/index.js';
import { checkI1, checkI2 } from '../src/invariants.js';
import { bundleHash, FakeCluster, Killed, sameSet, type FakeConfig } from './fake-cluster.js';

export const RUN: RunOptions = { holder: 'run-1', gateTimeoutMs: 10 * 60_000, leaseDurationMs: 60_000, start: 'always' };

/** The leaf lifetime of cross-signed runs: its long gate (one leaf lifetime) then takes minutes of fake time, not a day. */
export const LEAF = 10 * 60_000;

/** How a test runs one strategy: its run options, the fake cluster's settings to match, and the end a rotation must reach. */
export interface StrategyRun {
  readonly options: Partial<RunOptions>;
  readonly config: Partial<FakeConfig>;
  /** Checks a finished rotation from `from` on the fake's ground truth; returns the new anchor. */
  readonly expectEnd: (fake: FakeCluster, from: string) => string;
}

/** Each strategy as the strategy-independent tests run it (runner.spec.ts), with its own end state. */
export const STRATEGY_RUNS: Readonly<Record<Strategy, StrategyRun>> = {
  'cross-signed': { options: { strategy: 'cross-signed', leafLifetimeMs: LEAF, clockSkewMs: 1000 }, config: { leafLifetimeMs: LEAF }, expectEnd: (fake, from) => expectCrossSigned(fake, from) },
  restart: { options: { strategy: 'restart' }, config: {}, expectEnd: (fake, from) => expectRotated(fake, from) },
};

/** Both strategies, the default first, for `it.each` / `describe.each`. */
export const STRATEGIES: readonly Strategy[] = ['cross-signed', 'restart'];

export function storedState(fake: FakeCluster): RotationState {
  const parsed = parseState(fake.state?.data);
  if (!parsed.ok) throw new Error(`expected a valid stored state, found: ${parsed.message}`);
  return parsed.state;
}

/**
 * Runs, and after a simulated kill -9 waits out the Lease and reruns as a new holder, until the run
 * returns; a run that ends on a long gate (`resumeAt`) is resumed by the next "scheduled" run once
 * the clock reaches it. `runs` counts runs after kills only; `resumes` the scheduled reruns.
 */
export async function runResuming(
  fake: FakeCluster,
  options: Partial<RunOptions> = {},
  progress?: (e: ProgressEvent) => void,
): Promise<{ result: RunResult; runs: number; resumes: number }> {
  let runs = 0;
  let resumes = 0;
  for (;;) {
    runs++;
    // A rerun resumes what was started; it starts a rotation only if the killed run had not begun one.
    const start = (runs === 1 && resumes === 0) || storedState(fake).phase === 'Idle' ? (options.start ?? RUN.start) : 'never';
    const result = await runRotation(fake.ports(), { ...RUN, ...options, start, holder: `run-${runs}-${resumes}` }, progress);
    if (!fake.dead && result.resumeAt !== undefined) {
      if (resumes++ > 10) throw new Error(`expected a rotation to finish within 10 scheduled runs, found it still waiting: ${result.message}`);
      runs--;
      fake.fastForward(Math.max(0, result.resumeAt - fake.clock) + 1000, 30_000);
      continue;
    }
    if (!fake.dead) return { result, runs, resumes };
    fake.revive();
    fake.advance((options.leaseDurationMs ?? RUN.leaseDurationMs) + 1000);
    if (runs > 10) throw new Killed();
  }
}

/**
 * The rotator was installed before the mesh's pods started: its state already knows the bundle they
 * read at start (configMapKeyRef pods then have known trust, as on a cluster the rotator watches).
 */
export function installedBeforePods(fake: FakeCluster): void {
  const anchors = [...(fake.bundleSet() ?? [])].sort();
  const since = iso(fake.clock - 2 * 3_600_000);
  const state: RotationState = { ...initialState(), knownBundles: { [bundleHash(anchors)]: { anchors, firstSeenAt: since, syncedAt: since } } };
  fake.state = { data: serializeState(state), resourceVersion: '0' };
}

/**
 * The end of a cross-signed rotation: Done, active = new anchor, bundle = {new}, the issuer chained to
 * new and carrying X signed by `from`, every proxy holding a leaf from the new issuer and verifying
 * the issuer's chain (directly or through X), I1/I2 at every step.
 */
export function expectCrossSigned(fake: FakeCluster, from: string): string {
  const state = storedState(fake);
  expect([state.phase, state.last?.strategy]).toEqual(['Done', 'cross-signed']);
  const to = state.last?.to as string;
  expect(state.last?.from).toBe(from);
  expect(fake.violations).toEqual([]);
  expect(fake.active?.fingerprint).toBe(to);
  expect([fake.issuer.chainsTo, fake.issuer.via?.anchor]).toEqual([to, from]);
  const sources = new Set([to, ...(fake.prepared.anchor ? [fake.prepared.anchor.fingerprint] : [])]);
  for (const [ns, anchors] of fake.bundles) expect([ns, sameSet(anchors, sources)]).toEqual([ns, true]);
  const stale = fake.pods
    .filter((p) => !fake.verifies(p.trust, fake.issuer) || (p.leaf !== undefined && p.leaf.anchor !== to))
    .map((p) => `${p.namespace}/${p.name} trusts ${[...p.trust].map((a) => fake.labelOf(a)).join(',')} leaf ${fake.labelOf(p.leaf?.anchor)}`);
  expect(stale).toEqual([]);
  return to;
}

/** The brief's end state: active = new anchor, bundle = {new} (plus a waiting prepared one), issuer chained to new, every proxy fresh. */
export function expectRotated(fake: FakeCluster, from: string): string {
  const state = storedState(fake);
  expect(state.phase).toBe('Done');
  const to = state.last?.to as string;
  expect(state.last?.from).toBe(from);
  expect(fake.violations).toEqual([]);
  expect(fake.active?.fingerprint).toBe(to);
  expect(fake.issuer.chainsTo).toBe(to);
  const sources = new Set([to, ...(fake.prepared.anchor ? [fake.prepared.anchor.fingerprint] : [])]);
  for (const [ns, anchors] of fake.bundles) expect([ns, sameSet(anchors, sources)]).toEqual([ns, true]);
  const stale = fake.pods
    .filter((p) => !p.trust.has(to) || p.trust.has(from) || [...p.trust].some((a) => !sources.has(a)) || (p.leaf !== undefined && p.leaf.anchor !== to))
    .map((p) => `${p.namespace}/${p.name} trusts ${[...p.trust].map((a) => fake.labelOf(a)).join(',')} leaf ${fake.labelOf(p.leaf?.anchor)}`);
  expect(stale).toEqual([]);
  return to;
}

/**
 * Kills the run at each of the first `total` mutating calls (before or after it takes effect),
 * resumes, and checks the end with `expectEnd`; returns one line per kill that ended wrong.
 */
export async function killAtEveryCall(plan: {
  readonly total: number;
  readonly mode: 'before' | 'after';
  readonly cluster: () => FakeCluster;
  readonly options: Partial<RunOptions>;
  readonly expectEnd: (fake: FakeCluster) => void;
}): Promise<string[]> {
  const failures: string[] = [];
  for (let k = 1; k <= plan.total; k++) {
    const fake = plan.cluster();
    fake.killAt(k, plan.mode);
    try {
      const { result, runs } = await runResuming(fake, plan.options);
      expect(runs).toBe(2);
      expect(result.outcome).toBe('done');
      plan.expectEnd(fake);
    } catch (error) {
      failures.push(`kill at ${k} (${fake.calls.filter((c) => c.mutating)[k - 1]?.name}): ${(error as Error).message.slice(0, 300)}`);
    }
  }
  return failures;
}

/** The engine's own I1/I2 checks on the stored state and a fresh snapshot, after every progress event of a run. */
export function engineChecks(fake: FakeCluster, options: DecideOptions): { reported: string[]; observe: (event: ProgressEvent) => void } {
  const reported: string[] = [];
  const observe = () => {
    const parsed = parseState(fake.state?.data);
    if (!parsed.ok || fake.dead) return;
    const snapshot = fake.snapshot();
    for (const v of [...checkI1(snapshot, parsed.state, options).violations, ...checkI2(snapshot, parsed.state).violations]) reported.push(`${v.invariant} ${v.subject}: ${v.found}`);
  };
  return { reported, observe };
}
