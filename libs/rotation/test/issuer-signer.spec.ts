// issue 14 in decide: the identity issuer must chain to the active anchor before promotion and be
// signed through the ClusterIssuer on the active Secret (item 1); the identity restart must not pass
// with no identity pod (item 11); a half-finished rotation whose state is gone stops (item 11).
import { DEFAULT_OBJECT_NAMES } from '@linkerd-rotator/names';
import { decide, initialState, type ClusterSnapshot, type Decision, type IssuerSigningFacts } from '../src/index.js';
import { anchor, bundle, fp, hashOf, iso, knownBundles, options, pod, rotating, snapshot, T0, trustBothCluster, workload } from './builders.js';

const o = options();

function stopped(d: Decision) {
  if (d.kind !== 'stop') throw new Error(`expected a stop, found ${d.kind}: ${JSON.stringify(d).slice(0, 400)}`);
  return d;
}

/** The chart's setup: the issuer Certificate names ClusterIssuer linkerd-identity-issuer, a CA issuer on the active Secret. */
const onActive: IssuerSigningFacts = { clusterIssuer: { found: true, caSecretName: 'linkerd-active-anchor' }, certificateIssuerRef: { kind: 'ClusterIssuer', name: 'linkerd-identity-issuer' } };
/** Identity issuer I_B, signed by B. */
const issuerUnder = (label: string) => ({ ...snapshot().issuer!, fingerprint: 'e'.repeat(64), chainsTo: fp(label) });

describe('the identity issuer chains to the active anchor before promotion (issue 14, item 1)', () => {
  // The adoption example: the issuer Certificate still points at a ClusterIssuer on the prepared
  // Secret, and cert-manager renewed the prepared anchor to B: the issuer is now I_B.
  const renewedPrepared = { prepared: { revision: 2, issuing: 'absent' as const, anchor: anchor('B') }, issuer: issuerUnder('B') };

  it('stops in Idle, naming the anchor it chains to and what to do', () => {
    const d = stopped(decide(snapshot(renewedPrepared), initialState(), o));
    expect(d.reason).toBe('issuer-chained-elsewhere');
    expect(d.message).toContain(`expected Secret linkerd/linkerd-identity-issuer (issuer eeeeeeeeeeeeeeee) to chain to the active anchor ${fp('A').slice(0, 16)} in phase Idle, found it chained to ${fp('B').slice(0, 16)}`);
    expect(d.message).toMatch(/make Certificate linkerd\/linkerd-identity-issuer issued by ClusterIssuer linkerd-identity-issuer on Secret cert-manager\/linkerd-active-anchor, renew it \(cmctl renew -n linkerd linkerd-identity-issuer\)/);
    expect(d.state).toMatchObject({ phase: 'Stopped', stopped: { reason: 'issuer-chained-elsewhere', phase: 'Idle' } });
  });

  it('stops in Done too, and when the issuer chains to no anchor the rotator knows', () => {
    const done = { ...initialState(), phase: 'Done' as const };
    expect(stopped(decide(snapshot(renewedPrepared), done, o)).reason).toBe('issuer-chained-elsewhere');
    const { chainsTo: _none, ...unknown } = issuerUnder('B');
    expect(stopped(decide(snapshot({ issuer: unknown }), initialState(), o)).message).toMatch(/found it chained to no anchor the rotator knows/);
  });

  it('stops in Prepare, TrustBoth and Promote before the write, where it would have promoted', () => {
    expect(stopped(decide(snapshot(renewedPrepared), rotating('Prepare'), o))).toMatchObject({ reason: 'issuer-chained-elsewhere', message: expect.stringMatching(/before promotion \(phase Prepare\)/) });
    const trusting = [pod('web-1', { trusts: ['A', 'B'] }), pod('identity-1', { namespace: 'linkerd', trusts: ['A', 'B'], identity: true, owner: ['Deployment', 'linkerd-identity'] })];
    const both = trustBothCluster({ pods: trusting, issuer: issuerUnder('B') });
    expect(stopped(decide(both, rotating('TrustBoth', {}, [['A'], ['A', 'B']]), o))).toMatchObject({ reason: 'issuer-chained-elsewhere', message: expect.stringMatching(/phase TrustBoth/) });
    expect(stopped(decide(both, rotating('Promote', {}, [['A'], ['A', 'B']]), o))).toMatchObject({ reason: 'issuer-chained-elsewhere', message: expect.stringMatching(/phase Promote/) });
  });

  it('after promotion expects the target instead: an issuer still under A is renewed, not a stop', () => {
    const s = trustBothCluster({ active: anchor('B'), pods: [pod('web-1', { trusts: ['A', 'B'] })] });
    const d = decide(s, rotating('Promote', { promotedAt: iso(T0 - 1000) }, [['A'], ['A', 'B']]), o);
    expect(d).toMatchObject({ kind: 'action', action: { kind: 'renew-identity-issuer' } });
  });

  it('accepts the cross-signed layout after a rotation: I_B carries X by A, chainsTo B = active', () => {
    const s = snapshot({ active: anchor('B'), previous: anchor('B'), prepared: { revision: 2, issuing: 'absent', anchor: anchor('B') }, issuer: { ...issuerUnder('B'), chainVia: [{ anchor: fp('A'), notAfter: T0 + 300 * 24 * 3_600_000 }] } });
    const d = decide({ ...s, bundles: [{ namespace: 'linkerd', sha256: 'x', anchors: [fp('B')] }] }, { ...initialState(), phase: 'Done' }, o);
    expect(d).toMatchObject({ kind: 'done', summary: expect.stringMatching(/no rotation due/) });
  });
});

