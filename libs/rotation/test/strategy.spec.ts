// The cross-signed strategy's pure rules: choosing the strategy from the adapter's facts, the state
// field, "relies on X until T", and the cross-signed phases' freshness, each shown failing first.
import { chooseStrategy, crossSignatureReliance, crossSignatureReliances, decide, initialState, parseState, resolveOptions, serializeState, STATE_DATA_KEY, strategyOf, trustContext } from '../src/index.js';
import { reachableFreshness, trustEitherFreshness } from '../src/freshness.js';
import { checkI1, checkI2 } from '../src/invariants.js';
import type { Decision, Gate } from '../src/index.js';
import { anchor, fp, HOUR, iso, knownBundles, pod, rotating, snapshot, T0, trustBothCluster } from './builders.js';

const DAY = 24 * HOUR;
const crossSignedIssuer = (until = T0 + 30 * DAY) => ({ ...snapshot().issuer!, chainsTo: fp('B'), chainVia: [{ anchor: fp('A'), notAfter: until }] });

describe('choosing the strategy', () => {
  it('uses cross-signed only when asked and the active anchor can cross-sign; otherwise restart, saying why', () => {
    const able = { ...anchor('A'), crossSignable: true as const };
    const cross = resolveOptions({ strategy: 'cross-signed' });
    expect(chooseStrategy(able, cross, T0)).toEqual({ strategy: 'cross-signed' });
    expect(chooseStrategy(able, resolveOptions({ strategy: 'restart' }), T0)).toEqual({ strategy: 'restart' });
    const pathLen = { ...anchor('A'), crossSignable: { reasons: ['pathLen 1 cannot fit A -> X -> issuer -> leaf'] } };
    expect(chooseStrategy(pathLen, cross, T0)).toEqual({ strategy: 'restart', note: expect.stringMatching(/cannot cross-sign .*pathLen 1/) });
    expect(chooseStrategy(anchor('A'), cross, T0).note).toMatch(/did not report whether anchor/);
  });

  it('records the strategy when a rotation starts', () => {
    const s = snapshot({ active: { ...anchor('A'), crossSignable: true } });
    const started = decide(s, { ...rotating('Idle'), phase: 'Done', rotation: undefined }, resolveOptions({ start: 'always', strategy: 'cross-signed' }));
    expect(started.state.rotation).toMatchObject({ strategy: 'cross-signed' });
    expect(strategyOf(undefined)).toBe('restart');
  });

  it('defaults to cross-signed (a rotation started with the defaults records it) and refuses an unknown strategy', () => {
    expect(resolveOptions({}).strategy).toBe('cross-signed');
    const s = snapshot({ active: { ...anchor('A'), crossSignable: true } });
    expect(decide(s, initialState(), resolveOptions({ start: 'always' })).state.rotation).toMatchObject({ strategy: 'cross-signed' });
    expect(() => resolveOptions({ strategy: 'sideways' as never })).toThrow(/expected strategy cross-signed or restart, found sideways/);
  });
});

describe('state: strategy is a new optional field of v1', () => {
  it('reads a v1 state without it as restart, and round-trips it', () => {
    const old = rotating('TrustBoth');
    const parsed = parseState(serializeState(old));
    expect(parsed.ok && strategyOf(parsed.state.rotation)).toBe('restart');
    const current = rotating('TrustBoth', { strategy: 'cross-signed' });
    const again = parseState(serializeState(current));
    expect(again.ok && again.state.rotation?.strategy).toBe('cross-signed');
    expect(parseState({ [STATE_DATA_KEY]: JSON.stringify({ ...current, rotation: { ...current.rotation, strategy: 'gentle' } }) }).ok).toBe(false);
  });
});

describe('relies on X until T', () => {
  const { rotation: _finished, ...done } = rotating('Done', {}, [['A'], ['B']]);
  const state = done;
  const trust = trustContext(snapshot(), state);
  const podA = pod('old', { trusts: ['A'] });
  const podB = pod('new', { trusts: ['B'] });

  it('names the cross-signer and its notAfter for a pod trusting only the old anchor, nothing for others', () => {
    const issuer = crossSignedIssuer(T0 + 30 * DAY);
    expect(crossSignatureReliance(podA, { trust, issuer, now: T0 })).toEqual({ anchor: fp('A'), until: T0 + 30 * DAY });
    expect(crossSignatureReliance(podB, { trust, issuer, now: T0 })).toBeUndefined();
    expect(crossSignatureReliance(pod('both', { trusts: ['A', 'B'] }), { trust, issuer, now: T0 })).toBeUndefined();
    expect(crossSignatureReliance(podA, { trust, issuer: { ...issuer, chainVia: [] }, now: T0 })).toBeUndefined();
    expect(crossSignatureReliance(podA, { trust, issuer, now: T0 + 31 * DAY })).toBeUndefined();
    const counted = crossSignatureReliances(snapshot({ issuer, pods: [podA, podB] }), state);
    expect(counted.map(({ pod: p, reliance }) => [p.name, reliance.until])).toEqual([['old', T0 + 30 * DAY]]);
  });

  it('I1/I2 accept a pod trusting only A while the issuer carries a valid X, and refuse it without X or after X ends', () => {
    const pods = [podA, podB];
    const ok = snapshot({ issuer: crossSignedIssuer(), pods, active: anchor('B') });
    expect(checkI2(ok, state).violations).toEqual([]);
    expect(checkI1(ok, state, resolveOptions({})).violations).toEqual([]);
    const withoutX = snapshot({ issuer: { ...crossSignedIssuer(), chainVia: [] }, pods, active: anchor('B') });
    expect(checkI2(withoutX, state).violations.map((v) => v.subject)).toEqual(['app/old']);
    const expired = { ...ok, observedAt: T0 + 31 * DAY };
    expect(checkI1(expired, state, resolveOptions({})).violations.map((v) => v.subject)).toEqual(['app/old']);
  });
});

