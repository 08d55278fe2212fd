// Pure projections of the caches: certificates without keys, bundles from data or binaryData, and
// what the rotation state requires of a bundle, by libs/rotation's own rules.
import { serializeState, type RotationRecord, type RotationState } from '@linkerd-rotator/rotation';
import { rotationRecord, stateOf as state } from '../../test/support.js';
import { stripSecret } from '../slim.js';
import { bundleViewOf, anchorViewOf, issuerViewOf, rotationStateViewOf } from './projections.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (data: Record<string, string>, annotations?: Record<string, string>) => ({
  metadata: { name: 'linkerd-active-anchor', namespace: 'cert-manager', annotations },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

describe('projections', () => {
  it('takes tls.crt from an anchor Secret without anchor.crt and names its source', () => {
    expect(anchorViewOf(secret({ 'tls.crt': 'CERT', 'tls.key': 'KEY' }))).toEqual({
      source: 'Secret cert-manager/linkerd-active-anchor',
      certPem: 'CERT',
    });
    expect(anchorViewOf(secret({ 'tls.key': 'KEY' }))).toBeUndefined();
  });

  it('takes anchor.crt when present: the active Secret of a cross-signed promotion holds X in tls.crt', () => {
    expect(anchorViewOf(secret({ 'tls.crt': 'X', 'tls.key': 'KEY', 'anchor.crt': 'B' }))).toEqual({
      source: 'Secret cert-manager/linkerd-active-anchor',
      certPem: 'B',
    });
  });

  it('keeps ca.crt for the issuer but never the key', () => {
    const view = issuerViewOf(secret({ 'tls.crt': 'CERT', 'tls.key': 'KEY', 'ca.crt': 'CA' }));
    expect(view).toEqual({ source: 'Secret cert-manager/linkerd-active-anchor', certPem: 'CERT', caPem: 'CA' });
    expect(JSON.stringify(view)).not.toContain('KEY');
  });

  it('strips keys and the kubectl apply copy from a Secret in place', () => {
    const s = secret(
      { 'tls.crt': 'CERT', 'tls.key': 'KEY', 'ca.crt': 'CA', extra: 'X' },
      { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"tls.key":"KEY"}}', keep: 'me' },
    );
    expect(stripSecret(s)).toBe(s);
    expect(Object.keys(s.data).sort()).toEqual(['ca.crt', 'tls.crt']);
    expect(s.metadata.annotations).toEqual({ keep: 'me' });
  });

  it('reads the bundle key from data or binaryData', () => {
    const meta = { name: 'linkerd-identity-trust-roots', namespace: 'linkerd' };
    expect(bundleViewOf({ metadata: meta, data: { 'ca-bundle.crt': 'PEM' } }, 'ca-bundle.crt')).toEqual({
      source: 'ConfigMap linkerd/linkerd-identity-trust-roots',
      pem: 'PEM',
    });
    expect(bundleViewOf({ metadata: meta, binaryData: { 'ca-bundle.crt': b64('BIN') } }, 'ca-bundle.crt')?.pem).toBe('BIN');
    expect(bundleViewOf({ metadata: meta, data: {} }, 'ca-bundle.crt')).toBeUndefined();
  });

  describe('rotation state (libs/rotation state.json v1)', () => {
    const A = 'a'.repeat(64);
    const B = 'b'.repeat(64);
    const meta = { name: 'linkerd-rotator-state', namespace: 'linkerd-rotator' };
    const view = (state: RotationState | string) =>
      rotationStateViewOf({ metadata: meta, data: typeof state === 'string' ? { 'state.json': state } : serializeState(state) });
    const rotation = (extra: Partial<RotationRecord> = {}) => rotationRecord(A, B, extra);
    const promoted = { promotedAt: '2026-01-01T00:00:00.000Z' };

    it('requires nothing when idle or absent', () => {
      expect(rotationStateViewOf({ metadata: meta })).toEqual({ source: 'ConfigMap linkerd-rotator/linkerd-rotator-state', phase: 'Idle', requiredAnchorFingerprints: [] });
      expect(view(state('Idle')).requiredAnchorFingerprints).toEqual([]);
    });

    it('says a recovery replaces the issuer in phase Recover and when stopped in it, and in no other phase (issue 15)', () => {
      expect(view(state('Recover', { rotation: rotation({ recovery: 'anchor-expired' }) }))).toMatchObject({ phase: 'Recover', requiredAnchorFingerprints: [], recovering: true });
      const stopped = state('Stopped', { rotation: rotation({ recovery: 'anchor-expired' }), stopped: { reason: 'deadline', phase: 'Recover', message: 'm', at: '2026-01-01T00:00:00.000Z' } });
      expect(view(stopped)).toMatchObject({ phase: 'Stopped in Recover', recovering: true });
      for (const phase of ['Idle', 'TrustBoth', 'Promote', 'Retire', 'Done'] as const) expect(view(state(phase, { rotation: rotation(promoted) }))).not.toHaveProperty('recovering');
    });

    it('keeps the old anchor until Retire, and the new one once promoted', () => {
      expect(view(state('TrustBoth', { rotation: rotation() })).requiredAnchorFingerprints).toEqual([A]);
      expect(view(state('Promote', { rotation: rotation() })).requiredAnchorFingerprints).toEqual([A]);
      expect(view(state('Promote', { rotation: rotation(promoted) })).requiredAnchorFingerprints).toEqual([A, B]);
      expect(view(state('Retire', { rotation: rotation(promoted) })).requiredAnchorFingerprints).toEqual([B]);
      expect(view(state('Done', { rotation: rotation(promoted) })).requiredAnchorFingerprints).toEqual([]);
    });

    it('does not pin a target that was never promoted (cert-manager may replace it)', () => {
      expect(view(state('TrustBoth', { rotation: rotation() })).requiredAnchorFingerprints).not.toContain(B);
    });

    it('keeps the guarantees of the phase a stopped run stopped in', () => {
      const v = view(state('Stopped', { stopped: { phase: 'TrustBoth', reason: 'deadline', message: 'gate timed out', at: '2026-01-01T01:00:00.000Z' }, rotation: rotation() }));
      expect(v.phase).toBe('Stopped in TrustBoth');
      expect(v.requiredAnchorFingerprints).toEqual([A]);
    });

    it("reports unreadable state as a problem, with libs/rotation's message naming the ConfigMap", () => {
      expect(view('{nope').problem).toMatch(/^ConfigMap linkerd-rotator\/linkerd-rotator-state: expected JSON in the state ConfigMap key state.json, found unparsable text/);
      expect(view(JSON.stringify({ version: 2, phase: 'Idle' })).problem).toMatch(/expected rotation state version 1, found 2/);
      expect(view(JSON.stringify({ ...state('Promote'), rotation: { ...rotation(), from: { fingerprint: 'xyz', publicKeyFingerprint: A } } })).problem).toMatch(/rotation.from.fingerprint/);
      expect(view('{nope').requiredAnchorFingerprints).toEqual([]);
    });
  });
});
