import { checkKeyMatchesCertificate } from './keys.js';
import { makeAnchor, makeIssuer, type Credentials } from './testing/fixtures.js';

describe('checkKeyMatchesCertificate', () => {
  let anchor: Credentials;
  let issuer: Credentials;

  beforeAll(async () => {
    anchor = await makeAnchor();
    issuer = await makeIssuer(anchor);
  });

  it('matches the certificate own key in PKCS#8 and SEC1 form', () => {
    expect(issuer.keyPemTraditional).toContain('BEGIN EC PRIVATE KEY');
    expect(checkKeyMatchesCertificate(issuer.keyPem, issuer.cert)).toEqual({ ok: true });
    expect(checkKeyMatchesCertificate(issuer.keyPemTraditional, issuer.cert)).toEqual({ ok: true });
  });

  it('matches an RSA key in PKCS#1 form', async () => {
    const rsa = await makeAnchor({ key: 'rsa-2048' });
    expect(rsa.keyPemTraditional).toContain('BEGIN RSA PRIVATE KEY');
    expect(checkKeyMatchesCertificate(rsa.keyPemTraditional, rsa.cert)).toEqual({ ok: true });
    expect(checkKeyMatchesCertificate(rsa.keyPemTraditional, issuer.cert).ok).toBe(false);
  });

  it('rejects another certificate key', () => {
    const result = checkKeyMatchesCertificate(anchor.keyPem, issuer.cert);
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(/does not belong/) });
  });

  it('rejects garbage, a certificate in place of a key, two keys, and encrypted keys without echoing them', () => {
    const garbage = '-----BEGIN PRIVATE KEY-----\nAAAAsecretAAAA\n-----END PRIVATE KEY-----\n';
    const bad = checkKeyMatchesCertificate(garbage, issuer.cert);
    expect(bad.ok).toBe(false);
    expect(JSON.stringify(bad)).not.toContain('secret');
    expect(checkKeyMatchesCertificate(issuer.certPem, issuer.cert).ok).toBe(false);
    expect(checkKeyMatchesCertificate(issuer.keyPem + anchor.keyPem, issuer.cert)).toEqual({
      ok: false,
      reason: expect.stringMatching(/2 private key blocks/),
    });
    const encrypted = '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n';
    expect(checkKeyMatchesCertificate(encrypted, issuer.cert)).toEqual({ ok: false, reason: expect.stringMatching(/encrypted/) });
  });
});