describe('the identity ClusterIssuer signs with the active Secret (issue 14, item 1)', () => {
  const cases: Array<[string, IssuerSigningFacts, RegExp]> = [
    [
      'a ClusterIssuer on the prepared Secret',
      { ...onActive, clusterIssuer: { found: true, caSecretName: 'linkerd-trust-anchor' } },
      /expected ClusterIssuer linkerd-identity-issuer to sign with Secret cert-manager\/linkerd-active-anchor \(spec.ca.secretName: linkerd-active-anchor\), found spec.ca.secretName: linkerd-trust-anchor; .*set spec.ca.secretName to linkerd-active-anchor/,
    ],
    ['a ClusterIssuer that is not a CA issuer', { ...onActive, clusterIssuer: { found: true } }, /found no spec.ca \(not a CA issuer\)/],
    ['no ClusterIssuer', { ...onActive, clusterIssuer: { found: false } }, /expected ClusterIssuer linkerd-identity-issuer \(a CA issuer on Secret cert-manager\/linkerd-active-anchor\), found none; create it/],
    [
      'an issuer Certificate that names another issuer (the adoption flow before its second step)',
      { ...onActive, certificateIssuerRef: { kind: 'ClusterIssuer', name: 'linkerd-trust-anchor' } },
      /expected Certificate linkerd\/linkerd-identity-issuer to be issued by ClusterIssuer linkerd-identity-issuer .*found spec.issuerRef ClusterIssuer linkerd-trust-anchor; .*set spec.issuerRef to kind ClusterIssuer, name linkerd-identity-issuer/,
    ],
    ['an issuer Certificate on a namespaced Issuer of that name', { ...onActive, certificateIssuerRef: { kind: 'Issuer', name: 'linkerd-identity-issuer' } }, /found spec.issuerRef Issuer linkerd-identity-issuer/],
  ];

  it.each(cases)('stops in Idle with %s', (_name, issuerSigning, message) => {
    const d = stopped(decide(snapshot({ issuerSigning }), initialState(), o));
    expect(d.reason).toBe('issuer-signer-not-active');
    expect(d.message).toMatch(message);
  });

  it('stops in every rotation phase, and passes the chart setup', () => {
    const wrong: Partial<ClusterSnapshot> = { issuerSigning: { ...onActive, clusterIssuer: { found: true, caSecretName: 'linkerd-trust-anchor' } } };
    for (const phase of ['Prepare', 'TrustBoth', 'Promote', 'Retire'] as const) {
      expect([phase, stopped(decide(trustBothCluster(wrong), rotating(phase, {}, [['A'], ['A', 'B']]), o)).reason]).toEqual([phase, 'issuer-signer-not-active']);
    }
    expect(decide(snapshot({ issuerSigning: onActive }), initialState(), o)).toMatchObject({ kind: 'done' });
  });

  it('still restarts pods relying on a cross-signature near its end first: their connectivity ends with X', () => {
    const wrong: IssuerSigningFacts = { ...onActive, clusterIssuer: { found: true, caSecretName: 'linkerd-trust-anchor' } };
    const done = { ...initialState(), phase: 'Done' as const, knownBundles: knownBundles([['A'], ['B']]) };
    const issuer = { ...issuerUnder('B'), chainVia: [{ anchor: fp('A'), notAfter: T0 + 2 * 24 * 3_600_000 }] };
    const s = snapshot({ active: anchor('B'), previous: anchor('B'), prepared: { revision: 2, issuing: 'absent', anchor: anchor('B') }, issuer, issuerSigning: wrong, bundles: [bundle('linkerd', ['B'])], injector: { trustRootSha256: hashOf(['B']) }, pods: [pod('old-1', { trusts: ['A'] })], workloads: [workload('Deployment', 'old')] });
    expect(decide(s, done, o)).toMatchObject({ kind: 'action', action: { kind: 'roll-workloads', phase: 'Done', workloads: [{ name: 'old' }] } });
    const restarted = { ...s, pods: [pod('old-2', { trusts: ['B'], startedAt: T0 })], workloads: [workload('Deployment', 'old', { restartedAt: T0 })] };
    expect(stopped(decide(restarted, done, o)).reason).toBe('issuer-signer-not-active');
  });

  it('names the configured objects of a renamed install', () => {
    const names = { ...DEFAULT_OBJECT_NAMES, identityClusterIssuer: 'mesh-ca', activeAnchorSecret: 'mesh-active' };
    const signing: IssuerSigningFacts = { clusterIssuer: { found: true, caSecretName: 'mesh-active' }, certificateIssuerRef: { kind: 'ClusterIssuer', name: 'mesh-ca' } };
    expect(decide(snapshot({ issuerSigning: signing }), initialState(), options({ names })).kind).toBe('done');
    const d = stopped(decide(snapshot({ issuerSigning: { ...signing, clusterIssuer: { found: true, caSecretName: 'linkerd-active-anchor' } } }), initialState(), options({ names })));
    expect(d.message).toMatch(/expected ClusterIssuer mesh-ca to sign with Secret cert-manager\/mesh-active/);
  });
});

