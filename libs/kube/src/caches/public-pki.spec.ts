// The public PKI view's codec with real certificates: only CERTIFICATE blocks are written (never a
// key, even one a Secret wrongly holds in tls.crt), an absent Secret is recorded as absent, each
// source's uid/resourceVersion is kept, and decoding gives back the webhook's views unchanged.
import type { V1Secret } from '@kubernetes/client-node';
import { DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { publicViewFactsOf } from '../rotation/pki-facts.js';
import { anchorViewOf, issuerViewOf } from './projections.js';
import { decodePublicPki, encodePublicPki, publicPkiInputOf, type PublicPkiInput } from './public-pki.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secretOf = (namespace: string, name: string, data: Record<string, string>, resourceVersion = '7'): V1Secret => ({
  metadata: { namespace, name, uid: `uid-${name}`, resourceVersion },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

describe('the public PKI view (codec)', () => {
  let a: Credentials;
  let b: Credentials;
  let x: Credentials;
  let issuer: Credentials;
  beforeAll(async () => {
    a = await fixtures.makeAnchor({ cn: 'a' });
    b = await fixtures.makeAnchor({ cn: 'b' });
    x = await fixtures.makeIssuer(a, { cn: 'x' });
    issuer = await fixtures.makeIssuer(b);
  });

  const inputOf = (secrets: Partial<Record<'preparedAnchor' | 'activeAnchor' | 'previousAnchor' | 'issuer', V1Secret>>): PublicPkiInput =>
    publicPkiInputOf(names, { get: (source) => secrets[source], view: (source, secret) => (source === 'issuer' ? issuerViewOf(secret) : anchorViewOf(secret)) });

  it('round-trips what the webhook reads: anchors, the cross-signer, the issuer chain and ca.crt, with each Secret version', () => {
    const active = secretOf(names.trustNamespace, names.activeAnchorSecret, { 'tls.crt': x.certPem, 'tls.key': b.keyPem, 'anchor.crt': b.certPem, 'cross-signer.crt': a.certPem }, '42');
    const input = inputOf({
      preparedAnchor: secretOf(names.trustNamespace, names.preparedAnchorSecret, { 'tls.crt': b.certPem, 'tls.key': b.keyPem }),
      activeAnchor: active,
      previousAnchor: secretOf(names.trustNamespace, names.previousAnchorSecret, { 'tls.crt': a.certPem }),
      issuer: secretOf(names.linkerdNamespace, names.issuerSecret, { 'tls.crt': issuer.certPem + x.certPem, 'tls.key': issuer.keyPem, 'ca.crt': x.certPem }),
    });
    const data = encodePublicPki(input);
    expect(JSON.stringify(data)).not.toContain('PRIVATE KEY');
    const decoded = decodePublicPki({ metadata: { namespace: names.releaseNamespace, name: names.publicPkiConfigMap }, data });
    if (!decoded.ok) throw new Error(decoded.problem);
    expect(decoded.pki.activeAnchor).toEqual({ source: 'Secret cert-manager/linkerd-active-anchor', certPem: b.certPem, crossSignerPem: a.certPem });
    expect(decoded.pki.preparedAnchor).toEqual({ source: 'Secret cert-manager/linkerd-trust-anchor', certPem: b.certPem });
    expect(decoded.pki.previousAnchor).toEqual({ source: 'Secret cert-manager/linkerd-previous-anchor', certPem: a.certPem });
    expect(decoded.pki.issuer).toEqual({ source: 'Secret linkerd/linkerd-identity-issuer', certPem: issuer.certPem + x.certPem, caPem: x.certPem });
    expect(decoded.pki.secrets.activeAnchor).toEqual({ namespace: names.trustNamespace, name: names.activeAnchorSecret, version: { uid: `uid-${names.activeAnchorSecret}`, resourceVersion: '42' } });
  });

  it('records an absent Secret as absent, distinct from a view not published', () => {
    const data = encodePublicPki(inputOf({ preparedAnchor: secretOf(names.trustNamespace, names.preparedAnchorSecret, { 'tls.crt': a.certPem }) }));
    const decoded = decodePublicPki({ metadata: { namespace: names.releaseNamespace, name: names.publicPkiConfigMap }, data });
    if (!decoded.ok) throw new Error(decoded.problem);
    expect(decoded.pki.activeAnchor).toBeUndefined();
    expect(decoded.pki.secrets.activeAnchor).toEqual({ namespace: names.trustNamespace, name: names.activeAnchorSecret });
    expect(decoded.pki.secrets.preparedAnchor.version).toEqual({ uid: `uid-${names.preparedAnchorSecret}`, resourceVersion: '7' });
  });

  it('copies CERTIFICATE blocks only: a key wrongly held in tls.crt or anchor.crt never reaches the view', () => {
    const wrong = secretOf(names.trustNamespace, names.activeAnchorSecret, { 'tls.crt': a.certPem + a.keyPem, 'anchor.crt': a.keyPem + a.certPem });
    const data = encodePublicPki(inputOf({ activeAnchor: wrong }));
    expect(JSON.stringify(data)).not.toContain('PRIVATE KEY');
    const decoded = decodePublicPki({ metadata: {}, data });
    if (!decoded.ok) throw new Error(decoded.problem);
    expect(decoded.pki.activeAnchor?.certPem).toBe(a.certPem);
  });

  it('is the same data for the same input (so the writer writes only on a change)', () => {
    const input = inputOf({ activeAnchor: secretOf(names.trustNamespace, names.activeAnchorSecret, { 'tls.crt': a.certPem }) });
    expect(encodePublicPki(input)).toEqual(encodePublicPki(input));
  });

  it("gives the runner's snapshot the anchors' fingerprints as the view holds them (gate public-view-synced)", () => {
    const data = encodePublicPki(
      inputOf({
        activeAnchor: secretOf(names.trustNamespace, names.activeAnchorSecret, { 'tls.crt': x.certPem, 'anchor.crt': b.certPem, 'cross-signer.crt': a.certPem }),
        previousAnchor: secretOf(names.trustNamespace, names.previousAnchorSecret, { 'tls.crt': a.certPem }),
      }),
    );
    expect(publicViewFactsOf({ metadata: {}, data })).toEqual({ active: b.fingerprint, previous: a.fingerprint });
    expect(publicViewFactsOf(undefined)).toBeUndefined();
    // Unreadable: holds no anchor, so the gate waits for the exporter to rewrite it.
    expect(publicViewFactsOf({ metadata: {}, data: {} })).toEqual({});
  });

  it('refuses a ConfigMap that does not hold a view, saying what it expected', () => {
    const decoded = decodePublicPki({ metadata: { namespace: 'linkerd-rotator', name: 'linkerd-rotator-public-pki' }, data: { 'sources.json': '{' } });
    expect(decoded).toEqual({ ok: false, problem: expect.stringMatching(/ConfigMap linkerd-rotator\/linkerd-rotator-public-pki: expected .*sources\.json.*found/) });
  });
});
