// The rotation adapter's own entry points against the in-process fake API server: the anchor Secrets
// read uncached (a missing one is undefined), the injector strictness set at creation, and the active
// Secret a cross-signed promotion writes.
import { ANCHOR_CERT_KEY, CROSS_SIGNER_CERT_KEY, DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
import { certificatesOf } from '../src/rotation/pki-facts.js';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { createRotationAdapter } from '../src/rotation/adapter.js';
import { FakeApiServer } from '../src/testing/fake-apiserver.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const tlsSecret = (name: string, cred: Credentials) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: names.trustNamespace },
  data: { 'tls.crt': b64(cred.certPem), 'tls.key': b64(cred.keyPem) },
});

describe('createRotationAdapter', () => {
  let server: FakeApiServer;
  let a: Credentials;
  let b: Credentials;
  const options = { names, stateNamespace: names.releaseNamespace, instance: 'test', apiTimeoutMs: 2_000, budgetTimeoutMs: 2_000 };

  beforeAll(async () => {
    a = await fixtures.makeAnchor({ cn: 'a' });
    b = await fixtures.makeAnchor({ cn: 'b' });
  });

  beforeEach(async () => {
    server = new FakeApiServer();
    await server.start();
  });

  afterEach(() => server.stop());

  it('reads the three anchor Secrets with a GET each, without listing or watching, and a missing one is undefined', async () => {
    server.put(tlsSecret(names.preparedAnchorSecret, b));
    server.put(tlsSecret(names.activeAnchorSecret, a));
    const adapter = createRotationAdapter(server.kubeConfig(), options);
    const facts = await adapter.readAnchorSecrets();
    expect(facts.prepared?.fingerprint).toBe(b.fingerprint);
    expect(facts.active).toEqual({ fingerprint: a.fingerprint, publicKeyFingerprint: a.cert.spkiFingerprint, notBefore: a.cert.notBefore.getTime(), notAfter: a.cert.notAfter.getTime() });
    expect(facts).not.toHaveProperty('previous');
    expect(server.requests.sort()).toEqual(
      [names.activeAnchorSecret, names.preparedAnchorSecret, names.previousAnchorSecret].map((name) => `GET /api/v1/namespaces/${names.trustNamespace}/secrets/${name}`).sort(),
    );
    expect(server.openWatches).toBe(0);
  });

  it('promotes cross-signed: tls.crt is X (B by A), tls.key B\'s key, anchor.crt B, cross-signer.crt A; a rerun writes nothing; a plain write drops cross-signer.crt', async () => {
    server.put(tlsSecret(names.preparedAnchorSecret, b));
    server.put({ ...tlsSecret(names.activeAnchorSecret, a), data: { ...tlsSecret(names.activeAnchorSecret, a).data, [ANCHOR_CERT_KEY]: b64(a.certPem) } });
    const adapter = createRotationAdapter(server.kubeConfig(), options);
    const secret = async () => {
      const res = await fetch(`${server.kubeConfig().getCurrentCluster()!.server}/api/v1/namespaces/${names.trustNamespace}/secrets/${names.activeAnchorSecret}`);
      const body = (await res.json()) as { data: Record<string, string>; metadata: { resourceVersion: string } };
      const text = (key: string) => (body.data[key] === undefined ? undefined : Buffer.from(body.data[key]!, 'base64').toString('utf8'));
      return { text, version: body.metadata.resourceVersion };
    };
    expect(await adapter.anchors.writeActiveFromPrepared(b.fingerprint, { crossSignedBy: a.fingerprint })).toEqual({ written: true });
    const written = await secret();
    const [x] = certificatesOf(written.text('tls.crt')!);
    expect(x!.spkiFingerprint).toBe(b.cert.spkiFingerprint);
    expect(x!.issuer).toBe(a.cert.subject);
    expect(written.text('tls.key')).toBe(b.keyPem);
    expect(certificatesOf(written.text(ANCHOR_CERT_KEY)!).map((c) => c.fingerprint)).toEqual([b.fingerprint]);
    // The signer of X, public: after Retire no other Secret holds A, yet pods on A rely on X.
    expect(certificatesOf(written.text(CROSS_SIGNER_CERT_KEY)!).map((c) => c.fingerprint)).toEqual([a.fingerprint]);

    expect(await adapter.anchors.writeActiveFromPrepared(b.fingerprint, { crossSignedBy: a.fingerprint })).toEqual({ written: true });
    expect((await secret()).version).toBe(written.version);
    // The CronJob's fast path reads X's end from the active Secret (pods relying on X need a restart before it).
    expect((await adapter.readAnchorSecrets()).activeCrossSignatureNotAfter).toBe(x!.notAfter.getTime());
    // check --fleet compares X's fingerprint across clusters.
    expect((await adapter.readAnchorSecrets()).active?.crossSignature).toBe(x!.fingerprint);

    expect(await adapter.anchors.writeActiveFromPrepared(b.fingerprint)).toEqual({ written: true });
    const plain = await secret();
    expect(certificatesOf(plain.text('tls.crt')!).map((c) => c.fingerprint)).toEqual([b.fingerprint]);
    expect(plain.text(CROSS_SIGNER_CERT_KEY)).toBeUndefined();
    expect(await adapter.readAnchorSecrets()).not.toHaveProperty('activeCrossSignatureNotAfter');
    expect((await adapter.readAnchorSecrets()).active).not.toHaveProperty('crossSignature');
  });

  it("copies B for the fleet driver: the member's prepared Secret gets the certificate only, its active Secret the primary's (B's key, the same X), only over A", async () => {
    const member = new FakeApiServer();
    await member.start();
    try {
      server.put(tlsSecret(names.preparedAnchorSecret, b));
      server.put({ ...tlsSecret(names.activeAnchorSecret, a), data: { ...tlsSecret(names.activeAnchorSecret, a).data, [ANCHOR_CERT_KEY]: b64(a.certPem) } });
      member.put({ ...tlsSecret(names.activeAnchorSecret, a), data: { ...tlsSecret(names.activeAnchorSecret, a).data, [ANCHOR_CERT_KEY]: b64(a.certPem) } });
      member.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: names.preparedAnchorSecret, namespace: names.trustNamespace }, type: 'Opaque', data: { 'tls.crt': b64(a.certPem) } });
      const primary = createRotationAdapter(server.kubeConfig(), options).ports.fleet;
      const memberAdapter = createRotationAdapter(member.kubeConfig(), options);
      const read = async (name: string) => {
        const res = await fetch(`${member.kubeConfig().getCurrentCluster()!.server}/api/v1/namespaces/${names.trustNamespace}/secrets/${name}`);
        return ((await res.json()) as { data: Record<string, string> }).data;
      };

      expect(await primary.readPreparedCertificate(a.fingerprint)).toBeUndefined();
      const prepared = await primary.readPreparedCertificate(b.fingerprint);
      expect(prepared?.data).not.toHaveProperty('tls.key');
      expect(await memberAdapter.ports.fleet.writePreparedCertificate(prepared!)).toEqual({ written: true });
      const memberPrepared = await read(names.preparedAnchorSecret);
      expect(certificatesOf(Buffer.from(memberPrepared[ANCHOR_CERT_KEY]!, 'base64').toString('utf8')).map((c) => c.fingerprint)).toEqual([b.fingerprint]);
      expect(memberPrepared['tls.key'] ?? '').toBe('');
      expect((await memberAdapter.readAnchorSecrets()).prepared?.fingerprint).toBe(b.fingerprint);
      await expect(memberAdapter.ports.fleet.writePreparedCertificate({ ...prepared!, data: { ...prepared!.data, 'tls.key': b64(b.keyPem) } })).rejects.toThrow(/certificate of .* alone, found a copy of .* with a key/);

      // Before the primary promotes, its active Secret does not hold B: nothing to copy.
      expect(await primary.readActive(b.fingerprint)).toBeUndefined();
      const primaryAdapter = createRotationAdapter(server.kubeConfig(), options);
      expect(await primaryAdapter.anchors.writeActiveFromPrepared(b.fingerprint, { crossSignedBy: a.fingerprint })).toEqual({ written: true });
      const active = await primary.readActive(b.fingerprint);
      const [x] = certificatesOf(Buffer.from(active!.data['tls.crt']!, 'base64').toString('utf8'));
      expect(active?.crossSignature).toBe(x!.fingerprint);
      expect(x!.issuer).toBe(a.cert.subject);

      expect(await memberAdapter.ports.fleet.writeActiveCopy(active!, b.fingerprint)).toEqual({ written: false, found: a.fingerprint });
      expect(await memberAdapter.ports.fleet.writeActiveCopy(active!, a.fingerprint)).toEqual({ written: true });
      expect(await read(names.activeAnchorSecret)).toEqual(active!.data);
      // A rerun (the driver killed after the write) finds it done.
      expect(await memberAdapter.ports.fleet.writeActiveCopy(active!, a.fingerprint)).toEqual({ written: true });
      const facts = await memberAdapter.readAnchorSecrets();
      expect([facts.active?.fingerprint, facts.activeCrossSignatureNotAfter, facts.active?.crossSignature]).toEqual([b.fingerprint, x!.notAfter.getTime(), x!.fingerprint]);
    } finally {
      await member.stop();
    }
  });

  it('takes its injector strictness from the options, strict by default', () => {
    expect(createRotationAdapter(server.kubeConfig(), options).reader.strictInjector).toBe(true);
    expect(createRotationAdapter(server.kubeConfig(), { ...options, strictInjector: false }).reader.strictInjector).toBe(false);
  });
});
