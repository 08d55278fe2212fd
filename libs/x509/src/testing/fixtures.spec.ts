import { X509Certificate as NodeX509, createHash, webcrypto } from 'node:crypto';
import { parseCertificate } from '../certificate.js';
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, nodeCrypto, SubjectKeyIdentifierExtension, X509CertificateGenerator } from '../peculiar.js';
import { generateKeys, hoursFromNow, makeAnchor, makeIssuer, type Credentials } from './fixtures.js';

/**
 * An anchor whose subjectKeyIdentifier is the first 160 bits of the SHA-256 of its key, as Go 1.25+
 * (cert-manager) writes it, not @peculiar/x509's SHA-1: what the e2e specs sign with when they read
 * the cluster's anchor.
 */
async function goStyleAnchor(): Promise<Credentials> {
  const keys = await generateKeys();
  const spki = Buffer.from(await nodeCrypto.subtle.exportKey('spki', keys.publicKey));
  const ski = createHash('sha256').update(spki).digest('hex').slice(0, 40);
  const cert = await X509CertificateGenerator.createSelfSigned(
    {
      name: 'CN=root.linkerd.cluster.local',
      keys,
      notBefore: hoursFromNow(-1),
      notAfter: hoursFromNow(24),
      extensions: [new BasicConstraintsExtension(true, undefined, true), new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true), new SubjectKeyIdentifierExtension(ski)],
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.Algorithm,
    },
    nodeCrypto,
  );
  const parsed = parseCertificate(new Uint8Array(cert.rawData));
  return { cert: parsed, certPem: cert.toString('pem') + '\n', keyPem: '', keyPemTraditional: '', fingerprint: parsed.fingerprint, keys, keySpec: 'ecdsa-p256' };
}

describe('fixtures: the authorityKeyIdentifier of a signed certificate', () => {
  it("is the signer's subjectKeyIdentifier, however the signer derived it, so OpenSSL links the two", async () => {
    const anchor = await goStyleAnchor();
    const issuer = await makeIssuer(anchor);
    expect(new NodeX509(issuer.certPem).checkIssued(new NodeX509(anchor.certPem))).toBe(true);
  });

  it('links a fixture anchor and its issuer as before', async () => {
    const anchor = await makeAnchor();
    const issuer = await makeIssuer(anchor);
    expect(new NodeX509(issuer.certPem).checkIssued(new NodeX509(anchor.certPem))).toBe(true);
  });
});
