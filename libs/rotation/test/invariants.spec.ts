// I1 and I2 as pure checks, and checkActionSafety on promotion, issuer renewal, retirement and restarts.
// Each case has a passing and a failing variant so the check is shown to bite.
import { initialState, type Action } from '../src/index.js';
import { checkActionSafety, checkI1, checkI2 } from '../src/invariants.js';
import { anchor, bundle, fp, hashOf, iso, knownBundles, options, pod, rotating, snapshot, T0, trustBothCluster } from './builders.js';

const o = options();

describe('checkI1', () => {
  it('passes when every pod trusts every leaf anchor in use', () => {
    const s = snapshot({ pods: [pod('web-1', { trusts: ['A'] }), pod('api-1', { trusts: ['A', 'B'] })] });
    expect(checkI1(s, { ...initialState(), knownBundles: knownBundles([['A'], ['A', 'B']]) }, o)).toEqual({ violations: [], unverified: [] });
  });

  it('names the pod that would reject leaves still chained to the old anchor', () => {
    const s = trustBothCluster({ issuer: { ...snapshot().issuer!, chainsTo: fp('B') }, pods: [pod('web-1', { trusts: ['B'] })] });
    const report = checkI1(s, rotating('Promote', {}, [['B']]), o);
    expect(report.violations).toEqual([expect.objectContaining({ invariant: 'I1', subject: 'app/web-1' })]);
  });

  it('lists pods whose trust cannot be proven separately', () => {
    const report = checkI1(snapshot({ pods: [pod('web-1', { trusts: ['Q'] })] }), initialState(), o);
    expect(report.violations).toEqual([]);
    expect(report.unverified).toEqual([{ pod: 'app/web-1', why: expect.stringMatching(/unknown trust/) }]);
  });
});

describe('checkI2', () => {
  it('flags an issuer signed by an anchor a pod or the identity controller does not trust', () => {
    const s = snapshot({
      issuer: { ...snapshot().issuer!, chainsTo: fp('B') },
      pods: [pod('identity-1', { namespace: 'linkerd', trusts: ['A'], identity: true })],
    });
    expect(checkI2(s, initialState()).violations[0]?.subject).toBe('linkerd/identity-1 (identity controller)');
  });

  it('flags an issuer that chains to no known anchor', () => {
    const s = snapshot({ issuer: { ...snapshot().issuer!, chainsTo: undefined } });
    expect(checkI2(s, initialState()).violations[0]?.found).toMatch(/chains to none/);
  });
});

describe('checkActionSafety', () => {
  const promote: Action = { kind: 'write-active-anchor', fingerprint: fp('B'), purpose: 'promote' };

  it('allows promoting B only when every pod, identity included, trusts B', () => {
    const known = [['A'], ['A', 'B']] as const;
    const ok = trustBothCluster({ pods: [pod('web-1', { trusts: ['A', 'B'] }), pod('id-1', { trusts: ['A', 'B'], identity: true })] });
    expect(checkActionSafety(promote, { snapshot: ok, state: rotating('Promote', {}, known), options: o })).toEqual([]);
    const stale = { ...ok, pods: [...ok.pods, pod('bare', { owner: null, trusts: ['A'] })] };
    expect(checkActionSafety(promote, { snapshot: stale, state: rotating('Promote', {}, known), options: o }).map((v) => v.subject)).toEqual(['app/bare']);
  });

  it('refuses promotion while the injector still stamps a bundle without B', () => {
    const s = trustBothCluster({ injector: { trustRootSha256: hashOf(['A']) } });
    expect(checkActionSafety(promote, { snapshot: s, state: rotating('Promote'), options: o })).toEqual([expect.objectContaining({ subject: 'proxy-injector' })]);
  });

  it('refuses renewing the issuer under an anchor a pod does not trust (I2)', () => {
    const s = trustBothCluster({ active: anchor('B'), pods: [pod('web-1', { trusts: ['A'] })] });
    expect(checkActionSafety({ kind: 'renew-identity-issuer' }, { snapshot: s, state: rotating('Promote'), options: o })[0]?.invariant).toBe('I2');
  });

  it('refuses retiring A while leaves from A may still be in use', () => {
    const retire: Action = { kind: 'write-previous-anchor', fingerprint: fp('B'), source: 'active', purpose: 'retire' };
    const s = trustBothCluster({ active: anchor('B'), issuer: { ...snapshot().issuer!, chainsTo: fp('B') }, pods: [pod('web-1', { trusts: ['A', 'B'], startedAt: T0 - 60_000 })] });
    const before = rotating('Retire', { issuerUpdatedAt: iso(T0 - 30_000), identityFreshAt: iso(T0 - 25_000) }, [['A', 'B']]);
    expect(checkActionSafety(retire, { snapshot: s, state: before, options: o })[0]?.found).toMatch(/leaves may still chain to/);
    const withinSkew = { ...s, pods: [pod('web-1', { trusts: ['A', 'B'], startedAt: T0 - 24_000 })] };
    expect(checkActionSafety(retire, { snapshot: withinSkew, state: before, options: o })[0]?.found).toMatch(/leaves may still chain to/);
    const fresh = { ...s, pods: [pod('web-1', { trusts: ['A', 'B'], startedAt: T0 - 4000 })] };
    expect(checkActionSafety(retire, { snapshot: fresh, state: before, options: o })).toEqual([]);
  });

  it('refuses restarting pods while the injector stamps a bundle missing a leaf anchor in use', () => {
    const roll: Action = { kind: 'roll-workloads', phase: 'TrustBoth', tier: 'data-plane', workloads: [], restartedAt: iso(T0), rolled: 0, total: 0 };
    const s = snapshot({ injector: { trustRootSha256: hashOf(['B']) }, bundles: [bundle('linkerd', ['B'])] });
    expect(checkActionSafety(roll, { snapshot: s, state: rotating('TrustBoth'), options: o })[0]).toMatchObject({ invariant: 'I1', subject: 'proxy-injector' });
  });

  it('allows adopting the prepared anchor only if the issuer chains to it', () => {
    const adopt: Action = { kind: 'write-active-anchor', fingerprint: fp('A'), purpose: 'bootstrap' };
    expect(checkActionSafety(adopt, { snapshot: snapshot(), state: initialState(), options: o })).toEqual([]);
    expect(checkActionSafety({ ...adopt, fingerprint: fp('B') }, { snapshot: snapshot(), state: initialState(), options: o })).toHaveLength(1);
  });
});