describe('cross-signed freshness', () => {
  it('TrustBoth restarts only a pod that trusts neither anchor', () => {
    const state = rotating('TrustBoth', { strategy: 'cross-signed', to: { fingerprint: fp('B'), publicKeyFingerprint: anchor('B').publicKeyFingerprint } }, [['A'], ['Z'], ['A', 'B']]);
    const fresh = trustEitherFreshness(trustContext(snapshot(), state), { from: fp('A'), to: fp('B') });
    expect(fresh(pod('a', { trusts: ['A'] })).fresh).toBe(true);
    expect(fresh(pod('ab', { trusts: ['A', 'B'] })).fresh).toBe(true);
    expect(fresh(pod('z', { trusts: ['Z'] }))).toEqual({ fresh: false, why: expect.stringMatching(/neither .* nor/) });
  });

  it('Retire calls a pod stale only when it trusts no anchor a valid chain reaches', () => {
    const state = rotating('Retire', {}, [['A'], ['B'], ['Z']]);
    const fresh = reachableFreshness(trustContext(snapshot(), state), new Set([fp('B'), fp('A')]));
    expect(fresh(pod('a', { trusts: ['A'] })).fresh).toBe(true);
    expect(fresh(pod('z', { trusts: ['Z'] }))).toEqual({ fresh: false, why: expect.stringMatching(/no anchor a valid chain reaches/) });
  });

  it('judges a configMapKeyRef pod per bundle it may hold: trusting A or B in each is enough', () => {
    const state = { ...rotating('Retire'), knownBundles: { ...knownBundles([['A']], T0 - 3 * HOUR), ...knownBundles([['A', 'B']], T0 - HOUR), ...knownBundles([['B']], T0 - HOUR / 2) } };
    const cp = pod('linkerd-destination-1', { namespace: 'linkerd', configMap: true, startedAt: T0 - 2 * HOUR });
    const s = snapshot({ bundles: [{ namespace: 'linkerd', sha256: Object.keys(knownBundles([['B']]))[0] as string, anchors: [fp('B')] }] });
    const trust = trustContext(s, state);
    expect(reachableFreshness(trust, new Set([fp('B'), fp('A')]))(cp).fresh).toBe(true);
    expect(reachableFreshness(trust, new Set([fp('B')]))(cp).fresh).toBe(false);
  });
});

describe('Promote, cross-signed', () => {
  const cross = resolveOptions({ strategy: 'cross-signed' });
  const promoting = (r = {}) => rotating('Promote', { strategy: 'cross-signed', ...r }, [['A'], ['A', 'B']]);
  const onlyA = [pod('web-1', { trusts: ['A'] }), pod('identity-1', { namespace: 'linkerd', trusts: ['A'], identity: true, owner: ['Deployment', 'linkerd-identity'] })];
  const issuerB = { ...crossSignedIssuer(), fingerprint: 'e'.repeat(64), notBefore: T0 - 60_000 };
  const actionOf = (d: Decision) => (d.kind === 'action' ? d : (undefined as never));
  const gateOf = (d: Decision): Gate => (d.kind === 'gate' ? d.gate : ({ name: `not a gate: ${d.kind}` } as never));

  it('promotes B cross-signed by A while pods trust only A; restart would hold it', () => {
    const s = trustBothCluster({ pods: onlyA, active: { ...anchor('A'), crossSignable: true } });
    expect(actionOf(decide(s, promoting(), cross)).action).toEqual({ kind: 'write-active-anchor', fingerprint: fp('B'), purpose: 'promote', crossSignedBy: fp('A') });
    expect(gateOf(decide(s, { ...promoting(), rotation: { ...promoting().rotation!, strategy: 'restart' } }, cross)).name).toBe('promotion-safe');
  });

  it('renews an issuer under B that does not carry X, and accepts one that does', () => {
    const withoutX = trustBothCluster({ active: anchor('B'), pods: onlyA, issuer: { ...issuerB, chainVia: [] } });
    expect(actionOf(decide(withoutX, promoting({ promotedAt: iso(T0 - 1000) }), cross)).action).toEqual({ kind: 'renew-identity-issuer' });
    const withX = trustBothCluster({ active: anchor('B'), pods: onlyA, issuer: issuerB });
    expect(gateOf(decide(withX, promoting({ promotedAt: iso(T0 - 90_000) }), cross)).name).toBe('identity-loaded-issuer');
  });

  it('waits for A-only leaves to expire on a long gate the runner ends on, then retires', () => {
    const s = trustBothCluster({ active: anchor('B'), issuer: issuerB, pods: onlyA.map((p) => ({ ...p, startedAt: T0 - HOUR })) });
    const r = promoting({ promotedAt: iso(T0 - HOUR), issuerUpdatedAt: iso(T0 - 30_000), identityFreshAt: iso(T0 - 10_000) });
    expect(gateOf(decide(s, r, cross))).toMatchObject({ name: 'old-leaves-expired', resumeLater: true, notBefore: T0 - 10_000 + 24 * HOUR + 20_000 });
    expect(actionOf(decide({ ...s, observedAt: T0 + 25 * HOUR }, r, cross)).action).toMatchObject({ kind: 'record-transition', to: 'Retire' });
    // rollAfterPromote: the restart strategy's leaves step (these pods have no workload to restart, so it waits on them).
    expect(gateOf(decide(s, r, resolveOptions({ strategy: 'cross-signed', rollAfterPromote: true }))).name).toBe('leaves-renewed');
  });
});
