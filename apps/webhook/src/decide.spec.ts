// The admission decision, pure, with real certificates: the trust-roots ConfigMap and the identity
// issuer Secret allowed or denied with the message the user sees, and the rotation state's anchors kept.
import type { TrustSnapshot } from '@linkerd-rotator/kube/caches';
import { DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
import { crossSign } from '@linkerd-rotator/x509';
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

/** The webhook's snapshot with `anchor` in the prepared, active and previous Secrets, `issuer` (signed by `issuerAnchor`) and the published bundle. */
function pkiOf(parts: { anchor: Credentials; issuer: Credentials; issuerAnchor: Credentials; trustRoots: Credentials }): TrustSnapshot {
  return {
    activeAnchor: { source: 'Secret cert-manager/linkerd-active-anchor', certPem: parts.anchor.certPem },
    preparedAnchor: { source: 'Secret cert-manager/linkerd-trust-anchor', certPem: parts.anchor.certPem },
    previousAnchor: { source: 'Secret cert-manager/linkerd-previous-anchor', certPem: parts.anchor.certPem },
    issuer: { source: 'Secret linkerd/linkerd-identity-issuer', certPem: parts.issuer.certPem, caPem: parts.issuerAnchor.certPem },
    trustRoots: { source: 'ConfigMap linkerd/linkerd-identity-trust-roots', pem: parts.trustRoots.certPem },
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
    snapshot = pkiOf({ anchor: a, issuer: issuerA, issuerAnchor: a, trustRoots: a });
  });

  describe('trust-roots ConfigMap', () => {
    it('allows CREATE and UPDATE of a bundle with the active anchor verifying the issuer', async () => {
      expect(await decide(configMapRequest('CREATE', a.certPem), snapshot, ctx())).toEqual({ allowed: true, object: 'trust-roots', reasons: [], warnings: [] });
      const prepared = { ...snapshot, preparedAnchor: { source: 'Secret cert-manager/linkerd-trust-anchor', certPem: b.certPem } };
      expect((await decide(configMapRequest('UPDATE', fixtures.bundleOf(a, b)), prepared, ctx())).allowed).toBe(true);
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
      expect(d.message).toMatch(/^3 problems: \(1\) .*is not an anchor of this install.*; \(2\) .*must contain the active trust anchor.*; \(3\) .*verifies the current identity issuer/);
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
      const retiring = { ...snapshot, previousAnchor: { source: 'Secret cert-manager/linkerd-previous-anchor', certPem: expired.certPem } };
      const d = await decide(configMapRequest('UPDATE', fixtures.bundleOf(a, expired, a)), retiring, ctx());
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
      expect(d.warnings).toEqual([expect.stringMatching(/no anchor Secret is known/), expect.stringMatching(/active trust anchor is not known/)]);
    });
  });

  describe('while the public PKI view is not known (issue 14 item 6)', () => {
    const unknown = () => ({ pkiUnknown: 'the public PKI view ConfigMap linkerd-rotator/linkerd-rotator-public-pki does not exist; it is written by the exporter', trustRoots: snapshot.trustRoots! });

    it('denies a new bundle and a new issuer with the message naming the exporter and the ConfigMap, where an absent Secret would have allowed them', async () => {
      // With the anchor Secrets absent (before bootstrap) both would be allowed: a missing view is not that.
      expect((await decide(configMapRequest('CREATE', b.certPem), { trustRoots: snapshot.trustRoots! }, ctx())).allowed).toBe(true);
      const bundle = await decide(configMapRequest('CREATE', b.certPem), unknown(), ctx());
      expect(bundle).toMatchObject({ allowed: false, code: 403 });
      expect(bundle.message).toContain('linkerd-rotator-public-pki');
      expect(bundle.message).toContain('exporter');
      const issuer = await decide(secretRequest('CREATE', { 'tls.crt': issuerA.certPem, 'tls.key': issuerA.keyPem, 'ca.crt': a.certPem }), unknown(), ctx());
      expect(issuer).toMatchObject({ allowed: false, code: 403 });
      expect(issuer.message).toContain('linkerd-rotator-public-pki');
    });

    it('still allows an update that leaves the bundle or the credentials as they are, with the problem as a warning', async () => {
      const bundle = await decide(configMapRequest('UPDATE', a.certPem, { oldObject: configMapRequest('UPDATE', a.certPem).object }), unknown(), ctx());
      expect(bundle.allowed).toBe(true);
      expect(bundle.warnings.join(' ')).toContain('linkerd-rotator-public-pki');
      const data = { 'tls.crt': issuerA.certPem, 'tls.key': issuerA.keyPem };
      const issuer = await decide(secretRequest('UPDATE', data, { oldObject: secretRequest('UPDATE', data).object }), unknown(), ctx());
      expect(issuer.allowed).toBe(true);
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
      expect(d.message).toMatch(/must chain to the active anchor .* \(Secret cert-manager\/linkerd-active-anchor\), but it does not/);
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

  describe('after a cross-signed promotion (active Secret tls.crt = [X], anchor.crt = B)', () => {
    // A (old) and B (new) are named alike, as in Linkerd's cert-manager setup; X carries B's subject
    // and key, signed by A; cert-manager then writes the issuer Secret as tls.crt [I_B, X], ca.crt X.
    let x: string;
    let promoted: TrustSnapshot;
    const issuerSecret = (overrides: Record<string, string> = {}) =>
      secretRequest('UPDATE', { 'tls.crt': fixtures.bundleOf(issuerB) + x, 'tls.key': issuerB.keyPemTraditional, 'ca.crt': x, ...overrides });

    beforeAll(async () => {
      x = await crossSign({ subject: b.certPem, issuer: a.certPem, issuerKey: a.keyPem });
      promoted = {
        // What the caches hand out: the active anchor is anchor.crt (B), never tls.crt (X).
        activeAnchor: { source: 'Secret cert-manager/linkerd-active-anchor', certPem: b.certPem },
        preparedAnchor: { source: 'Secret cert-manager/linkerd-trust-anchor', certPem: b.certPem },
        previousAnchor: { source: 'Secret cert-manager/linkerd-previous-anchor', certPem: a.certPem },
        issuer: { source: 'Secret linkerd/linkerd-identity-issuer', certPem: fixtures.bundleOf(issuerB) + x, caPem: x },
        trustRoots: { source: 'ConfigMap linkerd/linkerd-identity-trust-roots', pem: fixtures.bundleOf(a, b) },
      };
    });

    it('allows the issuer Secret cert-manager writes, [I_B, X] with ca.crt X, without a warning', async () => {
      expect(await decide(issuerSecret(), promoted, ctx())).toEqual({ allowed: true, object: 'identity-issuer', reasons: [], warnings: [] });
    });

    it('allows it after Retire too (bundle {B}: I_B chains to B, X is unused), noting that ca.crt is not an anchor', async () => {
      const retired = { ...promoted, trustRoots: { ...promoted.trustRoots!, pem: b.certPem } };
      const d = await decide(issuerSecret(), retired, ctx());
      expect(d.allowed).toBe(true);
      expect(d.warnings).toEqual([expect.stringMatching(/^ca\.crt of Secret linkerd\/linkerd-identity-issuer is .*, which is not in the current trust bundle/)]);
    });

    it('still denies an issuer that reaches the bundle only through a cross-signature it does not verify under', async () => {
      // The bundle holds only A: I_B reaches it through X alone, so a forged X (A's name, another key) must not pass.
      const impostorOfA = await fixtures.makeImpostor(a);
      const forged = await crossSign({ subject: b.certPem, issuer: impostorOfA.certPem, issuerKey: impostorOfA.keyPem });
      const onlyA = { ...promoted, trustRoots: { ...promoted.trustRoots!, pem: a.certPem } };
      const d = await decide(issuerSecret({ 'tls.crt': fixtures.bundleOf(issuerB) + forged, 'ca.crt': forged }), onlyA, ctx());
      expect(d.allowed).toBe(false);
      expect(d.message).toMatch(/must chain to an anchor in the current trust bundle/);
      // The genuine X does reach A: a valid chain, as webpki builds it for a proxy that trusts only A.
      expect((await decide(issuerSecret(), onlyA, ctx())).allowed).toBe(true);
    });

    it('denies a chain through an expired X when the bundle holds only A (the issuer itself still valid)', async () => {
      const shortA = await fixtures.makeAnchor({ notAfter: fixtures.hoursFromNow(10) });
      const longB = await fixtures.makeAnchor();
      const shortX = await crossSign({ subject: longB.certPem, issuer: shortA.certPem, issuerKey: shortA.keyPem });
      const issuer = await fixtures.makeIssuer(longB);
      const onlyA = { ...promoted, activeAnchor: { ...promoted.activeAnchor!, certPem: longB.certPem }, trustRoots: { ...promoted.trustRoots!, pem: shortA.certPem } };
      const request = issuerSecret({ 'tls.crt': fixtures.bundleOf(issuer) + shortX, 'tls.key': issuer.keyPem, 'ca.crt': shortX });
      expect((await decide(request, onlyA, ctx())).allowed).toBe(true);
      const d = await decide(request, onlyA, { names, now: fixtures.hoursFromNow(20) });
      expect(d.allowed).toBe(false);
      // Only the time moved: X (and A) ended at 10 h, the issuer and B are valid.
      expect(d.reasons).toEqual([expect.stringMatching(/must chain to an anchor in the current trust bundle/)]);
    });

    it('still denies an issuer from an unrelated anchor that carries X beside it', async () => {
      const c = await fixtures.makeAnchor({ cn: 'elsewhere.example' });
      const issuerC = await fixtures.makeIssuer(c);
      const d = await decide(issuerSecret({ 'tls.crt': fixtures.bundleOf(issuerC) + x, 'tls.key': issuerC.keyPem }), promoted, ctx());
      expect(d.allowed).toBe(false);
      expect(d.message).toMatch(/must chain to the active anchor .* but it does not/);
    });

    it('allows the bundles of the rotation without X: {A, B} while pods trust A, {B} after Retire', async () => {
      expect(await decide(configMapRequest('UPDATE', fixtures.bundleOf(a, b)), promoted, ctx())).toEqual({ allowed: true, object: 'trust-roots', reasons: [], warnings: [] });
      expect((await decide(configMapRequest('UPDATE', b.certPem), promoted, ctx())).allowed).toBe(true);
    });

    it('denies a bundle without the active anchor B even though X, in its issuer chain, reaches A', async () => {
      const d = await decide(configMapRequest('UPDATE', a.certPem), promoted, ctx());
      expect(d.allowed).toBe(false);
      expect(d.reasons).toEqual([expect.stringMatching(/must contain the active trust anchor/)]);
    });

    it('denies a bundle that carries X itself: a cross-signature is not an anchor, it belongs in the issuer chain', async () => {
      const d = await decide(configMapRequest('UPDATE', fixtures.bundleOf(a, b) + x), promoted, ctx());
      expect(d.allowed).toBe(false);
      expect(d.reasons).toEqual([expect.stringMatching(/^certificate 3 .* is a cross-signature of .* by .*, not a trust anchor: it belongs in the identity issuer's chain/)]);
      // After Retire A is in no anchor Secret but the active Secret's cross-signer.crt: X is still named.
      const retired = { ...promoted, previousAnchor: { ...promoted.previousAnchor!, certPem: b.certPem }, activeAnchor: { ...promoted.activeAnchor!, crossSignerPem: a.certPem } };
      const late = await decide(configMapRequest('UPDATE', b.certPem + x), retired, ctx());
      expect(late.reasons).toEqual([expect.stringMatching(/^certificate 2 .* is a cross-signature of/)]);
    });
  });

  describe("the rotation's own writes in every phase, and nothing else (issue 14 items 1 and 3)", () => {
    // A is the active anchor until promotion, B the prepared one; the rotation state pins A from
    // Prepare to Promote and B once promoted (libs/rotation requiredAnchors).
    const T = 'Secret cert-manager/linkerd-trust-anchor';
    const ACT = 'Secret cert-manager/linkerd-active-anchor';
    const PREV = 'Secret cert-manager/linkerd-previous-anchor';
    const STATE = 'ConfigMap linkerd-rotator/linkerd-rotator-state';
    let x: string;
    const at = (phase: string, anchors: { prepared: Credentials; active: Credentials; previous: Credentials }, required: Credentials[], bundle: string): TrustSnapshot => ({
      preparedAnchor: { source: T, certPem: anchors.prepared.certPem },
      activeAnchor: { source: ACT, certPem: anchors.active.certPem },
      previousAnchor: { source: PREV, certPem: anchors.previous.certPem },
      trustRoots: { source: 'ConfigMap linkerd/linkerd-identity-trust-roots', pem: bundle },
      ...(phase === 'Idle' ? {} : { rotation: { source: STATE, phase, requiredAnchorFingerprints: required.map((c) => c.fingerprint) } }),
    });
    const issuerWrite = (issuer: Credentials, chain = '') => secretRequest('UPDATE', { 'tls.crt': issuer.certPem + chain, 'tls.key': issuer.keyPemTraditional, 'ca.crt': chain || issuer.certPem });
    // trust-manager's text: blocks joined by one line break, the end trimmed (pkg/util CertPool.PEM).
    const published = (...anchors: Credentials[]) => fixtures.bundleOf(...anchors).trimEnd();

    beforeAll(async () => {
      x = await crossSign({ subject: b.certPem, issuer: a.certPem, issuerKey: a.keyPem });
    });

    // Before promotion: A signs; B is only published.
    const beforePromotion = (): Array<[string, TrustSnapshot]> => [
      ['Idle, B prepared', at('Idle', { prepared: b, active: a, previous: a }, [], published(a, b))],
      ['Prepare', at('Prepare', { prepared: b, active: a, previous: a }, [a], published(a, b))],
      ['TrustBoth', at('TrustBoth', { prepared: b, active: a, previous: a }, [a], published(a, b))],
      ['Stopped in TrustBoth', at('Stopped in TrustBoth', { prepared: b, active: a, previous: a }, [a], published(a, b))],
      ['Promote, not yet promoted', at('Promote', { prepared: b, active: a, previous: a }, [a], published(a, b))],
    ];

    it('denies an issuer signed by the prepared anchor before promotion, naming both anchors', async () => {
      for (const [phase, snap] of beforePromotion()) {
        const d = await decide(issuerWrite(issuerB), snap, ctx());
        expect([phase, d.allowed]).toEqual([phase, false]);
        expect(d.reasons).toEqual([
          expect.stringMatching(new RegExp(`must chain to the active anchor .*sha256:${a.fingerprint.slice(0, 16)}.*, but it chains to .*sha256:${b.fingerprint.slice(0, 16)}.*, another anchor of`)),
        ]);
        expect((await decide(issuerWrite(issuerA), snap, ctx())).reasons).toEqual([]);
      }
    });

    it('allows the issuer chained to the new anchor once promoted (also while the active Secret still lags), in both strategies', async () => {
      const promoted = at('Promote', { prepared: b, active: b, previous: a }, [a, b], published(a, b));
      const recorded = at('Promote', { prepared: b, active: a, previous: a }, [a, b], published(a, b));
      const retire = at('Retire', { prepared: b, active: b, previous: a }, [b], published(a, b));
      const retired = at('Retire', { prepared: b, active: b, previous: b }, [b], published(b));
      const done = at('Done', { prepared: b, active: b, previous: b }, [], published(b));
      for (const snap of [promoted, recorded, retire, retired, done]) {
        expect((await decide(issuerWrite(issuerB), snap, ctx())).reasons).toEqual([]);
      }
      // Cross-signed: [I_B, X] with ca.crt X; the active anchor is anchor.crt (B).
      for (const snap of [promoted, retire, retired, done]) {
        const crossSigned = { ...snap, activeAnchor: { ...snap.activeAnchor!, crossSignerPem: a.certPem } };
        expect((await decide(issuerWrite(issuerB, x), crossSigned, ctx())).reasons).toEqual([]);
      }
      // After promotion the old anchor signs nothing any more.
      expect((await decide(issuerWrite(issuerA), promoted, ctx())).reasons).toEqual([
        expect.stringMatching(new RegExp(`must chain to the active anchor .*sha256:${b.fingerprint.slice(0, 16)}.*, but it chains to .*sha256:${a.fingerprint.slice(0, 16)}`)),
      ]);
      // While the active Secret lags the recorded promotion, both may sign, and the message names both.
      const byC = await fixtures.makeIssuer(await fixtures.makeAnchor({ cn: 'c.example' }));
      expect((await decide(issuerWrite(byC), recorded, ctx())).message).toMatch(/must chain to the active anchor .* or the rotation's promoted anchor \(phase "Promote"\) .*Secret cert-manager\/linkerd-trust-anchor/);
    });

    it("does not block an update that leaves an issuer the rules would now refuse as it is, but warns", async () => {
      const [, idle] = beforePromotion()[0]!;
      const same = { ...issuerWrite(issuerB), oldObject: issuerWrite(issuerB).object };
      const d = await decide(same, idle, ctx());
      expect(d.allowed).toBe(true);
      expect(d.warnings[0]).toMatch(/tls.crt and tls.key are unchanged by this update, but would be refused if written now: .* must chain to the active anchor/);
    });

    it("admits the rotation's bundles in every phase, as trust-manager writes them, in both strategies", async () => {
      const phases: Array<[string, TrustSnapshot, Credentials[][]]> = [
        ['Idle', at('Idle', { prepared: a, active: a, previous: a }, [], published(a)), [[a]]],
        ...beforePromotion().map(([phase, snap]): [string, TrustSnapshot, Credentials[][]] => [phase, snap, [[a, b], [b, a]]]),
        ['Promote', at('Promote', { prepared: b, active: b, previous: a }, [a, b], published(a, b)), [[a, b]]],
        ['Retire', at('Retire', { prepared: b, active: b, previous: a }, [b], published(a, b)), [[a, b], [b]]],
        ['Retire, previous written', at('Retire', { prepared: b, active: b, previous: b }, [b], published(b)), [[b]]],
        ['Done', at('Done', { prepared: b, active: b, previous: b }, [], published(b)), [[b]]],
      ];
      for (const [phase, snap, bundles] of phases) {
        for (const crossSigned of [false, true]) {
          const view = crossSigned && snap.activeAnchor!.certPem === b.certPem ? { ...snap, activeAnchor: { ...snap.activeAnchor!, crossSignerPem: a.certPem } } : snap;
          for (const bundle of bundles) {
            const d = await decide(configMapRequest('UPDATE', published(...bundle)), view, ctx());
            expect([phase, crossSigned, d.reasons]).toEqual([phase, crossSigned, []]);
          }
        }
      }
    });

    it('denies any other CA in every phase, naming it and what to do', async () => {
      const attacker = await fixtures.makeAnchor({ cn: 'attacker.example' });
      for (const [phase, snap] of beforePromotion()) {
        const d = await decide(configMapRequest('UPDATE', published(a, b, attacker)), snap, ctx());
        expect([phase, d.allowed]).toEqual([phase, false]);
        expect(d.reasons).toEqual([
          expect.stringMatching(new RegExp(`^certificate 3 "CN=attacker.example" \\(sha256:${attacker.fingerprint.slice(0, 16)}\\) is not an anchor of this install: .* the prepared anchor .* the active and previous anchor .* remove it`)),
        ]);
      }
    });

    it("denies a bundle Linkerd's identity controller would refuse or cut short, naming the line", async () => {
      const [, snap] = beforePromotion()[2]!;
      const lines = fixtures.bundleOf(a, b).split('\n').length;
      const blank = await decide(configMapRequest('UPDATE', `${fixtures.bundleOf(a, b)}\n`), snap, ctx());
      expect(blank.reasons).toEqual([expect.stringMatching(new RegExp(`line ${lines} starts an extra blank or whitespace-only line after the last complete block; Linkerd's identity controller refuses to start`))]);
      const comment = await decide(configMapRequest('UPDATE', `${fixtures.bundleOf(a, b)}# added by hand\n`), snap, ctx());
      expect(comment.reasons).toEqual([expect.stringMatching(new RegExp(`line ${lines} starts text that is no PEM block`))]);
      const crlf = await decide(configMapRequest('UPDATE', fixtures.bundleOf(a, b).replace(/\n/g, '\r\n')), snap, ctx());
      expect(crlf.reasons).toEqual([]);
    });
  });

  // Issue 15: after the active anchor expired, recovery writes a new anchor into every anchor Secret;
  // trust-manager must then publish a bundle without the anchor the old (dead) issuer chains to, and
  // cert-manager an issuer under the new anchor. Nothing else is relaxed.
  describe('while a recovery runs (rotation state phase Recover)', () => {
    let expired: Credentials;
    let issuerExpired: Credentials;
    let fresh: Credentials;
    let foreign: Credentials;
    let recovering: TrustSnapshot;
    const source = 'ConfigMap linkerd-rotator/linkerd-rotator-state';
    beforeAll(async () => {
      expired = await fixtures.makeExpiredAnchor();
      issuerExpired = await fixtures.makeIssuer(expired, { notBefore: fixtures.daysFromNow(-3), notAfter: fixtures.daysFromNow(-2) });
      fresh = await fixtures.makeAnchor();
      foreign = await fixtures.makeAnchor();
      // the runner wrote the new anchor into the active and previous Secrets; the issuer is still the dead one
      recovering = { ...pkiOf({ anchor: fresh, issuer: issuerExpired, issuerAnchor: expired, trustRoots: expired }), rotation: { source, phase: 'Recover', requiredAnchorFingerprints: [], recovering: true } };
    });

    it('control: outside a recovery, trust-manager cannot drop the anchor of the dead issuer, so no write of the trust roots gets through', async () => {
      const idle = { ...recovering, rotation: { source, phase: 'Idle', requiredAnchorFingerprints: [] } };
      const d = await decide(configMapRequest('UPDATE', fresh.certPem), idle, ctx());
      expect(d.allowed).toBe(false);
      expect(d.message).toMatch(/must contain an anchor that verifies the current identity issuer/);
    });

    it('allows trust-manager\'s bundle of the new anchor, saying why the dead issuer is not verified', async () => {
      const d = await decide(configMapRequest('UPDATE', fresh.certPem), recovering, ctx());
      expect([d.allowed, d.reasons]).toEqual([true, []]);
      expect(d.warnings).toContainEqual(expect.stringMatching(/does not verify the current identity issuer .*: allowed because a recovery .*phase "Recover".* replaces the issuer/));
      const stopped = { ...recovering, rotation: { source, phase: 'Stopped in Recover', requiredAnchorFingerprints: [], recovering: true } };
      expect((await decide(configMapRequest('UPDATE', fresh.certPem), stopped, ctx())).allowed).toBe(true);
    });

    it('still denies a foreign anchor, a bundle without the active anchor, and a private key', async () => {
      const withForeign = await decide(configMapRequest('UPDATE', fixtures.bundleOf(fresh, foreign)), recovering, ctx());
      expect([withForeign.allowed, withForeign.message]).toEqual([false, expect.stringMatching(/is not an anchor of this install/)]);
      const withoutActive = await decide(configMapRequest('UPDATE', expired.certPem), recovering, ctx());
      expect([withoutActive.allowed, withoutActive.message]).toEqual([false, expect.stringMatching(/must contain the active trust anchor/)]);
      expect((await decide(configMapRequest('UPDATE', fresh.certPem + fresh.keyPem), recovering, ctx())).allowed).toBe(false);
    });

    it('then admits cert-manager\'s issuer under the new anchor, and no issuer under another', async () => {
      const published = { ...recovering, trustRoots: { source: 'ConfigMap linkerd/linkerd-identity-trust-roots', pem: fresh.certPem } };
      const renewed = await fixtures.makeIssuer(fresh);
      expect((await decide(secretRequest('UPDATE', { 'tls.crt': renewed.certPem, 'tls.key': renewed.keyPem, 'ca.crt': fresh.certPem }), published, ctx())).allowed).toBe(true);
      const underForeign = await fixtures.makeIssuer(foreign);
      expect((await decide(secretRequest('UPDATE', { 'tls.crt': underForeign.certPem, 'tls.key': underForeign.keyPem, 'ca.crt': foreign.certPem }), published, ctx())).allowed).toBe(false);
    });
  });

  describe('bypasses of the DELETE guard (issue 14 item 2)', () => {
    const admin = { username: 'kubernetes-admin', groups: ['system:masters'] };
    const trustManager = 'system:serviceaccount:cert-manager:trust-manager';
    const bundleOwner = { apiVersion: 'trust.cert-manager.io/v1alpha1', kind: 'Bundle', name: names.trustRootsConfigMap, uid: 'b-1', controller: true, blockOwnerDeletion: true };
    const dangling = { apiVersion: 'v1', kind: 'Pod', name: 'gone', uid: 'does-not-exist' };
    const configMap = (ownerReferences: object[] | undefined, labels: Record<string, string> = {}) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: names.trustRootsConfigMap, namespace: 'linkerd', labels, ...(ownerReferences ? { ownerReferences } : {}) },
      data: { 'ca-bundle.crt': a.certPem },
    });

    it('(b) a collection delete (no request.name, the object in oldObject) is classified and denied, naming the ConfigMap', async () => {
      // What the API server sends for `kubectl delete configmap --all -n linkerd`: DELETE per object
      // with the collection's static attributes (apiserver rest.AdmissionToValidateObjectDeleteFunc).
      const collection = configMapRequest('DELETE', undefined, { name: '', oldObject: configMap([bundleOwner]), userInfo: admin });
      expect(classify(collection, names)).toBe('trust-roots');
      const d = await decide(collection, snapshot, ctx());
      expect(d).toEqual(expect.objectContaining({ allowed: false, code: 403 }));
      expect(d.message).toMatch(/^deleting ConfigMap linkerd\/linkerd-identity-trust-roots is refused.*to uninstall, delete the linkerd-rotator ValidatingWebhookConfiguration first/);
      const other = configMapRequest('DELETE', undefined, { name: '', oldObject: { metadata: { name: 'unrelated', namespace: 'linkerd' } }, userInfo: admin });
      expect(await decide(other, snapshot, ctx())).toEqual({ allowed: true, object: 'other', reasons: [], warnings: [] });
    });

    it('(a) an UPDATE that adds or changes ownerReferences is denied unless trust-manager makes it; removing them is judged as any update', async () => {
      const added = configMapRequest('UPDATE', a.certPem, { object: configMap([bundleOwner, dangling]), oldObject: configMap([bundleOwner]), userInfo: admin });
      const d = await decide(added, snapshot, ctx());
      expect(d).toEqual(expect.objectContaining({ allowed: false, code: 403 }));
      expect(d.message).toMatch(
        /^changing the ownerReferences of ConfigMap linkerd\/linkerd-identity-trust-roots is refused \(Pod gone, uid does-not-exist added\): .*garbage collector deletes .* only system:serviceaccount:cert-manager:trust-manager \(trust-manager\) may change them/,
      );
      const fromNone = configMapRequest('UPDATE', a.certPem, { object: configMap([dangling]), oldObject: configMap(undefined), userInfo: admin });
      expect((await decide(fromNone, snapshot, ctx())).allowed).toBe(false);
      const changed = configMapRequest('UPDATE', a.certPem, { object: configMap([{ ...bundleOwner, uid: 'b-2' }]), oldObject: configMap([bundleOwner]), userInfo: admin });
      expect((await decide(changed, snapshot, ctx())).message).toMatch(/\(Bundle linkerd-identity-trust-roots, uid b-2 added; Bundle linkerd-identity-trust-roots, uid b-1 removed\)/);
      // Even while the cache is not synced: the rule reads the request only.
      expect((await decide(added, snapshot, { ...ctx(), synced: false })).code).toBe(403);

      // trust-manager sets its Bundle as the owner (also after the Bundle was re-created).
      expect((await decide({ ...changed, userInfo: { username: trustManager } }, snapshot, ctx())).allowed).toBe(true);
      // Configurable (--allow-owner-references-by), derived from the trust namespace by default.
      const elsewhere = { ...ctx(), names: { ...names, trustNamespace: 'trust' } };
      expect((await decide({ ...changed, userInfo: { username: 'system:serviceaccount:trust:trust-manager' } }, snapshot, elsewhere)).allowed).toBe(true);
      expect((await decide({ ...changed, userInfo: { username: trustManager } }, snapshot, elsewhere)).allowed).toBe(false);
      expect((await decide(changed, snapshot, { ...ctx(), allowOwnerReferencesBy: [admin.username] })).allowed).toBe(true);

      // Removing owners cannot make the garbage collector delete it (kubectl replace of a manifest without them does it).
      const removed = configMapRequest('UPDATE', a.certPem, { object: configMap(undefined), oldObject: configMap([bundleOwner]), userInfo: admin });
      expect(await decide(removed, snapshot, ctx())).toEqual({ allowed: true, object: 'trust-roots', reasons: [], warnings: [] });
      const removedBadBundle = configMapRequest('UPDATE', b.certPem, { object: { ...configMap(undefined), data: { 'ca-bundle.crt': b.certPem } }, oldObject: configMap([bundleOwner]), userInfo: admin });
      expect((await decide(removedBadBundle, snapshot, ctx())).message).toMatch(/must contain the active trust anchor/);
    });

    it('(a) an UPDATE that leaves the ownerReferences as they are (order of fields aside) is judged as before', async () => {
      const reordered = { blockOwnerDeletion: true, controller: true, uid: 'b-1', name: names.trustRootsConfigMap, kind: 'Bundle', apiVersion: 'trust.cert-manager.io/v1alpha1' };
      const labelled = configMapRequest('UPDATE', a.certPem, { object: configMap([reordered], { 'example.com/x': 'y' }), oldObject: configMap([bundleOwner]), userInfo: admin });
      expect(await decide(labelled, snapshot, ctx())).toEqual({ allowed: true, object: 'trust-roots', reasons: [], warnings: [] });
    });

    describe('the Bundle that owns the ConfigMaps', () => {
      const bundleSpec = {
        sources: [{ secret: { name: 'linkerd-trust-anchor', key: 'tls.crt' } }, { secret: { name: 'linkerd-active-anchor', key: 'anchor.crt' } }],
        target: { configMap: { key: 'ca-bundle.crt' }, namespaceSelector: { matchLabels: { 'linkerd.io/is-control-plane': 'true' } } },
      };
      const bundle = (spec: object, extra: object = {}) => ({ apiVersion: 'trust.cert-manager.io/v1alpha1', kind: 'Bundle', metadata: { name: names.trustRootsConfigMap, ...extra }, spec });
      const bundleRequest = (operation: AdmissionRequest['operation'], object: unknown, oldObject: unknown, extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
        uid: `uid-${++seq}`,
        kind: { group: 'trust.cert-manager.io', version: 'v1alpha1', kind: 'Bundle' },
        resource: { group: 'trust.cert-manager.io', version: 'v1alpha1', resource: 'bundles' },
        name: names.trustRootsConfigMap,
        operation,
        object,
        oldObject,
        userInfo: admin,
        ...extra,
      });

      it('is classified by group, resource and name (Bundle and ClusterBundle), not by its status subresource', () => {
        expect(classify(bundleRequest('DELETE', null, bundle(bundleSpec)), names)).toBe('trust-bundle');
        expect(classify(bundleRequest('DELETE', null, bundle(bundleSpec), { name: '' }), names)).toBe('trust-bundle');
        const cluster = bundleRequest('DELETE', null, null, { resource: { group: 'trust-manager.io', version: 'v1alpha2', resource: 'clusterbundles' } });
        expect(classify(cluster, names)).toBe('trust-bundle');
        expect(classify(bundleRequest('DELETE', null, null, { name: 'another-bundle' }), names)).toBe('other');
        expect(classify(bundleRequest('UPDATE', bundle(bundleSpec), bundle(bundleSpec), { subResource: 'status' }), names)).toBe('other');
      });

      it('denies DELETE, saying that the garbage collector would delete every trust-roots ConfigMap and how to uninstall', async () => {
        for (const req of [bundleRequest('DELETE', null, bundle(bundleSpec)), bundleRequest('DELETE', null, bundle(bundleSpec), { name: '' })]) {
          const d = await decide(req, snapshot, ctx());
          expect(d).toEqual(expect.objectContaining({ allowed: false, code: 403, object: 'trust-bundle' }));
          expect(d.message).toMatch(
            /^deleting Bundle linkerd-identity-trust-roots is refused: trust-manager owns every trust-roots ConfigMap linkerd-identity-trust-roots through ownerReferences, so the garbage collector would delete them all.*to uninstall, delete the linkerd-rotator ValidatingWebhookConfiguration first/,
          );
        }
        // Even by the namespace controller (a cluster-scoped object is never deleted with a namespace).
        expect((await decide(bundleRequest('DELETE', null, bundle(bundleSpec), { userInfo: { username: NAMESPACE_CONTROLLER } }), snapshot, ctx())).allowed).toBe(false);
      });

      it('denies an UPDATE that changes spec.target, naming the field, for both kinds', async () => {
        const target = { ...bundleSpec, target: { ...bundleSpec.target, namespaceSelector: { matchLabels: { other: 'x' } } } };
        const d = await decide(bundleRequest('UPDATE', bundle(target), bundle(bundleSpec)), snapshot, ctx());
        expect(d).toEqual(expect.objectContaining({ allowed: false, code: 403, object: 'trust-bundle' }));
        expect(d.message).toMatch(/^changing spec.target of Bundle linkerd-identity-trust-roots is refused: trust-manager deletes the trust-roots ConfigMap from every namespace the new target no longer selects.*delete the linkerd-rotator ValidatingWebhookConfiguration/);
        const dropped = await decide(bundleRequest('UPDATE', bundle({ sources: bundleSpec.sources }), bundle(bundleSpec)), snapshot, ctx());
        expect(dropped.message).toMatch(/^changing spec.target of Bundle/);
        const clusterReq = (spec: object, old: object) =>
          bundleRequest('UPDATE', bundle(spec), bundle(old), { resource: { group: 'trust-manager.io', version: 'v1alpha2', resource: 'clusterbundles' } });
        expect((await decide(clusterReq({ target: {} }, { target: bundleSpec.target }), snapshot, ctx())).message).toMatch(/^changing spec.target of ClusterBundle/);
      });

      it('allows CREATE and UPDATEs that leave spec.target as it is: sources (checked where trust-manager writes them), labels, other spec fields', async () => {
        expect((await decide(bundleRequest('CREATE', bundle(bundleSpec), null), snapshot, ctx())).allowed).toBe(true);
        const labelled = bundleRequest('UPDATE', bundle(bundleSpec, { labels: { a: 'b' } }), bundle(bundleSpec));
        expect(await decide(labelled, snapshot, ctx())).toEqual({ allowed: true, object: 'trust-bundle', reasons: [], warnings: [] });
        const reordered = { target: { namespaceSelector: bundleSpec.target.namespaceSelector, configMap: { key: 'ca-bundle.crt' } }, sources: bundleSpec.sources };
        expect((await decide(bundleRequest('UPDATE', bundle(reordered), bundle(bundleSpec)), snapshot, { ...ctx(), synced: false })).allowed).toBe(true);
        // The chart's adoption flow: helm upgrade adds the rotator's Secrets to an adopted Bundle's sources.
        const sources = { ...bundleSpec, sources: [...bundleSpec.sources, { secret: { name: 'linkerd-previous-anchor', key: 'tls.crt' } }] };
        expect((await decide(bundleRequest('UPDATE', bundle(sources), bundle(bundleSpec)), snapshot, ctx())).allowed).toBe(true);
        const clusterReq = (spec: object, old: object) =>
          bundleRequest('UPDATE', bundle(spec), bundle(old), { resource: { group: 'trust-manager.io', version: 'v1alpha2', resource: 'clusterbundles' } });
        expect((await decide(clusterReq({ sourceRefs: [], inLineCAs: 'pem' }, { sourceRefs: [{ kind: 'Secret', name: 'x', key: 'y' }] }), snapshot, ctx())).allowed).toBe(true);
      });
    });
  });

  describe("(c) a namespace leaving the Bundle's target (issue 14 item 2)", () => {
    // The chart sends only namespace UPDATEs whose old labels match the Bundle's namespaceSelector and
    // whose new ones do not (its matchCondition); the webhook denies what it is sent if a label went.
    const namespace = (labels: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'linkerd', labels } });
    const namespaceRequest = (old: Record<string, string>, now: Record<string, string>, extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
      uid: `uid-${++seq}`,
      kind: { group: '', version: 'v1', kind: 'Namespace' },
      resource: { group: '', version: 'v1', resource: 'namespaces' },
      name: 'linkerd',
      operation: 'UPDATE',
      object: namespace(now),
      oldObject: namespace(old),
      userInfo: { username: 'kubernetes-admin' },
      ...extra,
    });
    const labelled = { 'kubernetes.io/metadata.name': 'linkerd', 'linkerd.io/is-control-plane': 'true' };

    it('denies removing or changing a label, naming it, saying why and what to do', async () => {
      const removed = namespaceRequest(labelled, { 'kubernetes.io/metadata.name': 'linkerd' });
      expect(classify(removed, names)).toBe('target-namespace');
      const d = await decide(removed, snapshot, { ...ctx(), synced: false });
      expect(d).toEqual(expect.objectContaining({ allowed: false, code: 403, object: 'target-namespace' }));
      expect(d.message).toMatch(
        /^taking Namespace linkerd out of the target of the trust-roots Bundle linkerd-identity-trust-roots is refused \(label linkerd.io\/is-control-plane=true removed\): trust-manager then deletes the trust-roots ConfigMap linkerd-identity-trust-roots in it.*delete the linkerd-rotator ValidatingWebhookConfiguration first/,
      );
      const changed = await decide(namespaceRequest(labelled, { ...labelled, 'linkerd.io/is-control-plane': 'false' }), snapshot, ctx());
      expect(changed.message).toMatch(/\(label linkerd.io\/is-control-plane=true changed to "false"\)/);
    });

    it('allows what it is sent by mistake when no label changed, and ignores subresources', async () => {
      expect((await decide(namespaceRequest(labelled, labelled), snapshot, ctx())).allowed).toBe(true);
      expect(classify(namespaceRequest(labelled, {}, { subResource: 'finalize' }), names)).toBe('other');
      expect(classify(namespaceRequest(labelled, {}, { operation: 'DELETE', object: null }), names)).toBe('other');
    });
  });

  it('classifies by the object name when the request has none (generateName)', () => {
    const req = configMapRequest('CREATE', a.certPem, { name: '' });
    expect(classify(req, names)).toBe('trust-roots');
    expect(classify({ ...req, resource: { group: 'apps', version: 'v1', resource: 'configmaps' } }, names)).toBe('other');
  });
});
