// The rotation adapter's own entry points against the in-process fake API server: the anchor Secrets
// read uncached (a missing one is undefined), and the injector strictness set at creation.
import { DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
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

  it('takes its injector strictness from the options, strict by default', () => {
    expect(createRotationAdapter(server.kubeConfig(), options).reader.strictInjector).toBe(true);
    expect(createRotationAdapter(server.kubeConfig(), { ...options, strictInjector: false }).reader.strictInjector).toBe(false);
  });
});
