// runRotation on the fake cluster against issue 14's engine holes: an identity issuer signed by an
// anchor other than the active one (item 1) and a state ConfigMap deleted mid-Promote (item 11).
// Assertions read the fake's ground truth: nothing promoted, no pod restarted, the reason named.
import { runRotation, type ProgressEvent } from '../src/index.js';
import { anchorFp, FakeCluster } from './fake-cluster.js';
import { LEAF, RUN, storedState, STRATEGIES, STRATEGY_RUNS } from './harness.js';

const A = anchorFp('A');
const B = anchorFp('B');

describe('the identity issuer is signed with the active anchor (issue 14, item 1)', () => {
  // The example: the adoption flow's first step, the ClusterIssuer still on the prepared
  // Secret; cert-manager renews the prepared anchor to B and the identity issuer under B within a day.
  function adoptedHalfway(seed: number): FakeCluster {
    const fake = new FakeCluster({ seed, leafLifetimeMs: LEAF });
    fake.identityIssuerCa = 'prepared';
    return fake;
  }

  it.each(STRATEGIES)('a scheduled run stops on the ClusterIssuer before the prepared anchor renews, writing nothing (%s)', async (strategy) => {
    const fake = adoptedHalfway(61);
    const result = await runRotation(fake.ports(), { ...RUN, ...STRATEGY_RUNS[strategy].options, start: 'if-due' });
    expect(result).toMatchObject({ outcome: 'stopped', reason: 'issuer-signer-not-active', message: expect.stringMatching(/found spec.ca.secretName: linkerd-trust-anchor/) });
    const CHANGES_THE_MESH = ['writeActiveFromPrepared', 'writePrevious', 'restart', 'renewPreparedAnchor', 'renewIdentityIssuer'];
    expect(fake.calls.filter((c) => CHANGES_THE_MESH.includes(c.name))).toEqual([]);
    expect(storedState(fake)).toMatchObject({ phase: 'Stopped', stopped: { phase: 'Idle', reason: 'issuer-signer-not-active' } });
  });

  it.each(STRATEGIES)('once the prepared anchor renewed and the issuer followed it, no rotation starts over it (%s)', async (strategy) => {
    const fake = adoptedHalfway(62);
    fake.reportIssuerSigning = false; // an adapter that cannot read the ClusterIssuer: the chain itself is checked
    fake.renewPreparedExternally();
    fake.advance(5000);
    fake.issuerIssuing = true;
    fake.advance(5000);
    expect([fake.prepared.anchor?.fingerprint, fake.issuer.chainsTo, fake.active?.fingerprint]).toEqual([B, B, A]);
    const result = await runRotation(fake.ports(), { ...RUN, ...STRATEGY_RUNS[strategy].options, start: 'if-due' });
    expect(result).toMatchObject({ outcome: 'stopped', reason: 'issuer-chained-elsewhere' });
    expect(result.message).toContain(`to chain to the active anchor ${A.slice(0, 16)} in phase Idle, found it chained to ${B.slice(0, 16)}`);
    expect(fake.restarts).toEqual([]);
    expect(fake.active?.fingerprint).toBe(A);
  });

  it.each(STRATEGIES)('a ClusterIssuer moved to the prepared Secret mid-TrustBoth stops the rotation before promotion (%s)', async (strategy) => {
    const fake = new FakeCluster({ seed: 63, ...STRATEGY_RUNS[strategy].config });
    let moved = false;
    const promoted: string[] = [];
    const result = await runRotation(fake.ports(), { ...RUN, ...STRATEGY_RUNS[strategy].options }, (e: ProgressEvent) => {
      if (e.kind === 'action' && e.action.kind === 'write-active-anchor') promoted.push(fake.labelOf(e.action.fingerprint));
      if (e.kind === 'phase' && e.to === 'TrustBoth' && !moved) {
        moved = true;
        fake.identityIssuerCa = 'prepared';
        fake.issuerIssuing = true;
      }
    });
    expect(moved).toBe(true);
    expect(result).toMatchObject({ outcome: 'stopped', reason: 'issuer-signer-not-active' });
    expect(promoted).toEqual([]);
    expect(storedState(fake)).toMatchObject({ phase: 'Stopped', stopped: { phase: 'TrustBoth' } });
    // The fix the message names (spec.ca.secretName back to the active Secret, the issuer renewed), then a rerun resumes.
    fake.identityIssuerCa = 'active';
    fake.issuerIssuing = true;
    fake.advance(5000);
    expect(fake.issuer.chainsTo).toBe(A);
    const resumed = await runRotation(fake.ports(), { ...RUN, ...STRATEGY_RUNS[strategy].options, start: 'never', holder: 'run-2' });
    expect(resumed.outcome).toBe('done');
    expect(fake.violations).toEqual([]);
  });
});

describe('a state ConfigMap deleted mid-Promote (issue 14, item 11)', () => {
  it('the next run stops on the half-finished rotation instead of answering "no rotation due"', async () => {
    const fake = new FakeCluster({ seed: 64, ...STRATEGY_RUNS['cross-signed'].config });
    const parked = await runRotation(fake.ports(), { ...RUN, ...STRATEGY_RUNS['cross-signed'].options });
    expect(parked).toMatchObject({ outcome: 'done', resumeAt: expect.any(Number) });
    expect(storedState(fake).phase).toBe('Promote');
    expect([fake.active?.fingerprint, fake.previous?.fingerprint]).toEqual([B, A]);
    fake.state = undefined;
    const next = await runRotation(fake.ports(), { ...RUN, ...STRATEGY_RUNS['cross-signed'].options, start: 'if-due', holder: 'run-2' });
    expect(next).toMatchObject({ outcome: 'stopped', reason: 'half-finished-rotation' });
    expect(next.message).toContain(`a rotation ${A.slice(0, 16)} -> ${B.slice(0, 16)} was promoted, cross-signed by ${A.slice(0, 16)}, but not retired`);
    expect([fake.active?.fingerprint, fake.previous?.fingerprint]).toEqual([B, A]);
  });
});
