// What real cert-manager (v1.21's CA issuer) writes into an issued CA certificate's Secret when its
// CA Secret holds the cross-signed X: the facts docs/cross-signing.md designs the rotation on.
import { crossSign, parseBundle, verifyChain, type ParsedCertificate } from '@linkerd-rotator/x509';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { waitFor } from '../cluster/src/index.js';
import { createNamespace, useCluster } from '../support/cluster.js';
import { cmctlRenew } from '../support/common-recipe.js';

const testCluster = useCluster();
const kubectl = (args: string[], input?: string) => testCluster().kubectl(args, input === undefined ? {} : { input });
const CLUSTER_RESOURCE_NAMESPACE = 'cert-manager';

type Label = 'A' | 'B' | 'X' | 'I_B';

/** The CA Secret behind the ClusterIssuer: which certificates its tls.crt and ca.crt hold. */
interface Variant {
  slug: string;
  tlsCrt: Array<'X' | 'A'>;
  caCrt?: 'B';
}

/** Old anchor A, new anchor B (whose key the CA Secret holds) and X, B cross-signed by A. */
interface Pki {
  oldAnchor: Credentials;
  newAnchor: Credentials;
  cross: ParsedCertificate;
  pem: Record<'A' | 'B' | 'X', string>;
}

async function makePki(newAnchorKey: 'ecdsa-p256' | 'rsa-2048'): Promise<Pki> {
  // As Linkerd's cert-manager setup names them: both anchors CN=root.linkerd.cluster.local.
  const oldAnchor = await fixtures.makeAnchor();
  const newAnchor = await fixtures.makeAnchor({ key: newAnchorKey });
  const crossPem = await crossSign({ subject: newAnchor.cert, issuer: oldAnchor.cert, issuerKey: oldAnchor.keyPem });
  const cross = parseBundle(crossPem).certificates[0] as ParsedCertificate;
  return { oldAnchor, newAnchor, cross, pem: { A: oldAnchor.certPem, B: newAnchor.certPem, X: crossPem } };
}

const derOrder = (left: Uint8Array, right: Uint8Array) => Buffer.compare(Buffer.from(left), Buffer.from(right));

type Outcome =
  | { issued: true; tlsCrt: Label[]; caCrt: Label[]; issuer: ParsedCertificate; namespace: string }
  | { issued: false; reason: string; message: string };

/**
 * cert-manager's pki.ParseSingleCertificateChain (pkg/util/pki/parse_certificate_chain.go) over
 * labelled certificates: sort by DER bytes, then repeatedly pop the last chain and glue it to the
 * first chain it extends. `signs` holds the child>parent pairs whose names and signature match.
 * It returns tls.crt (the chain without self-signed certificates) and ca.crt (its root), or 'broken'.
 */
function certManagerChain(certs: Array<{ label: Label; der: Uint8Array }>, signs: ReadonlySet<string>): { tlsCrt: Label[]; caCrt: Label } | 'broken' {
  const sorted = [...certs].sort((a, b) => derOrder(a.der, b.der));
  const chains: Label[][] = sorted.map((c) => [c.label]);
  while (chains.length > 1) {
    const last = chains.pop() as Label[];
    const index = chains.findIndex((chain) => signs.has(`${chain.at(-1)}>${last[0]}`) || signs.has(`${last.at(-1)}>${chain[0]}`));
    if (index < 0) return 'broken';
    const chain = chains[index] as Label[];
    chains[index] = signs.has(`${chain.at(-1)}>${last[0]}`) ? [...chain, ...last] : [...last, ...chain];
  }
  const chain = chains[0] as Label[];
  // EncodeX509Chain (pkg/util/pki/csr.go) leaves out every self-signed certificate, not only the root.
  const selfSigned = (label: Label) => label === 'A' || label === 'B';
  return { tlsCrt: chain.filter((label) => !selfSigned(label)), caCrt: chain.at(-1) as Label };
}

