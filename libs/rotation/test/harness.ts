// Shared helpers for driving runRotation against the fake cluster and checking where it ends.
// The end-state check reads the fake's ground truth, never the engine's own view of it.
import { parseState, runRotation, type ProgressEvent, type RotationState, type RunOptions, type RunResult } from '../src/index.js';
import { FakeCluster, Killed, sameSet } from './fake-cluster.js';

export const RUN: RunOptions = { holder: 'run-1', gateTimeoutMs: 10 * 60_000, leaseDurationMs: 60_000, start: 'always' };

export function storedState(fake: FakeCluster): RotationState {
  const parsed = parseState(fake.state?.data);
  if (!parsed.ok) throw new Error(`expected a valid stored state, found: ${parsed.message}`);
  return parsed.state;
}

/** Runs, and after a simulated kill -9 waits out the Lease and reruns as a new holder, until the run returns. */
export async function runResuming(fake: FakeCluster, options: Partial<RunOptions> = {}, progress?: (e: ProgressEvent) => void): Promise<{ result: RunResult; runs: number }> {
  let runs = 0;
  for (;;) {
    runs++;
    // A rerun resumes what was started; it starts a rotation only if the killed run had not begun one.
    const start = runs === 1 || storedState(fake).phase === 'Idle' ? (options.start ?? RUN.start) : 'never';
    const result = await runRotation(fake.ports(), { ...RUN, ...options, start, holder: `run-${runs}` }, progress);
    if (!fake.dead) return { result, runs };
    fake.revive();
    fake.advance((options.leaseDurationMs ?? RUN.leaseDurationMs) + 1000);
    if (runs > 10) throw new Killed();
  }
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
