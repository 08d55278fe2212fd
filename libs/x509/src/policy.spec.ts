import { BundleCache } from './bundle.js';
import { crossSign } from './cross-sign.js';
import { checkIssuer, checkTrustBundle, type TrustBundleInput } from './policy.js';
import {
  bundleOf,
  daysFromNow,
  hoursFromNow,
  makeAnchor,
  makeExpiredAnchor,
  makeImpostor,
  makeIssuer,
  makeNonCA,
  type Credentials,
} from './testing/fixtures.js';

const ACTIVE = 'Secret cert-manager/linkerd-active-anchor';
const PREPARED = 'Secret cert-manager/linkerd-trust-anchor';
const PREVIOUS = 'Secret cert-manager/linkerd-previous-anchor';
const ISSUER = 'Secret linkerd/linkerd-identity-issuer';

describe('checkTrustBundle', () => {
  let a: Credentials; // active anchor
  let b: Credentials; // next anchor
  let issuerA: Credentials;
  let issuerB: Credentials;

  beforeAll(async () => {
    a = await makeAnchor({ cn: 'root.linkerd.cluster.local' });
    b = await makeAnchor({ cn: 'root.linkerd.cluster.local' });
    issuerA = await makeIssuer(a);
    issuerB = await makeIssuer(b);
  });

  const input = (bundle: string, extra: Partial<TrustBundleInput> = {}): TrustBundleInput => ({
    bundle,
    bundleName: 'ca-bundle.crt',
    activeAnchor: { pem: a.certPem, source: ACTIVE },
    issuer: { pem: issuerA.certPem, source: ISSUER },
    now: new Date(),
    ...extra,
  });

  it('allows a bundle with the active anchor that verifies the issuer', async () => {
    expect(await checkTrustBundle(input(bundleOf(a)))).toEqual({ allowed: true, reasons: [], warnings: [] });
    expect((await checkTrustBundle(input(bundleOf(b, a), { preparedAnchor: { pem: b.certPem, source: PREPARED } }))).allowed).toBe(true);
  });

  it('denies a bundle without the active anchor, naming what was expected and found', async () => {
    const verdict = await checkTrustBundle(input(bundleOf(b), { issuer: { pem: issuerB.certPem, source: ISSUER }, preparedAnchor: { pem: b.certPem, source: PREPARED } }));
    expect(verdict.allowed).toBe(false);
    expect(verdict.reasons).toHaveLength(1);
    expect(verdict.reasons[0]).toContain(`must contain the active trust anchor`);
    expect(verdict.reasons[0]).toContain(a.fingerprint.slice(0, 16));
    expect(verdict.reasons[0]).toContain(b.fingerprint.slice(0, 16));
    expect(verdict.reasons[0]).toContain(ACTIVE);
    expect(verdict.reasons[0]).toMatch(/keep the active anchor/);
  });

  it('never takes an impostor with the active anchor name for the active anchor', async () => {
    const impostor = await makeImpostor(a);
    const verdict = await checkTrustBundle(input(bundleOf(impostor)));
    expect(verdict.allowed).toBe(false);
    expect(verdict.reasons.join()).toMatch(/same name but is a different certificate/);
    expect(verdict.reasons.join()).toMatch(/verifies the current identity issuer/);
  });

  it('denies a bundle in which no anchor verifies the current issuer', async () => {
    // The active anchor is b (promoted), but the issuer is still signed by a, which was dropped.
    const verdict = await checkTrustBundle(
      input(bundleOf(b), { activeAnchor: { pem: b.certPem, source: ACTIVE } }),
    );
    expect(verdict.allowed).toBe(false);
    expect(verdict.reasons).toEqual([expect.stringMatching(/must contain an anchor that verifies the current identity issuer/)]);
  });

  it('denies a private key of any flavour and never echoes it', async () => {
    for (const key of [a.keyPem, a.keyPemTraditional, (await makeAnchor({ key: 'rsa-2048' })).keyPemTraditional]) {
      const verdict = await checkTrustBundle(input(bundleOf(a) + key));
      expect(verdict.allowed).toBe(false);
      expect(verdict.reasons[0]).toMatch(/contains a private key \(block 2\)/);
      const body = key.split('\n')[1] as string;
      expect(JSON.stringify(verdict)).not.toContain(body.slice(0, 20));
    }
  });

  it('denies non-certificate blocks, garbage PEM and non-CA certificates', async () => {
    const garbage = '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n';
    const g = await checkTrustBundle(input(bundleOf(a) + garbage));
    expect(g.allowed).toBe(false);
    // Go's PEM decoder skips the unreadable block, finds nothing after it, and identity refuses the bundle.
    expect(g.reasons).toEqual([
      expect.stringMatching(/block 2 at line \d+ \(CERTIFICATE\) is not valid base64; fix or remove/),
      expect.stringMatching(/line \d+ starts text that is no PEM block Linkerd can read .* refuses to start/),
    ]);

    const crl = await checkTrustBundle(input(bundleOf(a) + '-----BEGIN X509 CRL-----\nMAMCAQU=\n-----END X509 CRL-----\n'));
    expect(crl.reasons).toEqual([expect.stringMatching(/block 2 at line \d+ is "X509 CRL", but only CERTIFICATE blocks/)]);

    const leafy = await makeNonCA();
    const nonCa = await checkTrustBundle(input(bundleOf(a, leafy)));
    expect(nonCa.reasons).toEqual([expect.stringMatching(/certificate 2 .* is not a CA/)]);
  });

  it('denies an empty bundle and a bundle of text only', async () => {
    expect((await checkTrustBundle(input(''))).reasons[0]).toMatch(/contains no certificate/);
    expect((await checkTrustBundle(input('hello\nworld\n'))).reasons[0]).toMatch(/contains no certificate/);
  });

  it('denies anchors that Linkerd does not support', async () => {
    const p384 = await makeAnchor({ key: 'ecdsa-p384' });
    const verdict = await checkTrustBundle(input(bundleOf(a, p384), { preparedAnchor: { pem: p384.certPem, source: PREPARED } }));
    expect(verdict.reasons).toEqual([expect.stringMatching(/ECDSA P-256 or RSA 2048\/4096, found ECDSA P-384/)]);
  });

  it('warns about expired, not-yet-valid, soon-expiring and duplicate certificates, and stray text', async () => {
    const expired = await makeExpiredAnchor();
    const future = await makeAnchor({ notBefore: daysFromNow(2), notAfter: daysFromNow(300) });
    const soon = await makeAnchor({ notAfter: daysFromNow(10) });
    const previous = (c: Credentials) => ({ required: [expired, future, soon].map((x) => ({ fingerprint: x.fingerprint, source: 'a test' })), previousAnchor: { pem: c.certPem, source: PREVIOUS } });
    const verdict = await checkTrustBundle(input(`# note\n${bundleOf(a, expired, future, soon, a)}`, previous(a)));
    expect(verdict.allowed).toBe(true);
    expect(verdict.warnings).toEqual([
      expect.stringMatching(/1 line\(s\) of text outside PEM blocks/),
      expect.stringMatching(/certificate 2 .* expired at/),
      expect.stringMatching(/certificate 3 .* is not valid before/),
      expect.stringMatching(/certificate 4 .* expires in 9 day/),
      expect.stringMatching(/certificate 5 .* appears more than once/),
    ]);
  });

  it('enforces the size and count limits', async () => {
    const big = await checkTrustBundle(input(bundleOf(a) + '#'.repeat(2000), { limits: { maxBytes: 1000 } }));
    expect(big.reasons).toEqual([expect.stringMatching(/bytes, over the limit of 1000/)]);
    const many = await checkTrustBundle(input(bundleOf(a, b), { limits: { maxCertificates: 1 }, previousAnchor: { pem: b.certPem, source: PREVIOUS } }));
    expect(many.reasons).toEqual([expect.stringMatching(/holds 2 certificates, over the limit of 1/)]);
  });

  it('keeps the anchors the rotation requires', async () => {
    const required = [{ fingerprint: a.fingerprint, source: 'rotation state (phase trust-both)' }];
    const ok = await checkTrustBundle(input(bundleOf(a, b), { required, preparedAnchor: { pem: b.certPem, source: PREPARED } }));
    expect(ok.allowed).toBe(true);
    const dropped = await checkTrustBundle(
      input(bundleOf(b), { required, activeAnchor: { pem: b.certPem, source: ACTIVE }, issuer: { pem: issuerB.certPem, source: ISSUER } }),
    );
    expect(dropped.reasons).toEqual([expect.stringMatching(/must keep the anchor sha256:[0-9a-f]{16} required by rotation state/)]);
  });

  it('warns when an expected anchor is missing, and when the active anchor is unknown', async () => {
    const verdict = await checkTrustBundle(input(bundleOf(a), { preparedAnchor: { pem: b.certPem, source: PREPARED }, previousAnchor: { pem: a.certPem, source: PREVIOUS }, activeAnchor: undefined }));
    expect(verdict.allowed).toBe(true);
    expect(verdict.warnings).toEqual([
      expect.stringMatching(/active trust anchor is not known/),
      expect.stringMatching(/does not contain .* from Secret cert-manager\/linkerd-trust-anchor/),
    ]);
    // With no anchor Secret known at all, extra certificates cannot be judged: a warning, not a denial.
    const blind = await checkTrustBundle(input(bundleOf(a, b), { activeAnchor: undefined }));
    expect(blind.allowed).toBe(true);
    expect(blind.warnings).toEqual([expect.stringMatching(/no anchor Secret is known, so ca-bundle.crt was not checked for certificates that are not anchors/), expect.stringMatching(/active trust anchor is not known/)]);
  });

  it('denies when the active anchor itself cannot be read', async () => {
    const verdict = await checkTrustBundle(input(bundleOf(a), { activeAnchor: { pem: 'garbage', source: ACTIVE } }));
    expect(verdict.reasons).toEqual([expect.stringMatching(/active trust anchor in .* could not be read/)]);
  });

  describe('reads the text as Linkerd identity does (linkerd2 pkg/tls/codec.go DecodePEMCertificates)', () => {
    const prepared = () => ({ preparedAnchor: { pem: b.certPem, source: PREPARED } });
    const lines = (text: string) => text.split('\n').length;
    // trust-manager writes its blocks joined by one line break and trims the end (pkg/util CertPool.PEM).
    const trustManager = () => bundleOf(a, b).trimEnd();

    it("allows trust-manager's text, one final line break, CRLF line breaks and text before a block", async () => {
      for (const text of [trustManager(), `${trustManager()}\n`, bundleOf(a, b).replace(/\n/g, '\r\n'), `# anchors\n${bundleOf(a, b)}`]) {
        const verdict = await checkTrustBundle(input(text, prepared()));
        expect(verdict.reasons).toEqual([]);
      }
    });

    it.each([
      ['an extra blank line', '\n', /an extra blank or whitespace-only line/],
      ['a whitespace-only line', '  \n', /an extra blank or whitespace-only line/],
      ['a comment', '# rotated by hand\n', /text that is no PEM block Linkerd can read/],
    ])('denies %s after the last END line, naming the line', async (_what, tail, found) => {
      const text = bundleOf(a, b) + tail;
      const verdict = await checkTrustBundle(input(text, prepared()));
      expect(verdict.allowed).toBe(false);
      expect(verdict.reasons).toEqual([expect.stringMatching(new RegExp(`^ca-bundle.crt: line ${lines(bundleOf(a, b))} starts`))]);
      expect(verdict.reasons[0]).toMatch(found);
      expect(verdict.reasons[0]).toMatch(/refuses to start .* remove everything after that line/);
    });

    it('denies a PUBLIC KEY block between certificates, and names the anchor Linkerd would silently drop after it', async () => {
      const publicKey = (await makeAnchor()).cert.x509.publicKey.toString('pem');
      const text = a.certPem + publicKey + '\n' + b.certPem;
      const verdict = await checkTrustBundle(input(text, prepared()));
      expect(verdict.allowed).toBe(false);
      const keyLine = lines(a.certPem);
      expect(verdict.reasons).toEqual([
        expect.stringMatching(new RegExp(`block 2 at line ${keyLine} is "PUBLIC KEY", but only CERTIFICATE blocks are allowed`)),
        expect.stringMatching(new RegExp(`block 3 at line \\d+ \\(CERTIFICATE\\) is not read by Linkerd: it comes after the "PUBLIC KEY" block at line ${keyLine}, where Linkerd's identity controller stops reading`)),
      ]);
    });

    it('denies a block Go does not recognise (an indented BEGIN line), which identity would skip', async () => {
      const indented = b.certPem.split('\n').map((l) => (l ? `  ${l}` : l)).join('\n');
      const verdict = await checkTrustBundle(input(indented + a.certPem, prepared()));
      expect(verdict.reasons).toEqual([expect.stringMatching(/block 1 at line 1 \(CERTIFICATE\) is not read by Linkerd: Linkerd's identity controller does not recognise it/)]);
    });
  });

  describe('only anchors of this install (prepared, active, previous, kept by the rotation)', () => {
    it('denies any other CA, naming it by subject and short fingerprint', async () => {
      const attacker = await makeAnchor({ cn: 'attacker' });
      const verdict = await checkTrustBundle(input(bundleOf(a, attacker)));
      expect(verdict.allowed).toBe(false);
      expect(verdict.reasons).toEqual([
        expect.stringMatching(new RegExp(`^certificate 2 "CN=attacker" \\(sha256:${attacker.fingerprint.slice(0, 16)}\\) is not an anchor of this install: .* the active anchor .*${ACTIVE}.* remove it`)),
      ]);
    });

    it('names every foreign CA in one reason, so 50 of them give one explanation, not 50 copies', async () => {
      const foreign = [await makeAnchor({ cn: 'one' }), await makeAnchor({ cn: 'two' }), await makeAnchor({ cn: 'three' })];
      const verdict = await checkTrustBundle(input(bundleOf(foreign[0]!, a, foreign[1]!, foreign[2]!)));
      const [one, two, three] = foreign.map((c) => c.fingerprint.slice(0, 16));
      expect(verdict.reasons).toEqual([
        expect.stringMatching(
          new RegExp(`^certificates 1 "CN=one" \\(sha256:${one}\\), 3 "CN=two" \\(sha256:${two}\\) and 4 "CN=three" \\(sha256:${three}\\) are not anchors of this install: .* whatever they sign; remove them`),
        ),
      ]);
    });

    it('allows the prepared, previous and required anchors, and nothing else', async () => {
      const c = await makeAnchor();
      const roles = { preparedAnchor: { pem: b.certPem, source: PREPARED }, previousAnchor: { pem: c.certPem, source: PREVIOUS } };
      expect((await checkTrustBundle(input(bundleOf(c, a, b), roles))).reasons).toEqual([]);
      const kept = await makeAnchor();
      const required = [{ fingerprint: kept.fingerprint, source: 'the rotation' }];
      expect((await checkTrustBundle(input(bundleOf(a, kept), { required }))).reasons).toEqual([]);
      expect((await checkTrustBundle(input(bundleOf(a, kept)))).reasons).toEqual([expect.stringMatching(/certificate 2 .* is not an anchor of this install/)]);
    });

    it('denies a cross-signature X: it belongs in the issuer chain, never in the bundle', async () => {
      const x = await crossSign({ subject: b.certPem, issuer: a.certPem, issuerKey: a.keyPem });
      const roles = { preparedAnchor: { pem: b.certPem, source: PREPARED }, previousAnchor: { pem: a.certPem, source: PREVIOUS } };
      const verdict = await checkTrustBundle(input(bundleOf(a, b) + x, { ...roles, activeAnchor: { pem: b.certPem, source: ACTIVE } }));
      expect(verdict.allowed).toBe(false);
      expect(verdict.reasons).toEqual([expect.stringMatching(/certificate 3 .* is a cross-signature of .* by .*, not a trust anchor: it belongs in the identity issuer's chain .* remove it/)]);
      // Named a cross-signature even when its signer is known only as the active Secret's cross-signer.
      const retired = await checkTrustBundle(input(b.certPem + x, { activeAnchor: { pem: b.certPem, source: ACTIVE }, crossSigners: [{ pem: a.certPem, source: 'cross-signer.crt' }], issuer: undefined }));
      expect(retired.reasons).toEqual([expect.stringMatching(/certificate 2 .* is a cross-signature of/)]);
    });
  });

  it('parses a repeated bundle once', async () => {
    const cache = new BundleCache(8);
    const text = bundleOf(a, b);
    await checkTrustBundle(input(text), cache);
    const misses = cache.misses;
    await checkTrustBundle(input(text), cache);
    expect(cache.misses).toBe(misses);
    expect(cache.hits).toBeGreaterThan(0);
  });

  it("answers whether the issuer chains per bundle and issuer, never from another pair's answer in the same cache", async () => {
    const cache = new BundleCache(8);
    const withB = { preparedAnchor: { pem: b.certPem, source: PREPARED } };
    const onB = { activeAnchor: { pem: b.certPem, source: ACTIVE } };
    const issuerOnB = { issuer: { pem: issuerB.certPem, source: ISSUER } };
    expect((await checkTrustBundle(input(bundleOf(a, b), withB), cache)).allowed).toBe(true);
    // Same issuer, another bundle: it no longer holds the issuer's anchor.
    expect((await checkTrustBundle(input(bundleOf(b), onB), cache)).reasons).toEqual([expect.stringMatching(/must contain an anchor that verifies the current identity issuer/)]);
    // Same bundle, another issuer: now it does.
    expect((await checkTrustBundle(input(bundleOf(b), { ...onB, ...issuerOnB }), cache)).allowed).toBe(true);
    // And the first pair again, then its bundle with the other issuer.
    expect((await checkTrustBundle(input(bundleOf(a, b), withB), cache)).allowed).toBe(true);
    expect((await checkTrustBundle(input(bundleOf(a), { ...withB, ...issuerOnB }), cache)).reasons).toEqual([expect.stringMatching(/must contain an anchor that verifies the current identity issuer/)]);
  });
});

describe('checkIssuer', () => {
  let a: Credentials;
  let b: Credentials;
  let issuer: Credentials;

  beforeAll(async () => {
    a = await makeAnchor();
    b = await makeAnchor();
    issuer = await makeIssuer(a);
  });

  const bundle = (pem: string) => ({ pem, source: 'ConfigMap linkerd/linkerd-identity-trust-roots' });
  const activeIs = (anchor: Credentials) => [{ role: 'the active anchor', pem: anchor.certPem, source: ACTIVE }];

  it('allows a CA issuer with its own key that chains to the bundle, SEC1 or PKCS#8', async () => {
    for (const keyPem of [issuer.keyPem, issuer.keyPemTraditional]) {
      const verdict = await checkIssuer({ certPem: issuer.certPem, keyPem, caPem: a.certPem, source: ISSUER, bundle: bundle(bundleOf(a, b)), signers: activeIs(a), now: new Date() });
      expect(verdict).toEqual({ allowed: true, reasons: [], warnings: [] });
    }
  });

  it('denies an issuer that does not chain to the current bundle', async () => {
    const verdict = await checkIssuer({ certPem: issuer.certPem, keyPem: issuer.keyPem, source: ISSUER, bundle: bundle(bundleOf(b)), now: new Date() });
    expect(verdict.reasons).toEqual([expect.stringMatching(/must chain to an anchor in the current trust bundle/)]);
  });

  it('denies an issuer that chains to another anchor of the bundle than the active one (the prepared anchor before promotion)', async () => {
    const byPrepared = await makeIssuer(b);
    const verdict = await checkIssuer({ certPem: byPrepared.certPem, keyPem: byPrepared.keyPem, source: ISSUER, bundle: bundle(bundleOf(a, b)), signers: activeIs(a), now: new Date() });
    expect(verdict.allowed).toBe(false);
    expect(verdict.reasons).toEqual([
      expect.stringMatching(new RegExp(`must chain to the active anchor .*sha256:${a.fingerprint.slice(0, 16)}.*${ACTIVE}.*, but it chains to .*sha256:${b.fingerprint.slice(0, 16)}.*, another anchor of ConfigMap linkerd/linkerd-identity-trust-roots; .* spec.ca.secretName`)),
    ]);
    // After promotion the rotation's target is a signer too.
    const promoted = [...activeIs(a), { role: "the rotation's promoted anchor", pem: b.certPem, source: 'Secret cert-manager/linkerd-trust-anchor' }];
    expect((await checkIssuer({ certPem: byPrepared.certPem, keyPem: byPrepared.keyPem, source: ISSUER, bundle: bundle(bundleOf(a, b)), signers: promoted, now: new Date() })).reasons).toEqual([]);
  });

  it('denies an issuer chained to the active anchor while the bundle does not hold it yet', async () => {
    const verdict = await checkIssuer({ certPem: issuer.certPem, keyPem: issuer.keyPem, source: ISSUER, bundle: bundle(bundleOf(b)), signers: activeIs(a), now: new Date() });
    expect(verdict.reasons).toEqual([expect.stringMatching(/must chain to an anchor in the current trust bundle .* it chains to .*, so wait until trust-manager has published that anchor/)]);
  });

  it('allows the cross-signed layout: tls.crt = [I_B, X] with the active anchor B', async () => {
    const x = await crossSign({ subject: b.certPem, issuer: a.certPem, issuerKey: a.keyPem });
    const issuerB = await makeIssuer(b);
    for (const trusted of [bundleOf(a, b), bundleOf(b)]) {
      const verdict = await checkIssuer({ certPem: issuerB.certPem + x, keyPem: issuerB.keyPem, caPem: x, source: ISSUER, bundle: bundle(trusted), signers: activeIs(b), now: new Date() });
      expect(verdict.reasons).toEqual([]);
    }
  });

  it('denies an issuer signed by an impostor of the anchor', async () => {
    const impostor = await makeImpostor(a);
    const forged = await makeIssuer(impostor);
    const verdict = await checkIssuer({ certPem: forged.certPem, keyPem: forged.keyPem, source: ISSUER, bundle: bundle(bundleOf(a)), now: new Date() });
    expect(verdict.allowed).toBe(false);
    expect(verdict.reasons[0]).toMatch(/did not sign/);
  });

  it('denies a key that does not match, and a missing key', async () => {
    const wrongKey = await checkIssuer({ certPem: issuer.certPem, keyPem: a.keyPem, source: ISSUER, bundle: bundle(bundleOf(a)), now: new Date() });
    expect(wrongKey.reasons).toEqual([expect.stringMatching(/tls.key .* must be the private key .* does not belong/)]);
    const noKey = await checkIssuer({ certPem: issuer.certPem, keyPem: undefined, source: ISSUER, bundle: bundle(bundleOf(a)), now: new Date() });
    expect(noKey.reasons).toEqual([expect.stringMatching(/has no tls.key/)]);
  });

  it('denies a non-CA, an expired and a not-yet-valid issuer', async () => {
    const leafLike = await makeIssuer(a, { isCA: false });
    const expired = await makeIssuer(a, { notBefore: daysFromNow(-3), notAfter: daysFromNow(-1) });
    const future = await makeIssuer(a, { notBefore: hoursFromNow(2), notAfter: daysFromNow(2) });
    for (const [cred, pattern] of [
      [leafLike, /is not a CA/],
      [expired, /expired at .* must be valid now/],
      [future, /is not valid before/],
    ] as const) {
      const verdict = await checkIssuer({ certPem: cred.certPem, keyPem: cred.keyPem, source: ISSUER, bundle: bundle(bundleOf(a)), now: new Date() });
      expect(verdict.allowed).toBe(false);
      expect(verdict.reasons[0]).toMatch(pattern);
    }
  });

  it('denies an RSA issuer, as Linkerd requires ECDSA P-256', async () => {
    const rsa = await makeIssuer(a, { key: 'rsa-2048' });
    const verdict = await checkIssuer({ certPem: rsa.certPem, keyPem: rsa.keyPem, source: ISSUER, bundle: bundle(bundleOf(a)), now: new Date() });
    expect(verdict.reasons).toEqual([expect.stringMatching(/must be ECDSA P-256, found RSA 2048/)]);
  });

  it('denies a private key or garbage in tls.crt', async () => {
    const pasted = await checkIssuer({ certPem: issuer.keyPem, keyPem: issuer.keyPem, source: ISSUER, now: new Date() });
    expect(pasted.reasons[0]).toMatch(/tls.crt of .* contains a private key/);
    const garbage = await checkIssuer({ certPem: 'nonsense', keyPem: issuer.keyPem, source: ISSUER, now: new Date() });
    expect(garbage.reasons).toEqual([expect.stringMatching(/holds no certificate/)]);
  });

  it('warns when the issuer expires within a day, or its ca.crt is not in the bundle, or the bundle is unknown', async () => {
    const short = await makeIssuer(a, { notAfter: hoursFromNow(3) });
    const verdict = await checkIssuer({ certPem: short.certPem, keyPem: short.keyPem, caPem: b.certPem, source: ISSUER, bundle: bundle(bundleOf(a)), signers: activeIs(a), now: new Date() });
    expect(verdict.allowed).toBe(true);
    expect(verdict.warnings).toEqual([expect.stringMatching(/expires within 24 hours/), expect.stringMatching(/ca.crt .* is not in the current trust bundle/)]);
    const unknown = await checkIssuer({ certPem: issuer.certPem, keyPem: issuer.keyPem, source: ISSUER, now: new Date() });
    expect(unknown.warnings).toEqual([expect.stringMatching(/current trust bundle is not known/)]);
  });
});
