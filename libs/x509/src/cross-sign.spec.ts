// Cross-signing with real certificates made in the test: X links the new anchor B to the old anchor
// A for libs/x509's chain walk and for node:crypto, and every refusal says what to do instead.
import { X509Certificate as NodeCertificate } from 'node:crypto';
import { CrossSignRefusedError, crossSign, crossSignIssuerProblems, crossSignProblems, crossSignatureAmong } from './cross-sign.js';
import { parseCertificate, type ParsedCertificate } from './certificate.js';
import { verifyChain } from './chain.js';
import { parsePem } from './pem.js';
import { AuthorityKeyIdentifierExtension, KeyUsageFlags, KeyUsagesExtension, SubjectKeyIdentifierExtension } from './peculiar.js';
import {
  bundleOf,
  daysFromNow,
  makeAnchor,
  makeExpiredAnchor,
  makeIssuer,
  makeLeaf,
  makeNonCA,
  type CertOptions,
  type Credentials,
} from './testing/fixtures.js';

function parsed(pem: string): ParsedCertificate {
  const block = parsePem(pem).blocks[0];
  if (!block) throw new Error('expected one certificate in the PEM, found none');
  return parseCertificate(block.der);
}

function skid(cert: ParsedCertificate): string | undefined {
  return cert.x509.getExtension(SubjectKeyIdentifierExtension)?.keyId;
}

/** Old anchor A, new anchor B, B's identity issuer I_B and a proxy leaf under it. */
async function mesh(options: { oldAnchor?: CertOptions; newAnchor?: CertOptions } = {}) {
  const oldAnchor = await makeAnchor(options.oldAnchor);
  const newAnchor = await makeAnchor(options.newAnchor);
  const issuer = await makeIssuer(newAnchor);
  const leaf = await makeLeaf(issuer);
  return { oldAnchor, newAnchor, issuer, leaf };
}

