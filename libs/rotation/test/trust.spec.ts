// Trust inference: bundle learning, pods by hash or configMapKeyRef start time, and live leaf anchors.
// Unknown must never read as fresh.
import { initialState, podTrust, trustContext, type RotationState } from '../src/index.js';
import { leafAnchorsInCirculation, learnBundles, nextWholeSecond, pruneBundles } from '../src/trust.js';
import { bundle, fp, hashOf, HOUR, iso, knownBundles, options, pod, rotating, snapshot, T0 } from './builders.js';

const set = (...labels: string[]) => new Set(labels.map(fp));

describe('learnBundles', () => {
  it('records a new bundle when first seen and when every target ConfigMap holds it', () => {
    const s = snapshot({ bundles: [bundle('linkerd', ['A', 'B']), bundle('linkerd-viz', ['A'])] });
    const partial = learnBundles({}, s);
    expect(partial[hashOf(['A', 'B'])]).toEqual({ anchors: [fp('A'), fp('B')].sort(), firstSeenAt: iso(T0) });
    const later = { ...s, observedAt: T0 + 5000, bundles: [bundle('linkerd', ['A', 'B']), bundle('linkerd-viz', ['A', 'B'])] };
    expect(learnBundles(partial, later)[hashOf(['A', 'B'])]?.syncedAt).toBe(iso(T0 + 5000));
  });

  it('changes nothing when nothing is new (so a rerun writes no state)', () => {
    const known = learnBundles({}, snapshot());
    expect(learnBundles(known, { ...snapshot(), observedAt: T0 + HOUR })).toBe(known);
  });

  it('prunes bundles nobody refers to beyond the newest 16, keeping referenced ones', () => {
    const many: RotationState['knownBundles'] = {};
    for (let i = 0; i < 20; i++) many[`h${i}`] = { anchors: [], firstSeenAt: iso(T0 + i * 1000) };
    const old = { ...many, [hashOf(['A'])]: { anchors: [fp('A')], firstSeenAt: iso(T0 - HOUR) } };
    const kept = pruneBundles(old, snapshot({ pods: [pod('web-1', { trusts: ['A'] })] }));
    expect(Object.keys(kept)).toHaveLength(17);
    expect(kept[hashOf(['A'])]).toBeDefined();
    expect(kept.h0).toBeUndefined();
  });
});

