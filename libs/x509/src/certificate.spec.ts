import { X509Certificate as NodeX509 } from 'node:crypto';
import { CertificateParseError, describeCertificate, isValidAt, parseCertificate } from './certificate.js';
import { daysFromNow, makeAnchor, makeIssuer, makeLeaf, makeNonCA, type Credentials } from './testing/fixtures.js';

describe('parseCertificate', () => {
  let anchor: Credentials;
  let issuer: Credentials;
  let leaf: Credentials;

  beforeAll(async () => {
    anchor = await makeAnchor({ cn: 'root.linkerd.cluster.local', pathLength: 1 });
    issuer = await makeIssuer(anchor);
    leaf = await makeLeaf(issuer);
  });

  it('fingerprints the DER exactly as OpenSSL does', () => {
    const openssl = new NodeX509(anchor.certPem).fingerprint256.replace(/:/g, '').toLowerCase();
    expect(anchor.cert.fingerprint).toBe(openssl);
    expect(anchor.fingerprint).toBe(openssl);
  });

  it('reads names, validity, CA constraints and algorithms', () => {
    const node = new NodeX509(issuer.certPem);
    expect(issuer.cert.subject).toBe('CN=identity.linkerd.cluster.local');
    expect(issuer.cert.issuer).toBe('CN=root.linkerd.cluster.local');
    expect(issuer.cert.notAfter.getTime()).toBe(new Date(node.validTo).getTime());
    expect(issuer.cert.isCA).toBe(true);
    expect(issuer.cert.canSignCertificates).toBe(true);
    expect(anchor.cert.pathLength).toBe(1);
    expect(issuer.cert.keyAlgorithm).toEqual({ kind: 'ecdsa', curve: 'P-256' });
    expect(issuer.cert.signatureAlgorithm).toEqual({ name: 'ECDSA', hash: 'SHA-256' });
    expect(leaf.cert.isCA).toBe(false);
    expect(leaf.cert.canSignCertificates).toBe(false);
  });

  it('tells certificates with different keys apart by SPKI fingerprint', async () => {
    const other = await makeAnchor();
    expect(other.cert.spkiFingerprint).not.toBe(anchor.cert.spkiFingerprint);
    const renewed = await makeAnchor({ keys: anchor.keys });
    expect(renewed.cert.spkiFingerprint).toBe(anchor.cert.spkiFingerprint);
    expect(renewed.fingerprint).not.toBe(anchor.fingerprint);
  });

  it('reads RSA key sizes', async () => {
    const rsa = await makeAnchor({ key: 'rsa-2048' });
    expect(rsa.cert.keyAlgorithm).toEqual({ kind: 'rsa', bits: 2048 });
    expect(rsa.cert.signatureAlgorithm.hash).toBe('SHA-256');
  });

  it('treats a certificate without basicConstraints as not a CA', async () => {
    const bare = await makeNonCA({ noBasicConstraints: true, noKeyUsage: true });
    expect(bare.cert.isCA).toBe(false);
    expect(bare.cert.canSignCertificates).toBeUndefined();
  });

  it('throws a CertificateParseError on bytes that are not a certificate', () => {
    expect(() => parseCertificate(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05]))).toThrow(CertificateParseError);
    expect(() => parseCertificate(new Uint8Array([1, 2, 3]))).toThrow(CertificateParseError);
  });

  it('checks validity windows and describes without PEM', async () => {
    expect(isValidAt(anchor.cert, new Date())).toBe(true);
    expect(isValidAt(anchor.cert, daysFromNow(400))).toBe(false);
    expect(isValidAt(anchor.cert, daysFromNow(-1))).toBe(false);
    const text = describeCertificate(anchor.cert);
    expect(text).toContain('CN=root.linkerd.cluster.local');
    expect(text).toContain(anchor.fingerprint.slice(0, 16));
    expect(text).not.toContain('BEGIN');
  });
});
