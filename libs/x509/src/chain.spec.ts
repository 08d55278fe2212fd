import { verifyChain, verifySignature } from './chain.js';
import { daysFromNow, makeAnchor, makeImpostor, makeIssuer, makeLeaf, makeNonCA, type Credentials } from './testing/fixtures.js';

describe('verifyChain', () => {
  let anchor: Credentials;
  let issuer: Credentials;
  let leaf: Credentials;
  let impostor: Credentials;

  beforeAll(async () => {
    anchor = await makeAnchor({ cn: 'root.linkerd.cluster.local' });
    issuer = await makeIssuer(anchor);
    leaf = await makeLeaf(issuer);
    impostor = await makeImpostor(anchor);
  });

  it('accepts an issuer signed by the anchor', async () => {
    const result = await verifyChain(issuer.cert, { anchors: [anchor.cert], at: new Date() });
    expect(result).toEqual(expect.objectContaining({ ok: true }));
    if (result.ok) expect(result.anchor.fingerprint).toBe(anchor.fingerprint);
  });

  it('walks leaf -> issuer -> anchor through intermediates', async () => {
    const result = await verifyChain(leaf.cert, { anchors: [anchor.cert], intermediates: [issuer.cert], at: new Date() });
    expect(result.ok && result.path.map((c) => c.fingerprint)).toEqual([leaf.fingerprint, issuer.fingerprint, anchor.fingerprint]);
  });

  it('never accepts an impostor with the anchor subject but another key', async () => {
    expect(impostor.cert.subject).toBe(anchor.cert.subject);
    const result = await verifyChain(issuer.cert, { anchors: [impostor.cert] });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/did not sign/);
    expect(await verifySignature(issuer.cert, impostor.cert)).toBe(false);
    expect(await verifySignature(issuer.cert, anchor.cert)).toBe(true);
  });

  it('finds the real anchor when an impostor is listed first', async () => {
    const result = await verifyChain(issuer.cert, { anchors: [impostor.cert, anchor.cert] });
    expect(result.ok && result.anchor.fingerprint).toBe(anchor.fingerprint);
  });

  it('rejects a chain through an expired anchor when a time is given', async () => {
    const old = await makeAnchor({ notBefore: daysFromNow(-10), notAfter: daysFromNow(-1) });
    const child = await makeIssuer(old, { notBefore: daysFromNow(-5), notAfter: daysFromNow(5) });
    expect((await verifyChain(child.cert, { anchors: [old.cert] })).ok).toBe(true);
    const timed = await verifyChain(child.cert, { anchors: [old.cert], at: new Date() });
    expect(timed.ok).toBe(false);
    if (!timed.ok) expect(timed.reason).toMatch(/expired/);
  });

  it('rejects an expired target when a time is given', async () => {
    const stale = await makeIssuer(anchor, { notBefore: daysFromNow(-3), notAfter: daysFromNow(-1) });
    const result = await verifyChain(stale.cert, { anchors: [anchor.cert], at: new Date() });
    expect(result.ok).toBe(false);
  });

  it('rejects a parent that is not a CA even if its signature verifies', async () => {
    const notCa = await makeNonCA({ cn: 'fake-root' });
    const child = await makeIssuer(notCa);
    expect(await verifySignature(child.cert, notCa.cert)).toBe(true);
    const result = await verifyChain(child.cert, { anchors: [notCa.cert] });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/not a CA/);
  });

  it('rejects a CA parent whose keyUsage lacks keyCertSign', async () => {
    // cA=TRUE, but keyUsage digitalSignature only.
    const odd = await makeAnchor({ cn: 'odd-root', keyUsage: 'digital-signature' });
    expect(odd.cert.isCA).toBe(true);
    expect(odd.cert.canSignCertificates).toBe(false);
    const child = await makeIssuer(odd);
    const result = await verifyChain(child.cert, { anchors: [odd.cert] });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/keyCertSign/);
  });

  it('counts an issuer against an anchor pathLen of 0 when it signs leaves', async () => {
    const strict = await makeAnchor({ pathLength: 0 });
    const child = await makeIssuer(strict);
    expect((await verifyChain(child.cert, { anchors: [strict.cert] })).ok).toBe(true);
    const forLeaves = await verifyChain(child.cert, { anchors: [strict.cert], targetSignsLeaves: true });
    expect(forLeaves.ok).toBe(false);
    if (!forLeaves.ok) expect(forLeaves.reason).toMatch(/pathLenConstraint/);
  });

  it('accepts a target that is itself an anchor, matched by DER', async () => {
    expect((await verifyChain(anchor.cert, { anchors: [anchor.cert] })).ok).toBe(true);
    expect((await verifyChain(impostor.cert, { anchors: [anchor.cert] })).ok).toBe(false);
  });

  it('explains a missing issuer name', async () => {
    const stranger = await makeAnchor({ cn: 'someone-else' });
    const result = await verifyChain(issuer.cert, { anchors: [stranger.cert] });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/no certificate named "CN=root.linkerd.cluster.local"/);
  });
});