describe('podTrust', () => {
  const context = (known: RotationState['knownBundles'], s = snapshot()) => trustContext(s, { ...initialState(), knownBundles: known });

  it('maps an injected pod by its trust-root-sha256 to the anchors of that bundle', () => {
    const trust = podTrust(pod('web-1', { trusts: ['A', 'B'] }), context(knownBundles([['A', 'B']])));
    expect(trust).toEqual({ known: true, certain: set('A', 'B'), possible: set('A', 'B'), alternatives: [set('A', 'B')] });
  });

  it('calls a hash it has never seen unknown, never fresh', () => {
    const trust = podTrust(pod('web-1', { trusts: ['Z'] }), context({}));
    expect(trust.known).toBe(false);
    expect(!trust.known && trust.why).toMatch(/matches no bundle seen by the rotator/);
  });

  it('prefers anchors the adapter parsed from the pod spec', () => {
    const p = { ...pod('web-1', { trusts: ['Z'] }), trustedAnchors: [fp('B')] };
    expect(podTrust(p, context({}))).toMatchObject({ known: true, certain: set('B') });
  });

  describe('configMapKeyRef pods (the control plane) ignore the Helm annotation', () => {
    const synced = T0 - HOUR;
    const known = knownBundles([['A', 'B']], synced);
    const s = snapshot({ bundles: [bundle('linkerd', ['A', 'B'])] });

    it('trust the bundle synced before they started, once the clock skew allowance has passed', () => {
      const p = pod('linkerd-destination-1', { namespace: 'linkerd', configMap: true, startedAt: nextWholeSecond(synced) + 20_000 });
      expect(podTrust(p, context(known, s))).toMatchObject({ known: true, certain: set('A', 'B') });
    });

    // issue 14, item 9: the kubelet resolves the ConfigMap from its own cache on a node whose clock
    // drifts, so a start within the allowance after the sync proves nothing: unknown (restarted).
    it('are unknown when they started within the clock skew allowance after the rotator saw the bundle synced', () => {
      for (const startedAt of [nextWholeSecond(synced), nextWholeSecond(synced) + 1000, nextWholeSecond(synced) + 19_000]) {
        const trust = podTrust(pod('linkerd-destination-1', { namespace: 'linkerd', configMap: true, startedAt }), context(known, s));
        expect([startedAt, trust.known, !trust.known && trust.why]).toEqual([startedAt, false, expect.stringMatching(/within the clock skew allowance \(20s\) of the rotator seeing bundle .* synced/)]);
      }
    });

    it('take the allowance from the options (clockSkewMs)', () => {
      const p = pod('linkerd-destination-1', { namespace: 'linkerd', configMap: true, startedAt: nextWholeSecond(synced) + 5000 });
      const state = { ...initialState(), knownBundles: known };
      expect(podTrust(p, trustContext(s, state, { clockSkewMs: 5000 }))).toMatchObject({ known: true, certain: set('A', 'B') });
      expect(podTrust(p, trustContext(s, state, { clockSkewMs: 6000 })).known).toBe(false);
    });

    it('are unknown when they started before the rotator saw any bundle synced', () => {
      const p = pod('linkerd-destination-1', { namespace: 'linkerd', configMap: true, startedAt: synced - 1000 });
      expect(podTrust(p, context(known, s)).known).toBe(false);
    });

    it('are unknown within the same second as the sync (start times are truncated)', () => {
      const p = pod('linkerd-destination-1', { namespace: 'linkerd', configMap: true, startedAt: Math.floor((synced + 400) / 1000) * 1000 });
      expect(podTrust(p, context(knownBundles([['A', 'B']], synced + 400), s)).known).toBe(false);
    });

    it('may trust any bundle seen after their base one: certain is the intersection, possible the union', () => {
      const both = { ...known, [hashOf(['B', 'C'])]: { anchors: [fp('B'), fp('C')].sort(), firstSeenAt: iso(synced + HOUR / 2) } };
      const p = pod('linkerd-identity-1', { namespace: 'linkerd', configMap: true, startedAt: synced + HOUR / 4 });
      const trust = podTrust(p, context(both, snapshot({ bundles: [bundle('linkerd', ['B', 'C'])] })));
      expect(trust).toEqual({ known: true, certain: set('B'), possible: set('A', 'B', 'C'), alternatives: expect.arrayContaining([set('A', 'B'), set('B', 'C')]) });
      expect(trust.known && trust.alternatives.length).toBe(2);
    });

    it('are unknown in a namespace without a trust-roots ConfigMap', () => {
      const p = pod('x-1', { namespace: 'elsewhere', configMap: true, startedAt: T0 });
      expect(podTrust(p, context(known, s))).toMatchObject({ known: false, why: expect.stringMatching(/has no trust-roots ConfigMap/) });
    });
  });
});

describe('leafAnchorsInCirculation', () => {
  const o = options();
  it('is the issuer anchor outside a rotation', () => {
    expect(leafAnchorsInCirculation(snapshot(), initialState(), o)).toEqual(set('A'));
  });

  it('keeps the old anchor while any pod may hold a leaf from before every identity replica ran the new issuer', () => {
    const s = snapshot({ issuer: { ...snapshot().issuer!, chainsTo: fp('B') }, pods: [pod('web-1', { startedAt: T0 - 3000 })] });
    const state = rotating('Promote', { issuerUpdatedAt: iso(T0 - 25_000), identityFreshAt: iso(T0 - 22_000) });
    expect(leafAnchorsInCirculation(s, state, o)).toEqual(set('A', 'B'));
    // issue 14, item 9: a start within the clock skew allowance after identityFreshAt proves nothing.
    const withinSkew = { ...s, pods: [pod('web-1', { startedAt: T0 - 22_000 + 19_000 })] };
    expect(leafAnchorsInCirculation(withinSkew, state, o)).toEqual(set('A', 'B'));
    const renewed = { ...s, pods: [pod('web-1', { startedAt: T0 - 2000 })] };
    expect(leafAnchorsInCirculation(renewed, state, o)).toEqual(set('B'));
  });

  it('drops the old anchor after one leaf lifetime plus skew, whatever the pods', () => {
    const s = snapshot({ issuer: { ...snapshot().issuer!, chainsTo: fp('B') }, pods: [pod('web-1', { startedAt: T0 - 48 * HOUR })] });
    const state = rotating('Promote', { issuerUpdatedAt: iso(T0 - 25 * HOUR), identityFreshAt: iso(T0 - 25 * HOUR) });
    expect(leafAnchorsInCirculation(s, state, o)).toEqual(set('B'));
    expect(leafAnchorsInCirculation({ ...s, observedAt: T0 - HOUR }, state, o)).toEqual(set('A', 'B'));
  });
});
