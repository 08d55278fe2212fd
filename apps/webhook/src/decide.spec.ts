// The admission decision, pure, with real certificates: the trust-roots ConfigMap and the identity
// issuer Secret allowed or denied with the message the user sees, and the rotation state's anchors kept.
import type { TrustSnapshot } from '@linkerd-rotator/kube/caches';
import { DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import type { AdmissionRequest } from './admission.js';
import { classify, decide, NAMESPACE_CONTROLLER } from './decide.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
let seq = 0;

function configMapRequest(operation: AdmissionRequest['operation'], bundle: string | undefined, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  const object = bundle === undefined ? undefined : { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.trustRootsConfigMap, namespace: 'linkerd' }, data: { 'ca-bundle.crt': bundle } };
  return {
    uid: `uid-${++seq}`,
    kind: { group: '', version: 'v1', kind: 'ConfigMap' },
    resource: { group: '', version: 'v1', resource: 'configmaps' },
    name: names.trustRootsConfigMap,
    namespace: 'linkerd',
    operation,
    object,
    userInfo: { username: 'system:serviceaccount:cert-manager:trust-manager' },
    ...extra,
  };
}

function secretRequest(operation: AdmissionRequest['operation'], data: Record<string, string> | undefined, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: `uid-${++seq}`,
    kind: { group: '', version: 'v1', kind: 'Secret' },
    resource: { group: '', version: 'v1', resource: 'secrets' },
    name: names.issuerSecret,
    namespace: names.linkerdNamespace,
    operation,
    object: data && { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: names.issuerSecret, namespace: 'linkerd' }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) },
    ...extra,
  };
}