describe('a half-finished rotation whose state is gone (issue 14, item 11)', () => {
  it('stops instead of "no rotation due" when the active anchor is not the previous one', () => {
    // The state ConfigMap was deleted mid-Promote: active = B (cross-signed by A), previous = A.
    const s = trustBothCluster({ active: anchor('B'), previous: anchor('A'), issuer: { ...issuerUnder('B'), chainVia: [{ anchor: fp('A'), notAfter: T0 + 300 * 24 * 3_600_000 }] } });
    const d = stopped(decide(s, initialState(), o));
    expect(d.reason).toBe('half-finished-rotation');
    expect(d.message).toContain(
      `expected Secret cert-manager/linkerd-previous-anchor to hold the active anchor ${fp('B').slice(0, 16)} outside a rotation (phase Idle), found ${fp('A').slice(0, 16)}: a rotation ${fp('A').slice(0, 16)} -> ${fp('B').slice(0, 16)} was promoted, cross-signed by ${fp('A').slice(0, 16)}, but not retired`,
    );
    expect(d.message).toMatch(/ConfigMap linkerd-rotator\/linkerd-rotator-state deleted or reset.*restore the state ConfigMap.*docs\/rotation.md "Lost state"/);
    expect(stopped(decide(s, { ...initialState(), phase: 'Done' }, o)).reason).toBe('half-finished-rotation');
  });

  it('does not start another rotation over it, even when a new prepared anchor waits', () => {
    const s = trustBothCluster({ active: anchor('B'), previous: anchor('A'), prepared: { revision: 3, issuing: 'absent', anchor: anchor('C') }, issuer: issuerUnder('B') });
    expect(stopped(decide(s, initialState(), options({ start: 'always' }))).reason).toBe('half-finished-rotation');
  });
});