describe('crossSign', () => {
  let oldAnchor: Credentials;
  let newAnchor: Credentials;
  let issuer: Credentials;
  let leaf: Credentials;
  let cross: ParsedCertificate;
  const now = new Date();

  beforeAll(async () => {
    // Both anchors named CN=root.linkerd.cluster.local, as cert-manager's Linkerd setup makes them.
    ({ oldAnchor, newAnchor, issuer, leaf } = await mesh());
    cross = parsed(await crossSign({ subject: newAnchor.certPem, issuer: oldAnchor.cert, issuerKey: oldAnchor.keyPemTraditional, now }));
  });

  it('chains leaf -> I_B -> X to the old anchor A in libs/x509', async () => {
    expect(newAnchor.cert.subject).toBe(oldAnchor.cert.subject);
    const result = await verifyChain(leaf.cert, { anchors: [oldAnchor.cert], intermediates: [issuer.cert, cross], at: now });
    expect(result.ok && result.path.map((c) => c.fingerprint)).toEqual([
      leaf.fingerprint,
      issuer.fingerprint,
      cross.fingerprint,
      oldAnchor.fingerprint,
    ]);
  });

  it('fails for A without X (the control)', async () => {
    const result = await verifyChain(leaf.cert, { anchors: [oldAnchor.cert], intermediates: [issuer.cert], at: now });
    expect(result.ok).toBe(false);
  });

  it('still chains leaf -> I_B to B, with or without X presented', async () => {
    for (const intermediates of [[issuer.cert], [issuer.cert, cross]]) {
      const result = await verifyChain(leaf.cert, { anchors: [newAnchor.cert], intermediates, at: now });
      expect(result.ok && result.anchor.fingerprint).toBe(newAnchor.fingerprint);
    }
  });

  it('lets an identity controller started on {A} accept I_B with X as its chain', async () => {
    const result = await verifyChain(issuer.cert, { anchors: [oldAnchor.cert], intermediates: [cross], at: now, targetSignsLeaves: true });
    expect(result.ok).toBe(true);
  });

  it('verifies with node:crypto: A signed X, and X carries the key that signed I_B', () => {
    const x = new NodeCertificate(cross.der);
    const a = new NodeCertificate(oldAnchor.certPem);
    const b = new NodeCertificate(newAnchor.certPem);
    expect(x.verify(a.publicKey)).toBe(true);
    expect(x.checkIssued(a)).toBe(true);
    expect(new NodeCertificate(issuer.certPem).verify(x.publicKey)).toBe(true);
    expect(x.verify(b.publicKey)).toBe(false);
    const spki = (cert: NodeCertificate) => cert.publicKey.export({ type: 'spki', format: 'der' }).toString('hex');
    expect(spki(x)).toBe(spki(b));
    expect(x.subject).toBe(b.subject);
    expect(x.issuer).toBe(a.subject);
    expect(x.ca).toBe(true);
  });

  it("carries B's subject, key, pathLen and SKID, A's SKID as AKID, CA key usage and the shorter validity", () => {
    expect(cross.subject).toBe(newAnchor.cert.subject);
    expect(cross.issuer).toBe(oldAnchor.cert.subject);
    expect(cross.spkiFingerprint).toBe(newAnchor.cert.spkiFingerprint);
    expect(cross.isCA).toBe(true);
    expect(cross.pathLength).toBe(newAnchor.cert.pathLength);
    expect(cross.x509.getExtension(KeyUsagesExtension)?.usages).toBe(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign);
    expect(skid(cross)).toBe(skid(newAnchor.cert));
    expect(cross.x509.getExtension(AuthorityKeyIdentifierExtension)?.keyId).toBe(skid(oldAnchor.cert));
    expect(cross.notBefore.getTime()).toBeLessThanOrEqual(now.getTime());
    expect(cross.notAfter.getTime()).toBe(Math.min(oldAnchor.cert.notAfter.getTime(), newAnchor.cert.notAfter.getTime()));
    expect(cross.signatureAlgorithm).toEqual({ name: 'ECDSA', hash: 'SHA-256' });
  });

  it('ends X with A when A expires before B, and with B when B expires first', async () => {
    const shortOld = await makeAnchor({ notAfter: daysFromNow(30) });
    const longNew = await makeAnchor({ notAfter: daysFromNow(300) });
    const endsWithA = parsed(await crossSign({ subject: longNew.cert, issuer: shortOld.cert, issuerKey: shortOld.keyPem }));
    expect(endsWithA.notAfter.getTime()).toBe(shortOld.cert.notAfter.getTime());
    const shortNew = await makeAnchor({ notAfter: daysFromNow(10) });
    const endsWithB = parsed(await crossSign({ subject: shortNew.cert, issuer: shortOld.cert, issuerKey: shortOld.keyPem }));
    expect(endsWithB.notAfter.getTime()).toBe(shortNew.cert.notAfter.getTime());
  });

  it('starts X at the later notBefore of the two anchors, never after now', async () => {
    const at = new Date();
    const older = await makeAnchor({ notBefore: daysFromNow(-100) });
    const newer = await makeAnchor({ notBefore: daysFromNow(-2) });
    const x = parsed(await crossSign({ subject: newer.cert, issuer: older.cert, issuerKey: older.keyPem, now: at }));
    expect(x.notBefore.getTime()).toBe(Math.floor(newer.cert.notBefore.getTime() / 1000) * 1000);
    const future = await makeAnchor({ notBefore: daysFromNow(1) });
    const capped = parsed(await crossSign({ subject: future.cert, issuer: older.cert, issuerKey: older.keyPem, now: at }));
    expect(capped.notBefore.getTime()).toBe(Math.floor(at.getTime() / 1000) * 1000);
  });

  it.each([
    ['ECDSA P-384', { key: 'ecdsa-p384', hash: 'SHA-384' }, 'SHA-384'],
    ['RSA 2048', { key: 'rsa-2048' }, 'SHA-256'],
  ] as const)('cross-signs with an %s anchor, under distinct anchor names', async (_label, oldOptions, hash) => {
    const pki = await mesh({ oldAnchor: { ...oldOptions, cn: 'root-2025.example' }, newAnchor: { cn: 'root-2026.example' } });
    const x = parsed(await crossSign({ subject: pki.newAnchor.cert, issuer: pki.oldAnchor.certPem, issuerKey: pki.oldAnchor.keyPemTraditional }));
    expect(x.signatureAlgorithm.hash).toBe(hash);
    const result = await verifyChain(pki.leaf.cert, { anchors: [pki.oldAnchor.cert], intermediates: [pki.issuer.cert, x], at: new Date() });
    expect(result.ok).toBe(true);
    expect(new NodeCertificate(x.der).verify(new NodeCertificate(pki.oldAnchor.certPem).publicKey)).toBe(true);
  });

  it('uses the given serial number', async () => {
    const x = parsed(await crossSign({ subject: newAnchor.cert, issuer: oldAnchor.cert, issuerKey: oldAnchor.keyPem, serial: '0a1b2c3d' }));
    expect(x.serialNumber).toBe('0a1b2c3d');
    await expect(crossSign({ subject: newAnchor.cert, issuer: oldAnchor.cert, issuerKey: oldAnchor.keyPem, serial: 'zz' })).rejects.toThrow(
      /expected serial to be 1 to 20 bytes of hex/,
    );
  });

  it('accepts an anchor with pathLen 2, exactly enough for A -> X -> I_B -> leaf', async () => {
    const pki = await mesh({ oldAnchor: { pathLength: 2 } });
    const x = parsed(await crossSign({ subject: pki.newAnchor.cert, issuer: pki.oldAnchor.cert, issuerKey: pki.oldAnchor.keyPem }));
    const result = await verifyChain(pki.leaf.cert, { anchors: [pki.oldAnchor.cert], intermediates: [pki.issuer.cert, x], at: new Date() });
    expect(result.ok).toBe(true);
  });
});