describe('decide', () => {
  let a: Credentials;
  let b: Credentials;
  let issuerA: Credentials;
  let issuerB: Credentials;
  let snapshot: TrustSnapshot;
  const ctx = () => ({ names, now: new Date() });

  beforeAll(async () => {
    a = await fixtures.makeAnchor();
    b = await fixtures.makeAnchor();
    issuerA = await fixtures.makeIssuer(a);
    issuerB = await fixtures.makeIssuer(b);
    snapshot = {
      activeAnchor: { source: 'Secret cert-manager/linkerd-active-anchor', certPem: a.certPem },
      preparedAnchor: { source: 'Secret cert-manager/linkerd-trust-anchor', certPem: a.certPem },
      previousAnchor: { source: 'Secret cert-manager/linkerd-previous-anchor', certPem: a.certPem },
      issuer: { source: 'Secret linkerd/linkerd-identity-issuer', certPem: issuerA.certPem, caPem: a.certPem },
      trustRoots: { source: 'ConfigMap linkerd/linkerd-identity-trust-roots', pem: a.certPem },
    };
  });

  describe('trust-roots ConfigMap', () => {
    it('allows CREATE and UPDATE of a bundle with the active anchor verifying the issuer', async () => {
      expect(await decide(configMapRequest('CREATE', a.certPem), snapshot, ctx())).toEqual({ allowed: true, object: 'trust-roots', reasons: [], warnings: [] });
      expect((await decide(configMapRequest('UPDATE', fixtures.bundleOf(a, b)), snapshot, ctx())).allowed).toBe(true);
    });

    it('allows in any namespace trust-manager targets, and only for the guarded name', async () => {
      const inViz = configMapRequest('UPDATE', b.certPem, { namespace: 'linkerd-viz' });
      expect((await decide(inViz, snapshot, ctx())).allowed).toBe(false);
      const otherName = configMapRequest('UPDATE', b.certPem, { name: 'something-else' });
      expect(await decide(otherName, snapshot, ctx())).toEqual({ allowed: true, object: 'other', reasons: [], warnings: [] });
    });

    it('denies a bundle without the active anchor with a 403 and a message naming both', async () => {
      const d = await decide(configMapRequest('UPDATE', b.certPem), snapshot, ctx());
      expect(d.allowed).toBe(false);
      expect(d.code).toBe(403);
      expect(d.message).toMatch(/^2 problems: \(1\) .*must contain the active trust anchor.*; \(2\) .*verifies the current identity issuer/);
    });

    it('denies DELETE, except by the namespace controller', async () => {
      const d = await decide(configMapRequest('DELETE', undefined, { oldObject: {} }), snapshot, ctx());
      expect(d).toEqual(expect.objectContaining({ allowed: false, code: 403 }));
      expect(d.message).toMatch(/deleting ConfigMap linkerd\/linkerd-identity-trust-roots is refused.*delete the linkerd-rotator ValidatingWebhookConfiguration first/);
      const byNamespaceController = configMapRequest('DELETE', undefined, { userInfo: { username: NAMESPACE_CONTROLLER } });
      expect((await decide(byNamespaceController, snapshot, ctx())).allowed).toBe(true);
    });

    it('denies a private key pasted into the bundle without echoing it', async () => {
      const d = await decide(configMapRequest('UPDATE', a.certPem + a.keyPem), snapshot, ctx());
      expect(d.allowed).toBe(false);
      expect(d.message).toMatch(/contains a private key/);
      expect(JSON.stringify(d)).not.toContain(a.keyPem.split('\n')[1]);
    });

    it('denies garbage PEM, a missing key, a malformed object and a missing object', async () => {
      expect((await decide(configMapRequest('CREATE', 'garbage'), snapshot, ctx())).message).toMatch(/contains no certificate/);
      const noKey = configMapRequest('CREATE', a.certPem);
      (noKey.object as { data: object }).data = { 'other.crt': a.certPem };
      expect(await decide(noKey, snapshot, ctx())).toEqual(expect.objectContaining({ allowed: false, code: 400, message: expect.stringMatching(/no data key "ca-bundle.crt"/) }));
      const malformed = configMapRequest('CREATE', a.certPem, { object: { metadata: { name: names.trustRootsConfigMap }, data: { 'ca-bundle.crt': 42 } } });
      expect(await decide(malformed, snapshot, ctx())).toEqual(expect.objectContaining({ allowed: false, code: 400, message: expect.stringMatching(/not a well-formed ConfigMap/) }));
      expect(await decide(configMapRequest('CREATE', undefined), snapshot, ctx())).toEqual(expect.objectContaining({ allowed: false, code: 400, message: expect.stringMatching(/carries no object/) }));
    });

    it('reads the bundle from binaryData too', async () => {
      const req = configMapRequest('CREATE', a.certPem, { object: { metadata: { name: names.trustRootsConfigMap }, binaryData: { 'ca-bundle.crt': b64(b.certPem) } } });
      expect((await decide(req, snapshot, ctx())).allowed).toBe(false);
    });

    it('keeps the anchors the rotation state requires, and fails closed on unreadable state', async () => {
      const rotating: TrustSnapshot = {
        ...snapshot,
        activeAnchor: { source: 'Secret cert-manager/linkerd-active-anchor', certPem: b.certPem },
        issuer: { source: 'Secret linkerd/linkerd-identity-issuer', certPem: issuerB.certPem },
        rotation: { source: 'ConfigMap linkerd-rotator/linkerd-rotator-state', phase: 'promote', requiredAnchorFingerprints: [a.fingerprint, b.fingerprint] },
      };
      expect((await decide(configMapRequest('UPDATE', fixtures.bundleOf(a, b)), rotating, ctx())).allowed).toBe(true);
      const early = await decide(configMapRequest('UPDATE', b.certPem), rotating, ctx());
      expect(early.message).toMatch(/must keep the anchor sha256:[0-9a-f]{16} required by the rotation in phase "promote"/);
      const broken = { ...rotating, rotation: { ...rotating.rotation!, problem: 'bad fingerprints' } };
      expect((await decide(configMapRequest('UPDATE', fixtures.bundleOf(a, b)), broken, ctx())).message).toMatch(/rotation state cannot be read \(bad fingerprints\)/);
    });

    it('does not block an update that leaves an already-bad bundle unchanged, but warns', async () => {
      const req = configMapRequest('UPDATE', b.certPem, { oldObject: { metadata: { name: names.trustRootsConfigMap }, data: { 'ca-bundle.crt': b.certPem } } });
      const d = await decide(req, snapshot, ctx());
      expect(d.allowed).toBe(true);
      expect(d.warnings[0]).toMatch(/unchanged by this update, but would be refused if written now/);
    });

    it('warns about expired and duplicate anchors', async () => {
      const expired = await fixtures.makeExpiredAnchor();
      const d = await decide(configMapRequest('UPDATE', fixtures.bundleOf(a, expired, a)), snapshot, ctx());
      expect(d.allowed).toBe(true);
      expect(d.warnings).toEqual([expect.stringMatching(/expired at/), expect.stringMatching(/appears more than once/)]);
    });

    it('enforces the configured size bound', async () => {
      const d = await decide(configMapRequest('UPDATE', a.certPem), snapshot, { ...ctx(), limits: { maxBytes: 100 } });
      expect(d.message).toMatch(/over the limit of 100/);
    });

    it('refuses guarded writes until the snapshot is synced', async () => {
      const d = await decide(configMapRequest('UPDATE', a.certPem), snapshot, { ...ctx(), synced: false });
      expect(d).toEqual(expect.objectContaining({ allowed: false, code: 503 }));
      expect((await decide(configMapRequest('UPDATE', a.certPem, { name: 'other' }), snapshot, { ...ctx(), synced: false })).allowed).toBe(true);
    });

    it('warns rather than denies when the active anchor is not known yet (before bootstrap)', async () => {
      const d = await decide(configMapRequest('CREATE', b.certPem), {}, ctx());
      expect(d.allowed).toBe(true);
      expect(d.warnings).toEqual([expect.stringMatching(/active trust anchor is not known/)]);
    });
  });

  describe('identity issuer Secret', () => {
    it('allows a CA issuer with its key, chained to the current bundle', async () => {
      const d = await decide(secretRequest('UPDATE', { 'tls.crt': issuerA.certPem, 'tls.key': issuerA.keyPemTraditional, 'ca.crt': a.certPem }), snapshot, ctx());
      expect(d).toEqual({ allowed: true, object: 'identity-issuer', reasons: [], warnings: [] });
    });

    it('denies an issuer from an anchor not in the bundle (I2)', async () => {
      const d = await decide(secretRequest('UPDATE', { 'tls.crt': issuerB.certPem, 'tls.key': issuerB.keyPem }), snapshot, ctx());
      expect(d.allowed).toBe(false);
      expect(d.message).toMatch(/must chain to an anchor in the current trust bundle \(ConfigMap linkerd\/linkerd-identity-trust-roots\)/);
    });

    it('denies a mismatched key and a missing tls.crt', async () => {
      expect((await decide(secretRequest('CREATE', { 'tls.crt': issuerA.certPem, 'tls.key': issuerB.keyPem }), snapshot, ctx())).message).toMatch(/does not belong/);
      expect(await decide(secretRequest('CREATE', { 'tls.key': issuerA.keyPem }), snapshot, ctx())).toEqual(expect.objectContaining({ allowed: false, code: 400 }));
    });

    it('accepts stringData as well as data', async () => {
      const req = secretRequest('CREATE', undefined, { object: { metadata: { name: names.issuerSecret }, stringData: { 'tls.crt': issuerA.certPem, 'tls.key': issuerA.keyPem } } });
      expect((await decide(req, snapshot, ctx())).allowed).toBe(true);
    });

    it('allows DELETE (cert-manager re-issues) and ignores Secrets with other names or namespaces', async () => {
      expect((await decide(secretRequest('DELETE', undefined), snapshot, ctx())).allowed).toBe(true);
      const elsewhere = secretRequest('UPDATE', { 'tls.crt': 'junk' }, { namespace: 'default' });
      expect(await decide(elsewhere, snapshot, ctx())).toEqual(expect.objectContaining({ allowed: true, object: 'other' }));
    });
  });

  it('classifies by the object name when the request has none (generateName)', () => {
    const req = configMapRequest('CREATE', a.certPem, { name: '' });
    expect(classify(req, names)).toBe('trust-roots');
    expect(classify({ ...req, resource: { group: 'apps', version: 'v1', resource: 'configmaps' } }, names)).toBe('other');
  });
});
