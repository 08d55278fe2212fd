// verifyServingCertificate with real certificates made here: what the API server's TLS client would
// accept from a webhook, given the caBundle of its configuration and the name it dials.
import { fixtures } from './testing/index.js';
import { verifyServingCertificate, type ServingVerification } from './serving.js';

const { bundleOf, daysFromNow, makeAnchor, makeIssuer, makeLeaf, makeNonCA } = fixtures;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const name = 'rot-linkerd-rotator-webhook.linkerd-rotator.svc';

async function servingSetup() {
  const ca = await makeAnchor({ cn: 'rot-linkerd-rotator-webhook CA' });
  const leaf = await makeLeaf(ca, { cn: name, dnsNames: ['rot-linkerd-rotator-webhook', name], ipAddresses: ['127.0.0.1'], extendedKeyUsages: [SERVER_AUTH] });
  return { ca, leaf };
}

const verdict = (v: ServingVerification) => (v.ok ? 'verified' : v.reason);

describe('verifyServingCertificate', () => {
  it('verifies a leaf issued by the CA in the caBundle, by DNS name and by IP address', async () => {
    const { ca, leaf } = await servingSetup();
    const result = await verifyServingCertificate({ caBundlePem: ca.certPem, served: [leaf.cert.der], serverName: name, at: new Date() });
    expect(result).toMatchObject({ ok: true });
    expect(result.ok && result.anchor.fingerprint).toBe(ca.fingerprint);
    expect(verdict(await verifyServingCertificate({ caBundlePem: ca.certPem, served: [leaf.cert.der], serverName: '127.0.0.1', at: new Date() }))).toBe('verified');
  });

  it('verifies through an intermediate the server sends, and a self-signed leaf that is itself the caBundle', async () => {
    const root = await makeAnchor();
    const intermediate = await makeIssuer(root);
    const leaf = await makeLeaf(intermediate, { dnsNames: [name] });
    expect(verdict(await verifyServingCertificate({ caBundlePem: root.certPem, served: [leaf.cert.der, intermediate.cert.der], serverName: name, at: new Date() }))).toBe('verified');
    expect(verdict(await verifyServingCertificate({ caBundlePem: root.certPem, served: [leaf.cert.der], serverName: name, at: new Date() }))).toBe('untrusted');
    const selfSigned = await makeNonCA({ cn: name, dnsNames: [name] });
    expect(verdict(await verifyServingCertificate({ caBundlePem: selfSigned.certPem, served: [selfSigned.cert.der], serverName: name, at: new Date() }))).toBe('verified');
  });

  it('refuses a leaf when the caBundle holds another CA, naming both', async () => {
    const { leaf } = await servingSetup();
    const other = await makeAnchor({ cn: 'some-other-ca' });
    const result = await verifyServingCertificate({ caBundlePem: other.certPem, served: [leaf.cert.der], serverName: name, at: new Date() });
    expect(result).toMatchObject({ ok: false, reason: 'untrusted' });
    expect(!result.ok && result.message).toMatch(/^the served certificate "CN=rot-linkerd-rotator-webhook\.linkerd-rotator\.svc" \(sha256:[0-9a-f]{16}\) does not verify against the caBundle \(1 certificate: "CN=some-other-ca" \(sha256:[0-9a-f]{16}\)\): /);
  });

  it('refuses an expired leaf, and one not valid yet', async () => {
    const ca = await makeAnchor();
    const expired = await makeLeaf(ca, { dnsNames: [name], notBefore: daysFromNow(-10), notAfter: daysFromNow(-1) });
    const result = await verifyServingCertificate({ caBundlePem: ca.certPem, served: [expired.cert.der], serverName: name, at: new Date() });
    expect(result).toMatchObject({ ok: false, reason: 'expired' });
    expect(!result.ok && result.message).toMatch(/expired at \d{4}-/);
    const future = await makeLeaf(ca, { dnsNames: [name], notBefore: daysFromNow(1), notAfter: daysFromNow(10) });
    expect(verdict(await verifyServingCertificate({ caBundlePem: ca.certPem, served: [future.cert.der], serverName: name, at: new Date() }))).toBe('expired');
  });

  it('refuses a leaf whose subjectAltName lacks the name, even with that name as its common name (Go ignores it)', async () => {
    const { ca, leaf } = await servingSetup();
    const result = await verifyServingCertificate({ caBundlePem: ca.certPem, served: [leaf.cert.der], serverName: 'other.linkerd-rotator.svc', at: new Date() });
    expect(result).toMatchObject({ ok: false, reason: 'name-mismatch' });
    expect(!result.ok && result.message).toContain('is not valid for "other.linkerd-rotator.svc"');
    const cnOnly = await makeLeaf(ca, { cn: name });
    expect(verdict(await verifyServingCertificate({ caBundlePem: ca.certPem, served: [cnOnly.cert.der], serverName: name, at: new Date() }))).toBe('name-mismatch');
    expect(verdict(await verifyServingCertificate({ caBundlePem: ca.certPem, served: [leaf.cert.der], serverName: '127.0.0.2', at: new Date() }))).toBe('name-mismatch');
  });

  it('refuses a leaf whose extendedKeyUsage excludes server auth', async () => {
    const ca = await makeAnchor();
    const client = await makeLeaf(ca, { dnsNames: [name], extendedKeyUsages: [CLIENT_AUTH] });
    expect(verdict(await verifyServingCertificate({ caBundlePem: ca.certPem, served: [client.cert.der], serverName: name, at: new Date() }))).toBe('not-server-auth');
  });

  it('says so when the caBundle is empty or holds no certificate, or nothing was served', async () => {
    const { ca, leaf } = await servingSetup();
    expect(await verifyServingCertificate({ caBundlePem: '', served: [leaf.cert.der], serverName: name, at: new Date() })).toMatchObject({ ok: false, reason: 'no-ca-bundle' });
    expect(await verifyServingCertificate({ caBundlePem: 'not a PEM', served: [leaf.cert.der], serverName: name, at: new Date() })).toMatchObject({ ok: false, reason: 'ca-bundle-unparsable' });
    expect(await verifyServingCertificate({ caBundlePem: ca.certPem, served: [], serverName: name, at: new Date() })).toMatchObject({ ok: false, reason: 'untrusted' });
  });

  it('keeps verifying across a CA renewal that keeps the key (rotationPolicy Never), and not across one with a new key', async () => {
    const ca = await makeAnchor({ cn: 'webhook CA', notBefore: daysFromNow(-400), notAfter: daysFromNow(30) });
    const oldLeaf = await makeLeaf(ca, { dnsNames: [name] });
    const renewedSameKey = await makeAnchor({ cn: 'webhook CA', keys: ca.keys, notBefore: daysFromNow(-1), notAfter: daysFromNow(1800) });
    const newLeaf = await makeLeaf(renewedSameKey, { dnsNames: [name] });
    // The caBundle still holds the old CA while the leaf is already new, and the other way round.
    expect(verdict(await verifyServingCertificate({ caBundlePem: ca.certPem, served: [newLeaf.cert.der], serverName: name, at: new Date() }))).toBe('verified');
    expect(verdict(await verifyServingCertificate({ caBundlePem: renewedSameKey.certPem, served: [oldLeaf.cert.der], serverName: name, at: new Date() }))).toBe('verified');
    const renewedNewKey = await makeAnchor({ cn: 'webhook CA', notBefore: daysFromNow(-1), notAfter: daysFromNow(1800) });
    const leafUnderNewKey = await makeLeaf(renewedNewKey, { dnsNames: [name] });
    expect(verdict(await verifyServingCertificate({ caBundlePem: ca.certPem, served: [leafUnderNewKey.cert.der], serverName: name, at: new Date() }))).toBe('untrusted');
    expect(verdict(await verifyServingCertificate({ caBundlePem: bundleOf(ca, renewedNewKey), served: [leafUnderNewKey.cert.der], serverName: name, at: new Date() }))).toBe('verified');
  });
});
