import { bundleViewOf, certificateViewOf, issuerViewOf, rotationStateViewOf, stripSecret } from './projections.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (data: Record<string, string>, annotations?: Record<string, string>) => ({
  metadata: { name: 'linkerd-active-anchor', namespace: 'cert-manager', annotations },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

describe('projections', () => {
  it('takes tls.crt from a Secret and names its source', () => {
    expect(certificateViewOf(secret({ 'tls.crt': 'CERT', 'tls.key': 'KEY' }))).toEqual({
      source: 'Secret cert-manager/linkerd-active-anchor',
      certPem: 'CERT',
    });
    expect(certificateViewOf(secret({ 'tls.key': 'KEY' }))).toBeUndefined();
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

  it('reads the rotation state and reports malformed fingerprints', () => {
    const fp = 'AB'.repeat(32);
    const meta = { name: 'linkerd-rotator-state', namespace: 'linkerd-rotator' };
    expect(rotationStateViewOf({ metadata: meta, data: { phase: ' trust-both\n', requiredAnchors: `${fp},\n${'cd'.repeat(32)}` } })).toEqual({
      source: 'ConfigMap linkerd-rotator/linkerd-rotator-state',
      phase: 'trust-both',
      requiredAnchorFingerprints: [fp.toLowerCase(), 'cd'.repeat(32)],
    });
    const bad = rotationStateViewOf({ metadata: meta, data: { phase: 'promote', requiredAnchors: 'nope' } });
    expect(bad.problem).toMatch(/1 entry that are not SHA-256 hex fingerprints/);
    expect(rotationStateViewOf({ metadata: meta }).requiredAnchorFingerprints).toEqual([]);
  });
});