describe('crossSign refusals', () => {
  let oldAnchor: Credentials;
  let newAnchor: Credentials;

  beforeAll(async () => {
    oldAnchor = await makeAnchor();
    newAnchor = await makeAnchor();
  });

  async function refusal(options: Parameters<typeof crossSign>[0]): Promise<CrossSignRefusedError> {
    const error = await crossSign(options).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(CrossSignRefusedError);
    return error as CrossSignRefusedError;
  }

  it('finds nothing wrong with a fresh pair, with or without the key', () => {
    expect(crossSignProblems({ subject: newAnchor.cert, issuer: oldAnchor.cert, now: new Date() })).toEqual([]);
    expect(crossSignProblems({ subject: newAnchor.cert, issuer: oldAnchor.cert, issuerKey: oldAnchor.keyPem, now: new Date() })).toEqual([]);
  });

  it('refuses an issuer that is not a CA', async () => {
    const notCa = await makeNonCA();
    const error = await refusal({ subject: newAnchor.cert, issuer: notCa.cert, issuerKey: notCa.keyPem });
    expect(error.message).toMatch(/^expected the issuing anchor .* to be a CA \(basicConstraints cA=TRUE\), found it is not; .*strategy "restart"/);
  });

  it('refuses an anchor whose pathLen 1 cannot fit A -> X -> I_B -> leaf (step\'s default roots)', async () => {
    const stepRoot = await makeAnchor({ pathLength: 1 });
    const error = await refusal({ subject: newAnchor.cert, issuer: stepRoot.cert, issuerKey: stepRoot.keyPem });
    expect(error.problems).toEqual([expect.stringMatching(/pathLenConstraint >= 2 or absent.*found pathLen 1; reissue the anchor without pathLen/)]);
  });

  it('refuses an expired anchor', async () => {
    const expired = await makeExpiredAnchor();
    const error = await refusal({ subject: newAnchor.cert, issuer: expired.cert, issuerKey: expired.keyPem });
    expect(error.message).toMatch(/to be valid at .*, found it expired at .*; or rotate with strategy "restart"/);
  });

  it('refuses a key that is not the anchor\'s, without echoing either key', async () => {
    const error = await refusal({ subject: newAnchor.cert, issuer: oldAnchor.cert, issuerKey: newAnchor.keyPemTraditional });
    expect(error.message).toMatch(/expected the private key of the issuing anchor .*, found a key that does not fit \(.*does not belong.*\); pass the key stored with that anchor/);
    const keyBody = (pem: string) => pem.split('\n')[1] as string;
    expect(error.message).not.toContain(keyBody(newAnchor.keyPemTraditional));
    expect(error.message).not.toContain(keyBody(oldAnchor.keyPem));
  });

  it('refuses a new anchor that is not a CA, has pathLen 0, has expired or reuses the old key', async () => {
    const notCa = await makeNonCA();
    expect((await refusal({ subject: notCa.cert, issuer: oldAnchor.cert, issuerKey: oldAnchor.keyPem })).message).toMatch(
      /expected the new anchor .* to be a CA/,
    );
    const pathLenZero = await makeAnchor({ pathLength: 0 });
    expect((await refusal({ subject: pathLenZero.cert, issuer: oldAnchor.cert, issuerKey: oldAnchor.keyPem })).message).toMatch(
      /found pathLen 0; reissue the new anchor without pathLen/,
    );
    const expired = await makeExpiredAnchor();
    expect((await refusal({ subject: expired.cert, issuer: oldAnchor.cert, issuerKey: oldAnchor.keyPem })).message).toMatch(
      /expected the new anchor .* to be valid after .*, found it expired/,
    );
    const sameKey = await makeAnchor({ keys: oldAnchor.keys });
    expect((await refusal({ subject: sameKey.cert, issuer: oldAnchor.cert, issuerKey: oldAnchor.keyPem })).message).toMatch(
      /to have a key of its own, found the key of the issuing anchor/,
    );
  });

  it('refuses PEM input that is not exactly one certificate, never echoing a key', async () => {
    const two = await refusal({ subject: bundleOf(newAnchor, oldAnchor), issuer: oldAnchor.cert, issuerKey: oldAnchor.keyPem });
    expect(two.message).toMatch(/^expected exactly one PEM certificate as subject, found 2 certificates/);
    const withKey = await refusal({ subject: newAnchor.certPem + newAnchor.keyPem, issuer: oldAnchor.cert, issuerKey: oldAnchor.keyPem });
    expect(withKey.message).toMatch(/found private key material/);
    expect(withKey.message).not.toContain('PRIVATE KEY-----');
  });

  it('lists every problem at once, for plan and status', async () => {
    const expiredStepRoot = await makeExpiredAnchor({ pathLength: 1 });
    const problems = crossSignProblems({ subject: newAnchor.cert, issuer: expiredStepRoot.cert, issuerKey: newAnchor.keyPem, now: new Date() });
    expect(problems).toEqual([
      expect.stringMatching(/found pathLen 1/),
      expect.stringMatching(/found it expired/),
      expect.stringMatching(/found a key that does not fit/),
    ]);
  });
});