describe('cert-manager CA issuer with a cross-signed certificate in its CA Secret', () => {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  // Which certificate signs which, by name and signature (B is "signed" by X: same key, same name).
  const signs = new Set(['I_B>X', 'I_B>B', 'B>X', 'X>A']);

  /** The CA Secret (B's key, in the SEC1 form cert-manager writes) and a CA ClusterIssuer on it. */
  async function clusterIssuer(pki: Pki, variant: Variant): Promise<string> {
    const name = `cross-${variant.slug}`;
    const caCrt = variant.caCrt ? `\n  ca.crt: ${b64(pki.pem[variant.caCrt])}` : '';
    await kubectl(['apply', '-f', '-'], `
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {name: ${name}, namespace: ${CLUSTER_RESOURCE_NAMESPACE}}
data:
  tls.crt: ${b64(variant.tlsCrt.map((label) => pki.pem[label]).join(''))}
  tls.key: ${b64(pki.newAnchor.keyPemTraditional)}${caCrt}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ${name}}
spec: {ca: {secretName: ${name}}}
`);
    await kubectl(['wait', '--for=condition=Ready', `clusterissuer/${name}`, '--timeout=120s']);
    return name;
  }

  /**
   * The CertificateRequest of the issuer Certificate's current revision (annotation
   * cert-manager.io/certificate-revision = status.revision): the runner's source of the issuer chain.
   */
  async function currentRequest(ns: string): Promise<{ revision: number; name: string; certificate: string | undefined }> {
    const cert = JSON.parse((await kubectl(['-n', ns, 'get', 'certificate', 'linkerd-identity-issuer', '-o', 'json'])).stdout) as { metadata: { uid: string }; status?: { revision?: number } };
    const revision = cert.status?.revision;
    if (revision === undefined) throw new Error(`expected Certificate ${ns}/linkerd-identity-issuer to have a status.revision, found none`);
    const list = JSON.parse((await kubectl(['-n', ns, 'get', 'certificaterequests', '-o', 'json'])).stdout) as {
      items: Array<{ metadata: { name: string; annotations?: Record<string, string>; ownerReferences?: Array<{ kind: string; uid: string }> }; status?: { certificate?: string } }>;
    };
    const mine = list.items.filter((r) => r.metadata.annotations?.['cert-manager.io/certificate-revision'] === String(revision) && r.metadata.ownerReferences?.some((o) => o.kind === 'Certificate' && o.uid === cert.metadata.uid));
    if (mine.length !== 1) throw new Error(`expected one CertificateRequest of revision ${revision} in ${ns}, found ${mine.length}`);
    return { revision, name: mine[0]!.metadata.name, certificate: mine[0]!.status?.certificate };
  }

  /** An isCA Certificate like Linkerd's identity issuer; waits until it is issued or its request fails. */
  async function issueIdentityIssuer(pki: Pki, issuerName: string, privateKey = '{algorithm: ECDSA, size: 256}'): Promise<Outcome> {
    const ns = await createNamespace('linkerd');
    await kubectl(['apply', '-f', '-'], `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: linkerd-identity-issuer, namespace: ${ns}}
spec:
  secretName: linkerd-identity-issuer
  isCA: true
  commonName: identity.linkerd.cluster.local
  dnsNames: [identity.linkerd.cluster.local]
  duration: 48h
  renewBefore: 25h
  privateKey: ${privateKey}
  usages: [cert sign, crl sign, server auth, client auth]
  issuerRef: {name: ${issuerName}, kind: ClusterIssuer}
`);
    const request = await waitFor(
      async () => {
        const list = JSON.parse((await kubectl(['-n', ns, 'get', 'certificaterequests', '-o', 'json'])).stdout) as {
          items: Array<{ status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> } }>;
        };
        const ready = list.items[0]?.status?.conditions?.find((c) => c.type === 'Ready');
        return ready && (ready.status === 'True' || ready.reason === 'Failed') ? ready : undefined;
      },
      { what: `the CertificateRequest in ${ns} to be issued or failed`, timeoutMs: 120_000, intervalMs: 250 },
    );
    if (request.status !== 'True') return { issued: false, reason: request.reason ?? '', message: request.message ?? '' };
    await kubectl(['-n', ns, 'wait', '--for=condition=Ready', 'certificate/linkerd-identity-issuer', '--timeout=120s']);
    const secret = JSON.parse((await kubectl(['-n', ns, 'get', 'secret', 'linkerd-identity-issuer', '-o', 'json'])).stdout) as { data: Record<string, string> };
    // The runner reads this chain from the request of the current revision, never the Secret (issue 14 item 6).
    expect((await currentRequest(ns)).certificate).toBe(secret.data['tls.crt']);
    const certsOf = (key: string) => parseBundle(Buffer.from(secret.data[key] ?? '', 'base64').toString()).certificates;
    const tlsCrt = certsOf('tls.crt');
    const issuer = tlsCrt[0] as ParsedCertificate;
    const known = new Map<string, Label>([
      [pki.cross.fingerprint, 'X'],
      [pki.oldAnchor.fingerprint, 'A'],
      [pki.newAnchor.fingerprint, 'B'],
      [issuer.fingerprint, 'I_B'],
    ]);
    const label = (cert: ParsedCertificate): Label => {
      const found = known.get(cert.fingerprint);
      if (!found) throw new Error(`expected the issued Secret to hold only I_B, X, A or B, found ${cert.subject}; cert-manager wrote something new`);
      return found;
    };
    return { issued: true, tlsCrt: tlsCrt.map(label), caCrt: certsOf('ca.crt').map(label), issuer, namespace: ns };
  }

  /** The CA Secret's certificates as cert-manager's chain building sees them (ca.crt appended). */
  function caInputs(pki: Pki, variant: Variant): Array<{ label: Label; der: Uint8Array }> {
    const labels = variant.caCrt ? [...variant.tlsCrt, variant.caCrt] : variant.tlsCrt;
    return labels.map((label) => ({ label, der: (parseBundle(pki.pem[label]).certificates[0] as ParsedCertificate).der }));
  }

  let p256: Pki;
  let rsa: Pki;

  beforeAll(async () => {
    p256 = await makePki('ecdsa-p256');
    rsa = await makePki('rsa-2048');
  });

  it('tls.crt = [X], no ca.crt: the issuer Secret gets tls.crt [I_B, X] and ca.crt [X]', async () => {
    const outcome = await issueIdentityIssuer(p256, await clusterIssuer(p256, { slug: 'x', tlsCrt: ['X'] }));
    expect(outcome).toEqual(expect.objectContaining({ issued: true, tlsCrt: ['I_B', 'X'], caCrt: ['X'] }));
    const issuer = (outcome as { issuer: ParsedCertificate }).issuer;
    // Signed with B's key under B's name: it chains to B directly and to A through X.
    expect(issuer.issuer).toBe(p256.newAnchor.cert.subject);
    const at = new Date();
    expect((await verifyChain(issuer, { anchors: [p256.newAnchor.cert], at, targetSignsLeaves: true })).ok).toBe(true);
    expect((await verifyChain(issuer, { anchors: [p256.oldAnchor.cert], intermediates: [p256.cross], at, targetSignsLeaves: true })).ok).toBe(true);
    expect((await verifyChain(issuer, { anchors: [p256.oldAnchor.cert], at })).ok).toBe(false);
  });

  it("after a renewal the issuer Secret's tls.crt is, byte for byte, status.certificate of the request of the new revision: the runner's source of the issuer chain (issue 14 item 6)", async () => {
    const outcome = await issueIdentityIssuer(p256, await clusterIssuer(p256, { slug: 'renewal', tlsCrt: ['X'] }));
    expect(outcome.issued).toBe(true);
    const ns = (outcome as { namespace: string }).namespace;
    const first = await currentRequest(ns);
    await cmctlRenew(testCluster(), ns, 'linkerd-identity-issuer');
    const second = await waitFor(
      async () => {
        const now = await currentRequest(ns);
        return now.revision > first.revision ? now : undefined;
      },
      { what: `Certificate ${ns}/linkerd-identity-issuer to reach revision ${first.revision + 1}`, timeoutMs: 120_000, intervalMs: 250 },
    );
    const secret = JSON.parse((await kubectl(['-n', ns, 'get', 'secret', 'linkerd-identity-issuer', '-o', 'json'])).stdout) as { data: Record<string, string> };
    expect(second.revision).toBe(first.revision + 1);
    expect(second.certificate).toBe(secret.data['tls.crt']);
    // A new certificate (new serial, validity and, under rotationPolicy Always, key): pairing the new revision with the old request would be wrong.
    expect(second.certificate).not.toBe(first.certificate);
  });

  it('tls.crt = [X, A], no ca.crt: tls.crt [I_B, X] (the self-signed A left out) and ca.crt [A]', async () => {
    const outcome = await issueIdentityIssuer(p256, await clusterIssuer(p256, { slug: 'x-a', tlsCrt: ['X', 'A'] }));
    expect(outcome).toEqual(expect.objectContaining({ issued: true, tlsCrt: ['I_B', 'X'], caCrt: ['A'] }));
  });

  // With ca.crt = B, cert-manager appends B to the CA chain, and B is "signed by" X (same key,
  // same name): whether the certificates form one chain depends on their DER byte order.
  it.each<{ title: string; variant: Variant }>([
    { title: '[X]', variant: { slug: 'x-ca-b', tlsCrt: ['X'], caCrt: 'B' } },
    { title: '[X, A]', variant: { slug: 'x-a-ca-b', tlsCrt: ['X', 'A'], caCrt: 'B' } },
  ])('tls.crt = $title, ca.crt = B, P-256 anchors (B sorts before X): I_B -> B -> X, written as tls.crt [I_B, X]', async ({ variant }) => {
    const outcome = await issueIdentityIssuer(p256, await clusterIssuer(p256, variant));
    expect(outcome).toEqual(expect.objectContaining({ issued: true, tlsCrt: ['I_B', 'X'], caCrt: [variant.tlsCrt.includes('A') ? 'A' : 'X'] }));
    const issuer = (outcome as { issuer: ParsedCertificate }).issuer;
    expect(certManagerChain([...caInputs(p256, variant), { label: 'I_B', der: issuer.der }], signs)).toEqual({
      tlsCrt: ['I_B', 'X'],
      caCrt: variant.tlsCrt.includes('A') ? 'A' : 'X',
    });
  });

  it('tls.crt = [X], ca.crt = B, with X sorting before B and I_B after it: issuance fails, "certificate chain is malformed or broken"', async () => {
    // An RSA 2048 B: X carries B's key but A's short ECDSA signature, so X sorts before B; an
    // RSA 2048 identity issuer (signed by B's RSA key, with SANs and usages) sorts after B.
    const variant: Variant = { slug: 'x-ca-b-rsa', tlsCrt: ['X'], caCrt: 'B' };
    expect(derOrder(rsa.cross.der, rsa.newAnchor.cert.der)).toBeLessThan(0);
    const outcome = await issueIdentityIssuer(rsa, await clusterIssuer(rsa, variant), '{algorithm: RSA, size: 2048}');
    expect(outcome).toEqual({ issued: false, reason: 'Failed', message: expect.stringContaining('certificate chain is malformed or broken') });
    // I_B's bytes are unknown after a failure: the model breaks with I_B sorting last, and the same
    // CA Secret without ca.crt would have worked.
    expect(certManagerChain([...caInputs(rsa, variant), { label: 'I_B', der: Uint8Array.of(0xff) }], signs)).toBe('broken');
    expect(certManagerChain([...caInputs(rsa, { ...variant, caCrt: undefined }), { label: 'I_B', der: Uint8Array.of(0xff) }], signs)).toEqual({
      tlsCrt: ['I_B', 'X'],
      caCrt: 'X',
    });
  });
});
