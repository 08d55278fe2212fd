// plan: the ordered course of a rotation with restart counts, blockers and the next decision.
// Pure: inputs are frozen; parity with a real run is checked in runner.spec.ts.
import { initialState, plan, resolveOptions, type RotationState } from '../src/index.js';
import { anchor, deepFreeze, fp, iso, options, pod, rotating, snapshot, T0, trustBothCluster, workload } from './builders.js';
import { FakeCluster } from './fake-cluster.js';

describe('plan', () => {
  it('says no rotation is due, and changes nothing', () => {
    const p = plan(deepFreeze(snapshot()), deepFreeze(initialState()), options());
    expect(p).toMatchObject({ rotates: false, steps: [], summary: expect.stringMatching(/no rotation due/) });
  });

  it('lists the whole course of a forced rotation in order, with restart counts per phase and tier', () => {
    const fake = new FakeCluster({ seed: 5 });
    const p = plan(fake.snapshot(), initialState(), resolveOptions({ start: 'always' }));
    expect(p.rotates).toBe(true);
    expect(p.to).toBeUndefined();
    expect(p.steps.map((s) => `${s.phase}:${s.kind}${s.tier ? `:${s.tier}` : ''}`)).toEqual([
      'Prepare:renew-prepared-anchor',
      'TrustBoth:wait',
      'TrustBoth:roll:control-plane',
      'TrustBoth:roll:extension',
      'TrustBoth:roll:data-plane',
      'TrustBoth:wait',
      'Promote:write-active-anchor',
      'Promote:renew-identity-issuer',
      'Promote:wait',
      'Promote:roll:control-plane',
      'Promote:roll:control-plane',
      'Promote:roll:extension',
      'Promote:roll:data-plane',
      'Promote:wait',
      'Retire:write-previous-anchor',
      'Retire:wait',
      'Retire:roll:control-plane',
      'Retire:roll:extension',
      'Retire:roll:data-plane',
      'Retire:wait',
      'Done:finish',
    ]);
    expect(p.rolls).toEqual({ total: 34, byPhase: { TrustBoth: 11, Promote: 12, Retire: 11 }, byTier: { 'control-plane': 10, extension: 6, 'data-plane': 18 } });
    expect(p.summary).toMatch(/start a rotation: .* -> \(new anchor from renewal\); 34 workload restarts/);
    expect(p.next).toMatchObject({ kind: 'action', action: { kind: 'record-transition', to: 'Prepare' } });
  });

  it('uses a prepared anchor that is already waiting instead of renewing', () => {
    const s = snapshot({ prepared: { revision: 2, issuing: 'absent', anchor: anchor('B') }, pods: [pod('web-1')], workloads: [workload('Deployment', 'web')] });
    const p = plan(s, initialState(), options());
    expect(p).toMatchObject({ rotates: true, from: fp('A'), to: fp('B') });
    expect(p.steps[0]).toMatchObject({ kind: 'use-prepared-anchor' });
    expect(p.rolls.byPhase).toEqual({ TrustBoth: 1, Promote: 1, Retire: 1 });
  });

  it('reports pods the rotator will not restart as blockers with the phase they hold up', () => {
    const s = snapshot({ pods: [pod('debug', { owner: null }), pod('migrate-1', { owner: ['Job', 'migrate'] })] });
    const p = plan(s, initialState(), options({ start: 'always' }));
    expect(p.blockers.map((b) => [b.pod, b.phase])).toEqual([
      ['debug', 'TrustBoth'],
      ['migrate-1', 'TrustBoth'],
    ]);
    expect(p.summary).toMatch(/2 pod\(s\) the rotator cannot restart/);
  });

  it('shows only what is left of a rotation in progress', () => {
    const state = rotating('Promote', { promotedAt: iso(T0 - 60_000), issuerUpdatedAt: iso(T0 - 30_000), identityFreshAt: iso(T0 - 10_000), rollBaseline: iso(T0 - 10_000) }, [['A', 'B']]);
    const s = trustBothCluster({
      active: anchor('B'),
      issuer: { ...snapshot().issuer!, chainsTo: fp('B') },
      pods: [pod('web-1', { trusts: ['A', 'B'], startedAt: T0 - 5000 }), pod('api-1', { trusts: ['A', 'B'], startedAt: T0 - 60_000 })],
      workloads: [workload('Deployment', 'web', { restartedAt: T0 - 9000 }), workload('Deployment', 'api')],
    });
    const p = plan(s, state, options());
    expect(p.phase).toBe('Promote');
    expect(p.steps.some((st) => st.phase === 'TrustBoth' || st.kind === 'write-active-anchor' || st.kind === 'renew-identity-issuer')).toBe(false);
    expect(p.rolls.byPhase).toEqual({ TrustBoth: 0, Promote: 1, Retire: 2 });
    expect(p.summary).toMatch(/^resume in Promote/);
  });

  it('in gentle mode plans a leaf-lifetime wait and only the identity restart after promotion', () => {
    const fake = new FakeCluster({ seed: 6 });
    const p = plan(fake.snapshot(), initialState(), resolveOptions({ start: 'always', gentle: true }));
    expect(p.rolls.byPhase.Promote).toBe(1);
    expect(p.steps.some((st) => st.phase === 'Promote' && /gentle: wait one leaf lifetime \(24h\)/.test(st.description))).toBe(true);
  });

  it('says bootstrap comes first on a cluster without runner-owned anchors', () => {
    const p = plan(snapshot({ active: undefined, previous: undefined }), initialState(), options({ start: 'always' }));
    expect(p.rotates).toBe(false);
    expect(p.steps.map((st) => st.kind)).toEqual(['bootstrap', 'bootstrap']);
    expect(p.summary).toMatch(/bootstrap first/);
  });

  it('plans a resume from a stopped rotation', () => {
    const state: RotationState = { ...rotating('TrustBoth'), phase: 'Stopped', stopped: { reason: 'deadline', phase: 'TrustBoth', message: 'x', at: iso(T0) } };
    const p = plan(trustBothCluster({ pods: [pod('web-1')], workloads: [workload('Deployment', 'web')] }), state, options());
    expect(p).toMatchObject({ rotates: true, phase: 'TrustBoth' });
    expect(p.next).toMatchObject({ kind: 'action', action: { kind: 'record-transition', from: 'Stopped', to: 'TrustBoth' } });
  });
});
