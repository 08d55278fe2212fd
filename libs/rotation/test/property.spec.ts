// Seeded random interleavings on the fake cluster, with chaos and a kill -9 at a random step, for both
// strategies. Ground-truth I1/I2 (webpki-style paths) at every tick and call, the engine's own checks at every step, and the end state.
import { resolveOptions, type Strategy } from '../src/index.js';
import { anchorFp, FakeCluster, type FakeConfig } from './fake-cluster.js';
import { engineChecks, expectCrossSigned, expectRotated, runResuming } from './harness.js';
import { Rng } from './rng.js';

// Seeded random interleavings: controller delays, cert-manager renewing the prepared anchor (up to
// twice) and the issuer, scaling, pod crashes, a namespace deletion, and a kill -9 at a random step.
// Reproduce one with PROPERTY_SEED=<n>; sweep more with PROPERTY_SEEDS=<count>.
const COUNT = Number(process.env.PROPERTY_SEEDS ?? 24);
const SEEDS = process.env.PROPERTY_SEED ? [Number(process.env.PROPERTY_SEED)] : Array.from({ length: COUNT }, (_, i) => 1000 + i);
const A = anchorFp('A');

function scenario(seed: number): { config: Partial<FakeConfig>; killAt?: number; gentle: boolean } {
  const rng = new Rng(seed);
  return {
    config: {
      seed,
      interleave: 1 + rng.int(3),
      lagMs: [0, 500 + rng.int(4000)],
      identityReplicas: 1 + rng.int(3),
      namespaces: 2 + rng.int(3),
      chaos: {
        renewPrepared: rng.next() * 0.02,
        maxPreparedRenewals: rng.int(3),
        renewIssuer: rng.next() * 0.05,
        scale: rng.next() * 0.05,
        crashPod: rng.next() * 0.05,
        deleteNamespace: rng.next() * 0.01,
        maxNamespaceDeletions: 1,
      },
      leafLifetimeMs: 20 * 60_000,
    },
    ...(rng.chance(0.6) ? { killAt: 1 + rng.int(80) } : {}),
    gentle: rng.chance(0.2),
  };
}

const STRATEGIES: readonly Strategy[] = ['restart', 'cross-signed'];
const CASES = SEEDS.flatMap((seed) => STRATEGIES.map((strategy) => [seed, strategy] as const));

describe('random interleavings (seeded)', () => {
  it.each(CASES)('seed %i, strategy %s: I1 and I2 hold at every step and the rotation ends fresh', async (seed, strategy) => {
    const { config, killAt, gentle } = scenario(seed);
    const fake = new FakeCluster(config);
    if (killAt !== undefined) fake.killAt(killAt, seed % 2 === 0 ? 'before' : 'after');
    const { reported, observe } = engineChecks(fake, resolveOptions({ leafLifetimeMs: 20 * 60_000, gentle, strategy }));
    const { result } = await runResuming(fake, { gentle, strategy, leafLifetimeMs: 20 * 60_000, gateTimeoutMs: 30 * 60_000 }, observe);
    expect([result.outcome, result.reason, result.message]).toEqual(['done', undefined, expect.any(String)]);
    expect(reported).toEqual([]);
    // cert-manager may renew the prepared anchor (chaos) after Retire's last bundle gate: let
    // trust-manager follow it (one controller lag, no chaos) before checking the bundles of the end.
    fake.advance((config.lagMs?.[1] ?? 0) + 1000);
    if (strategy === 'restart') expectRotated(fake, A);
    else expectCrossSigned(fake, A);
  });
});
