// plan: the ordered course of a rotation with restart counts, blockers and the next decision.
// Pure: inputs are frozen; parity with a real run is checked in runner.spec.ts and cross-signed.spec.ts.
import { initialState, plan, resolveOptions, type ClusterSnapshot, type RotationState } from '../src/index.js';
import { anchor, deepFreeze, fp, iso, options, pod, rotating, snapshot, T0, trustBothCluster, workload } from './builders.js';
import { FakeCluster } from './fake-cluster.js';
import { installedBeforePods, storedState } from './harness.js';

const courseOf = (steps: readonly { phase: string; kind: string; tier?: string }[]) => steps.map((s) => `${s.phase}:${s.kind}${s.tier ? `:${s.tier}` : ''}`);

describe('plan', () => {
  it('says no rotation is due, and changes nothing', () => {
    const p = plan(deepFreeze(snapshot()), deepFreeze(initialState()), options());
    expect(p).toMatchObject({ rotates: false, steps: [], summary: expect.stringMatching(/no rotation due/) });
  });

  it('restart: lists the whole course of a forced rotation in order, with restart counts per phase and tier', () => {
    const fake = new FakeCluster({ seed: 5 });
    const p = plan(fake.snapshot(), initialState(), resolveOptions({ start: 'always', strategy: 'restart' }));
    expect(p.rotates).toBe(true);
    expect(p.to).toBeUndefined();
    expect(p.strategy).toBe('restart');
    expect(p.strategyNote).toBeUndefined();
    expect(courseOf(p.steps)).toEqual([
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
    expect(p.summary).toMatch(/start a rotation: .* -> \(new anchor from renewal\); 34 workload restarts.*; strategy restart$/);
    expect(p.next).toMatchObject({ kind: 'action', action: { kind: 'record-transition', to: 'Prepare' } });
  });

  it('by default (cross-signed) plans no data-plane restart: X at promotion, the identity restart, then the long wait a later run resumes', () => {
    const fake = new FakeCluster({ seed: 5 });
    installedBeforePods(fake);
    const p = plan(fake.snapshot(), storedState(fake), resolveOptions({ start: 'always' }));
    expect(p).toMatchObject({ rotates: true, strategy: 'cross-signed' });
    expect(p.strategyNote).toBeUndefined();
    expect(courseOf(p.steps)).toEqual([
      'Prepare:renew-prepared-anchor',
      'TrustBoth:wait',
      'TrustBoth:wait',
      'Promote:write-active-anchor',
      'Promote:renew-identity-issuer',
      'Promote:wait',
      'Promote:roll:control-plane',
      'Promote:wait',
      'Retire:write-previous-anchor',
      'Retire:wait',
      'Retire:wait',
      'Done:finish',
    ]);
    const promote = p.steps.filter((s) => s.phase === 'Promote');
    expect(promote.find((s) => s.kind === 'write-active-anchor')?.description).toMatch(/with X \(the new anchor cross-signed by [0-9a-f]{16}\) for the identity issuer's chain/);
    expect(promote.find((s) => s.kind === 'roll')).toMatchObject({ workloads: [{ namespace: 'linkerd', name: 'linkerd-identity' }], description: expect.stringMatching(/^restart the identity controller/) });
    expect(promote.at(-1)?.description).toMatch(/^wait until one leaf lifetime \(24h\) after the identity restart for every leaf chained only to [0-9a-f]{16} to expire; the run ends and a later run resumes \(no data-plane restart\)$/);
    expect(p.rolls).toEqual({ total: 1, byPhase: { TrustBoth: 0, Promote: 1, Retire: 0 }, byTier: { 'control-plane': 1, extension: 0, 'data-plane': 0 } });
    expect(p.summary).toMatch(/; 1 workload restarts \(TrustBoth 0, Promote 1, Retire 0\); strategy cross-signed$/);
  });

  it('by default restarts in TrustBoth only pods that trust neither anchor: control-plane pods whose ConfigMap trust is unknown, no data plane', () => {
    const fake = new FakeCluster({ seed: 5 });
    const p = plan(fake.snapshot(), initialState(), resolveOptions({ start: 'always' }));
    expect(p.strategy).toBe('cross-signed');
    expect(p.rolls).toEqual({ total: 4, byPhase: { TrustBoth: 3, Promote: 1, Retire: 0 }, byTier: { 'control-plane': 4, extension: 0, 'data-plane': 0 } });
  });

  // The adapter reports why the active anchor cannot cross-sign (active.crossSignable); the engine passes it on.
  it.each([
    ['its pathLen cannot fit', { reasons: ['anchor e91a209a0f4ab239 has pathLen 1, which cannot fit A -> X -> issuer -> leaf'] }, /cannot cross-sign with the active anchor \(anchor [0-9a-f]{16} has pathLen 1, which cannot fit/],
    ['it is expired', { reasons: ['anchor e91a209a0f4ab239 expired 2026-02-01T00:00:00.000Z'] }, /cannot cross-sign with the active anchor \(anchor [0-9a-f]{16} expired 2026-02-01/],
    ['the adapter did not say', undefined, /cannot cross-sign with the active anchor \(the adapter did not report whether anchor [0-9a-f]{16} can cross-sign/],
  ] as const)('falls back to the restart course when the active anchor cannot cross-sign (%s), saying why', (_why, crossSignable, note) => {
    const fake = new FakeCluster({ seed: 5 });
    const s = fake.snapshot();
    const { crossSignable: _reported, ...active } = s.active as NonNullable<ClusterSnapshot['active']>;
    const unable: ClusterSnapshot = { ...s, active: { ...active, ...(crossSignable ? { crossSignable } : {}) } };
    const p = plan(unable, initialState(), resolveOptions({ start: 'always' }));
    const restart = plan(unable, initialState(), resolveOptions({ start: 'always', strategy: 'restart' }));
    expect(p).toMatchObject({ strategy: 'restart', strategyNote: expect.stringMatching(note) });
    expect(p.strategyNote).toMatch(/; using strategy restart, which restarts every meshed workload$/);
    expect(p.summary).toContain(`; strategy restart (${p.strategyNote})`);
    expect(p.steps).toEqual(restart.steps);
    expect(p.rolls).toEqual(restart.rolls);
    expect(p.rolls.byTier['data-plane']).toBeGreaterThan(0);
  });

  it('uses a prepared anchor that is already waiting instead of renewing', () => {
    const s = snapshot({ prepared: { revision: 2, issuing: 'absent', anchor: anchor('B') }, pods: [pod('web-1')], workloads: [workload('Deployment', 'web')] });
    const p = plan(s, initialState(), options({ strategy: 'restart' }));
    expect(p).toMatchObject({ rotates: true, from: fp('A'), to: fp('B') });
    expect(p.steps[0]).toMatchObject({ kind: 'use-prepared-anchor' });
    expect(p.rolls.byPhase).toEqual({ TrustBoth: 1, Promote: 1, Retire: 1 });
    // cross-signed: web-1 trusts A, which signs X, so it is never restarted.
    const crossSigned = plan({ ...s, active: { ...anchor('A'), crossSignable: true } }, initialState(), options());
    expect(crossSigned).toMatchObject({ strategy: 'cross-signed', to: fp('B'), rolls: { total: 0 } });
  });

  it('restart: reports pods the rotator will not restart as blockers with the phase they hold up', () => {
    const s = snapshot({ pods: [pod('debug', { owner: null }), pod('migrate-1', { owner: ['Job', 'migrate'] })] });
    const p = plan(s, initialState(), options({ start: 'always', strategy: 'restart' }));
    expect(p.blockers.map((b) => [b.pod, b.phase])).toEqual([
      ['debug', 'TrustBoth'],
      ['migrate-1', 'TrustBoth'],
    ]);
    expect(p.summary).toMatch(/2 pod\(s\) the rotator cannot restart/);
  });

  it('names, up front, pods a restart does not replace, with what to do: no rotation starts (issue 14, item 8)', () => {
    const s = snapshot({ pods: [pod('db-0', { owner: ['StatefulSet', 'db'] })], workloads: [workload('StatefulSet', 'db', { updateStrategy: 'OnDelete' })] });
    const p = plan(s, initialState(), options({ start: 'always', strategy: 'restart' }));
    expect(p).toMatchObject({ rotates: false, next: { kind: 'stop', reason: 'pods-not-restartable' } });
    expect(p.summary).toMatch(/^no rotation now: expected every meshed pod a rotation \(strategy restart\) restarts .*pod app\/db-0 is restarted by every restart-strategy rotation; StatefulSet app\/db uses updateStrategy OnDelete/);
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

  it('restart: in gentle mode plans a leaf-lifetime wait and only the identity restart after promotion', () => {
    const fake = new FakeCluster({ seed: 6 });
    const p = plan(fake.snapshot(), initialState(), resolveOptions({ start: 'always', gentle: true, strategy: 'restart' }));
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