describe('a cross-signed rotation whose state is gone after Retire (issue 14, item 11)', () => {
  // Active = previous = B, the issuer [I_B, X by A], the data plane never restarted (it trusts A
  // only): without the known bundles its trust is unknown, so nothing would restart it before X ends.
  const x = { anchor: fp('A'), notAfter: T0 + 300 * 24 * 3_600_000 };
  const after = (pods: ReturnType<typeof pod>[]) =>
    snapshot({ active: anchor('B'), previous: anchor('B'), prepared: { revision: 2, issuing: 'absent', anchor: anchor('B') }, issuer: { ...issuerUnder('B'), chainVia: [x] }, bundles: [bundle('linkerd', ['B'])], injector: { trustRootSha256: hashOf(['B']) }, pods });

  it('stops in Idle while pods have trust the rotator cannot prove, naming X and its end', () => {
    const d = stopped(decide(after([pod('web-1', { trusts: ['A'] })]), initialState(), o));
    expect(d.reason).toBe('rotation-state-lost');
    expect(d.message).toContain(`found one by ${fp('A').slice(0, 16)} until ${iso(x.notAfter)}: a cross-signed rotation ran and its state is gone`);
    expect(d.message).toMatch(/1 meshed pod\(s\) have trust the rotator cannot prove \(first: app\/web-1 .*restart those workloads before/);
  });

  it('carries on once every pod is known again, and never in Done (the state is there)', () => {
    expect(decide(after([pod('web-2', { trusts: ['B'] })]), initialState(), o)).toMatchObject({ kind: 'done' });
    const done = { ...initialState(), phase: 'Done' as const, knownBundles: knownBundles([['A'], ['B']]) };
    expect(decide(after([pod('web-1', { trusts: ['A'] })]), done, o)).toMatchObject({ kind: 'done' });
  });
});

describe('the identity restart needs identity pods (issue 14, item 11)', () => {
  const issuerB = { ...issuerUnder('B'), notBefore: T0 - 60_000 };
  const promoted = rotating('Promote', { promotedAt: iso(T0 - 90_000), issuerUpdatedAt: iso(T0 - 30_000) }, [['A'], ['A', 'B']]);

  it('stops when no identity pod is recognised instead of passing vacuously', () => {
    const s = trustBothCluster({ active: anchor('B'), issuer: issuerB, pods: [pod('web-1', { trusts: ['A', 'B'] })], workloads: [workload('Deployment', 'web')] });
    const d = stopped(decide(s, promoted, o));
    expect(d.reason).toBe('identity-pods-missing');
    expect(d.message).toMatch(/expected pods of Deployment linkerd\/linkerd-identity .* among 1 meshed pods, found none/);
    expect(d.state.rotation?.identityFreshAt).toBeUndefined();
  });

  it('restarts them when they are there', () => {
    const identity = pod('linkerd-identity-1', { namespace: 'linkerd', tier: 'control-plane', identity: true, owner: ['Deployment', 'linkerd-identity'], trusts: ['A', 'B'] });
    const s = trustBothCluster({ active: anchor('B'), issuer: issuerB, pods: [identity], workloads: [workload('Deployment', 'linkerd-identity', { namespace: 'linkerd', tier: 'control-plane' })] });
    const waiting = decide(s, promoted, o);
    expect(waiting).toMatchObject({ kind: 'gate', gate: { name: 'roll-baseline-reached' } });
    expect(decide({ ...s, observedAt: T0 + 40_000 }, waiting.state, o)).toMatchObject({ kind: 'action', action: { kind: 'roll-workloads', workloads: [{ name: 'linkerd-identity' }] } });
  });
});
