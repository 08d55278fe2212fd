// Linkerd's verifier (rustls-webpki at linkerd2-proxy's version) and node:tls judge the cross-signed
// chains of issue 13 the same way. Real certificates, real TLS 1.3 handshakes on loopback; no cluster.
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { crossSign } from '@linkerd-rotator/x509';
import { fixtures, type CertOptions, type Credentials } from '@linkerd-rotator/x509/testing';
import { WebpkiVerifier, type WebpkiVerdict } from '../cluster/webpki/client.js';
import { ChainJudge, judgedRoots, presentedChain } from '../support/chain-judge.js';

type Usage = 'server' | 'client';

interface Case {
  roots: Credentials[];
  chain: Array<Pick<Credentials, 'certPem'>>;
  leaf: Credentials;
}

interface NodeVerdict {
  ok: boolean;
  error: string | undefined;
}

/**
 * OpenSSL's verdict through a real TLS 1.3 handshake: one side presents leaf + intermediates, the
 * other trusts `roots`. The verifying side does not reject, so the verdict is read, not inferred.
 */
async function nodeTlsVerdict(usage: Usage, { roots, chain, leaf }: Case): Promise<NodeVerdict> {
  const presented = { key: leaf.keyPem, cert: chain.map((c) => c.certPem).join('') };
  // A throwaway identity for the side that is not being judged.
  const other = await fixtures.makeLeaf(await fixtures.makeAnchor({ cn: 'other-side' }));
  const trusting = { ca: roots.map((r) => r.certPem), minVersion: 'TLSv1.3' as const };
  const serverOptions = usage === 'server' ? { ...presented } : { key: other.keyPem, cert: other.certPem, ...trusting, requestCert: true, rejectUnauthorized: false };
  const clientOptions = usage === 'server' ? { ...trusting, rejectUnauthorized: false } : { ...presented, rejectUnauthorized: false };

  const server = tls.createServer({ ...serverOptions, minVersion: 'TLSv1.3' });
  const serverVerdict = new Promise<NodeVerdict>((resolve) =>
    server.once('secureConnection', (socket) => {
      resolve({ ok: socket.authorized, error: socket.authorizationError?.toString() });
      socket.end('done');
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const clientVerdict = await new Promise<NodeVerdict>((resolve, reject) => {
      const socket = tls.connect({ ...clientOptions, host: '127.0.0.1', port: (server.address() as AddressInfo).port, checkServerIdentity: () => undefined });
      socket.once('secureConnect', () => {
        resolve({ ok: socket.authorized, error: socket.authorizationError?.toString() });
        socket.end();
      });
      socket.once('error', reject);
    });
    return usage === 'server' ? clientVerdict : await serverVerdict;
  } finally {
    server.close();
  }
}

/** A PKI of issue 13: old anchor A, new anchor B, B's identity issuer I_B, a proxy leaf, and X. */
interface Pki {
  oldAnchor: Credentials;
  newAnchor: Credentials;
  issuer: Credentials;
  leaf: Credentials;
  cross: { certPem: string };
}

async function makePki(options: { oldAnchor?: CertOptions; newAnchor?: CertOptions } = {}): Promise<Pki> {
  const oldAnchor = await fixtures.makeAnchor(options.oldAnchor);
  const newAnchor = await fixtures.makeAnchor(options.newAnchor);
  const issuer = await fixtures.makeIssuer(newAnchor);
  const leaf = await fixtures.makeLeaf(issuer);
  const cross = { certPem: await crossSign({ subject: newAnchor.cert, issuer: oldAnchor.cert, issuerKey: oldAnchor.keyPem }) };
  return { oldAnchor, newAnchor, issuer, leaf, cross };
}

describe('webpki (linkerd2-proxy) and node:tls on cross-signed chains', () => {
  let webpki: WebpkiVerifier;
  const pkis: Record<string, Pki> = {};

  beforeAll(async () => {
    // A cold build of webpki-verify took 206 s on this 2-core machine under load; cached, < 1 s.
    webpki = await WebpkiVerifier.start({ onBuildLine: (line) => process.stderr.write(`${line}\n`) });
    // As Linkerd's cert-manager setup makes them: both anchors CN=root.linkerd.cluster.local, P-256.
    pkis['same anchor names'] = await makePki();
    // Distinct names, and an RSA old anchor (linkerd2-proxy accepts RSA PKCS#1 2048-8192 signatures).
    pkis['distinct names, RSA old anchor'] = await makePki({ oldAnchor: { cn: 'root-2025', key: 'rsa-2048' }, newAnchor: { cn: 'root-2026' } });
  }, 20 * 60_000);

  afterAll(async () => {
    await webpki?.close();
  });

  it('is the rustls-webpki version linkerd2-proxy depends on', () => {
    expect(webpki.rustlsWebpkiVersion).toBe('0.103.13');
  });

  async function judge(usage: Usage, testCase: Case): Promise<{ webpki: WebpkiVerdict; node: NodeVerdict }> {
    const [webpkiVerdict, nodeVerdict] = await Promise.all([
      webpki.verify({ roots: testCase.roots.map((r) => r.certPem), chain: testCase.chain.map((c) => c.certPem), usage, at: new Date() }),
      nodeTlsVerdict(usage, testCase),
    ]);
    // A disagreement is a finding about the verifiers, and fails the test on its own.
    const webpkiAccepts = webpkiVerdict.ok;
    expect(webpkiAccepts).toBe(nodeVerdict.ok);
    return { webpki: webpkiVerdict, node: nodeVerdict };
  }

  describe.each(['same anchor names', 'distinct names, RSA old anchor'])('%s', (name) => {
    const pki = () => pkis[name] as Pki;

    it.each<Usage>(['server', 'client'])('roots {A} accept leaf + [I_B, X] (%s side)', async (usage) => {
      const { oldAnchor, issuer, leaf, cross } = pki();
      const verdict = await judge(usage, { roots: [oldAnchor], chain: [leaf, issuer, cross], leaf });
      expect(verdict.webpki).toEqual({ ok: true, anchorIndex: 0, intermediatesUsed: 2 });
      expect(verdict.node.ok).toBe(true);
    });

    it.each<Usage>(['server', 'client'])('roots {A} reject leaf + [I_B] without X: the control (%s side)', async (usage) => {
      const { oldAnchor, issuer, leaf } = pki();
      const verdict = await judge(usage, { roots: [oldAnchor], chain: [leaf, issuer], leaf });
      expect(verdict.webpki.ok).toBe(false);
      expect(verdict.node.ok).toBe(false);
      // Same names: A is tried as I_B's issuer and its key fails the signature; distinct: no issuer.
      const expected = name === 'same anchor names' ? 'InvalidSignatureForPublicKey' : 'UnknownIssuer';
      expect(verdict.webpki.ok === false && verdict.webpki.error).toBe(expected);
    });

    it.each<Usage>(['server', 'client'])('roots {B} accept leaf + [I_B], and leaf + [I_B, X] (%s side)', async (usage) => {
      const { newAnchor, issuer, leaf, cross } = pki();
      for (const chain of [[leaf, issuer], [leaf, issuer, cross]]) {
        const verdict = await judge(usage, { roots: [newAnchor], chain, leaf });
        expect(verdict.webpki).toEqual({ ok: true, anchorIndex: 0, intermediatesUsed: 1 });
      }
    });

    it('roots {A, B} accept both chains, through B: webpki tries trust anchors before intermediates', async () => {
      const { oldAnchor, newAnchor, issuer, leaf, cross } = pki();
      for (const chain of [[leaf, issuer], [leaf, issuer, cross]]) {
        const verdict = await judge('server', { roots: [oldAnchor, newAnchor], chain, leaf });
        expect(verdict.webpki).toEqual({ ok: true, anchorIndex: 1, intermediatesUsed: 1 });
      }
    });
  });

  it('rejects the chain through X once X has expired (at A\'s notAfter at the latest), unless the proxy trusts B', async () => {
    const { oldAnchor, issuer, leaf, cross } = pkis['same anchor names'] as Pki;
    const request = { roots: [oldAnchor.certPem], chain: [leaf.certPem, issuer.certPem, cross.certPem], usage: 'server' as const };
    // The leaf expires first on its own: check X's end with a long-lived issuer and leaf.
    expect(await webpki.verify({ ...request, at: new Date() })).toEqual(expect.objectContaining({ ok: true }));
    const longIssuer = await fixtures.makeIssuer((pkis['same anchor names'] as Pki).newAnchor, { notAfter: fixtures.daysFromNow(800) });
    const longLeaf = await fixtures.makeLeaf(longIssuer, { notAfter: fixtures.daysFromNow(800) });
    const afterA = new Date(oldAnchor.cert.notAfter.getTime() + 1000);
    const chain = [longLeaf.certPem, longIssuer.certPem, cross.certPem];
    expect(await webpki.verify({ ...request, chain, at: afterA })).toEqual(expect.objectContaining({ ok: false, error: 'CertExpired' }));
    // A proxy that trusts B never looks at the expired X: anchors are tried first.
    const newAnchor = (pkis['same anchor names'] as Pki).newAnchor;
    expect(await webpki.verify({ ...request, roots: [newAnchor.certPem], chain, at: afterA })).toEqual({ ok: true, anchorIndex: 0, intermediatesUsed: 1 });
  });

  it('checks serverName against the leaf\'s DNS SANs when asked (the fixtures\' leaves have none)', async () => {
    const { newAnchor, issuer, leaf } = pkis['same anchor names'] as Pki;
    const verdict = await webpki.verify({ roots: [newAnchor.certPem], chain: [leaf.certPem, issuer.certPem], usage: 'server', at: new Date(), serverName: 'default.default.serviceaccount.identity.linkerd.cluster.local' });
    expect(verdict).toEqual(expect.objectContaining({ ok: false, error: 'CertNotValidForName' }));
  });

  it('answers thousands of requests from one process, each paired with its own request', async () => {
    const { oldAnchor, newAnchor, issuer, leaf, cross } = pkis['same anchor names'] as Pki;
    const withX = { roots: [oldAnchor.certPem], chain: [leaf.certPem, issuer.certPem, cross.certPem], usage: 'client' as const, at: new Date() };
    const withoutX = { ...withX, chain: [leaf.certPem, issuer.certPem] };
    const viaB = { ...withX, roots: [newAnchor.certPem] };
    const kinds = [withX, withoutX, viaB];
    const requests = Array.from({ length: 3000 }, (_, i) => kinds[i % kinds.length] as typeof withX);
    const started = Date.now();
    const verdicts = await Promise.all(requests.map((r) => webpki.verify(r)));
    const seconds = (Date.now() - started) / 1000;
    process.stderr.write(`webpki-verify: ${requests.length} verdicts in ${seconds.toFixed(2)} s\n`);
    expect(verdicts.map((v) => v.ok)).toEqual(requests.map((r) => r !== withoutX));
  });

  it('rejects a request made while it closes (a handshake during teardown), instead of writing after end', async () => {
    const { oldAnchor, issuer, leaf, cross } = pkis['same anchor names'] as Pki;
    const own = await WebpkiVerifier.start();
    const closed = own.close();
    await expect(own.verify({ roots: [oldAnchor.certPem], chain: [leaf.certPem, issuer.certPem, cross.certPem], usage: 'client', at: new Date() })).rejects.toThrow(/found it closing/);
    await closed;
  });
});

describe("the anchor's own pathLen: webpki ignores it, OpenSSL exempts a self-issued X", () => {
  // Why crossSign refuses pathLen < 2 although linkerd2-proxy would accept: the other verifiers on
  // the way (OpenSSL here, Go's crypto/x509 in tools) count X when A and B are named differently.
  let webpki: WebpkiVerifier;

  beforeAll(async () => {
    webpki = await WebpkiVerifier.start();
  }, 20 * 60_000);

  afterAll(async () => {
    await webpki?.close();
  });

  it.each([
    ['same names (X is self-issued)', {}, {}, true],
    ['distinct names', { cn: 'root-2025' }, { cn: 'root-2026' }, false],
  ] as const)('A with pathLen 1, %s', async (_label, oldOptions, newOptions, opensslAccepts) => {
    const oldAnchor = await fixtures.makeAnchor({ ...oldOptions, pathLength: 1 });
    const newAnchor = await fixtures.makeAnchor(newOptions);
    const issuer = await fixtures.makeIssuer(newAnchor);
    const leaf = await fixtures.makeLeaf(issuer);
    // crossSign refuses this anchor, so X is made by hand: B's subject and key, signed by A.
    const cross = await fixtures.makeIssuer(oldAnchor, { subject: newAnchor.cert.subject, keys: newAnchor.keys });
    const testCase = { roots: [oldAnchor], chain: [leaf, issuer, cross], leaf };
    const viaWebpki = await webpki.verify({ roots: [oldAnchor.certPem], chain: testCase.chain.map((c) => c.certPem), usage: 'server', at: new Date() });
    const viaOpenssl = await nodeTlsVerdict('server', testCase);
    expect(viaWebpki).toEqual({ ok: true, anchorIndex: 0, intermediatesUsed: 2 });
    expect(viaOpenssl.ok).toBe(opensslAccepts);
    if (!opensslAccepts) expect(viaOpenssl.error).toBe('PATH_LENGTH_EXCEEDED');
  });
});

describe("the data plane's judge: webpki decides, node:tls is compared", () => {
  it('counts a chain that expired during its handshake (node verified it before) apart from disagreements; one that expired before is a disagreement (control)', async () => {
    const anchor = await fixtures.makeAnchor({ cn: 'judge-root' });
    const issuer = await fixtures.makeIssuer(anchor, { cn: 'judge-issuer' });
    const now = Date.now();
    const leafEnding = async (msAgo: number) =>
      new X509Certificate((await fixtures.makeLeaf(issuer, { notBefore: new Date(now - 3_600_000), notAfter: new Date(now - msAgo) })).certPem);
    const judge = await ChainJudge.start();
    try {
      const ask = async (leaf: X509Certificate) =>
        judge.judge({
          side: 'server verifying client',
          roots: judgedRoots([anchor.certPem]),
          chain: presentedChain([leaf, new X509Certificate(issuer.certPem)]),
          nodeVerdict: undefined,
          handshakeMs: 10_000,
          judge: 'server',
          presenter: 'client',
        });
      // Expired 3 s ago, inside a 10 s handshake: node may have verified it while valid.
      expect(await ask(await leafEnding(3_000))).toMatchObject({ accepted: false, webpkiError: 'CertExpired' });
      expect(judge.report()).toMatchObject({ disagreements: 0, expiredDuringHandshake: 1 });
      // Expired a minute ago, before any handshake now in flight began: node accepting it is a real disagreement.
      expect(await ask(await leafEnding(60_000))).toMatchObject({ accepted: false, webpkiError: 'CertExpired' });
      expect(judge.report()).toMatchObject({ disagreements: 1, expiredDuringHandshake: 1 });
    } finally {
      await judge.close();
    }
  });
});