describe('crossSignIssuerProblems', () => {
  it("judges the issuing anchor alone, before the next anchor exists, with crossSignProblems' messages", async () => {
    const now = new Date();
    const good = await makeAnchor();
    expect(crossSignIssuerProblems({ issuer: good.cert, issuerKey: good.keyPem, now })).toEqual([]);
    const stepRoot = await makeExpiredAnchor({ pathLength: 1 });
    const other = await makeAnchor();
    const problems = crossSignIssuerProblems({ issuer: stepRoot.cert, issuerKey: other.keyPem, now });
    expect(problems).toEqual([expect.stringMatching(/found pathLen 1/), expect.stringMatching(/found it expired/), expect.stringMatching(/found a key that does not fit/)]);
    expect(crossSignProblems({ subject: good.cert, issuer: stepRoot.cert, issuerKey: other.keyPem, now })).toEqual(problems);
  });
});

describe('crossSignatureAmong', () => {
  it('finds X between the anchors it links: whose subject and key it carries, and who signed it', async () => {
    const { oldAnchor, newAnchor, issuer } = await mesh();
    const cross = parsed(await crossSign({ subject: newAnchor.cert, issuer: oldAnchor.cert, issuerKey: oldAnchor.keyPem }));
    const match = await crossSignatureAmong(cross, [oldAnchor.cert, newAnchor.cert]);
    expect(match && { of: match.of.fingerprint, by: match.by.fingerprint }).toEqual({ of: newAnchor.fingerprint, by: oldAnchor.fingerprint });
    // The anchors themselves, an issuer, and X when its signer or its subject's anchor is not known are none.
    expect(await crossSignatureAmong(newAnchor.cert, [oldAnchor.cert, newAnchor.cert])).toBeUndefined();
    expect(await crossSignatureAmong(issuer.cert, [oldAnchor.cert, newAnchor.cert])).toBeUndefined();
    expect(await crossSignatureAmong(cross, [newAnchor.cert])).toBeUndefined();
    expect(await crossSignatureAmong(cross, [oldAnchor.cert])).toBeUndefined();
  });

  it('refuses a look-alike: the right names and key but a signature by another key', async () => {
    const { oldAnchor, newAnchor } = await mesh();
    const impostor = await makeAnchor();
    // Signed by an anchor named like A (all anchors share the name) whose key is not A's.
    const forged = parsed(await crossSign({ subject: newAnchor.cert, issuer: impostor.cert, issuerKey: impostor.keyPem }));
    expect(await crossSignatureAmong(forged, [oldAnchor.cert, newAnchor.cert])).toBeUndefined();
    expect((await crossSignatureAmong(forged, [impostor.cert, newAnchor.cert]))?.by.fingerprint).toBe(impostor.fingerprint);
  });
});
