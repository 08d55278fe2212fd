import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { InformerTrustCache } from '../src/informer-cache.js';
import { DEFAULT_TRUST_OBJECT_NAMES as names } from '../src/names.js';
import type { TrustSnapshot } from '../src/snapshot.js';
import { FakeApiServer } from '../src/fake-apiserver.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const tlsSecret = (namespace: string, name: string, cred: Credentials, withKey = true) => ({
  data: (withKey ? { 'tls.crt': b64(cred.certPem), 'tls.key': b64(cred.keyPem) } : { 'tls.crt': b64(cred.certPem) }) as Record<string, string>,
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ data: { 'tls.key': b64(cred.keyPem) } }) } },
});

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('InformerTrustCache against a fake API server', () => {
  let server: FakeApiServer;
  let cache: InformerTrustCache;
  let a: Credentials;
  let b: Credentials;
  let issuer: Credentials;

  beforeAll(async () => {
    a = await fixtures.makeAnchor({ cn: 'a' });
    b = await fixtures.makeAnchor({ cn: 'b' });
    issuer = await fixtures.makeIssuer(a);
  });

  beforeEach(async () => {
    server = new FakeApiServer();
    const kc = await server.start();
    server.put(tlsSecret(names.trustNamespace, names.activeAnchorSecret, a));
    server.put(tlsSecret(names.trustNamespace, names.preparedAnchorSecret, a));
    server.put(tlsSecret(names.linkerdNamespace, names.issuerSecret, issuer));
    server.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.trustRootsConfigMap, namespace: names.linkerdNamespace }, data: { 'ca-bundle.crt': a.certPem } });
    cache = new InformerTrustCache(kc, names, { retryDelayMs: 50 });
  });

  afterEach(async () => {
    await cache.stop();
    await server.stop();
  });

  it('is not synced before start, then lists every object by name and holds no key', async () => {
    expect(cache.isSynced()).toBe(false);
    await cache.start();
    expect(await cache.waitForSync(5000)).toBe(true);
    const snap = cache.current();
    expect(snap.activeAnchor).toEqual({ source: 'Secret cert-manager/linkerd-active-anchor', certPem: a.certPem });
    expect(snap.issuer?.certPem).toBe(issuer.certPem);
    expect(snap.trustRoots?.pem).toBe(a.certPem);
    expect(snap.previousAnchor).toBeUndefined();
    expect(snap.rotation).toBeUndefined();
    expect(JSON.stringify(snap)).not.toContain('PRIVATE KEY');
    // Every list was scoped to one object by name (RBAC resourceNames can then be used).
    const lists = server.requests.filter((r) => !r.includes('watch=true'));
    expect(lists.length).toBe(6);
    expect(lists.every((r) => r.includes('fieldSelector=metadata.name%3D'))).toBe(true);
    await eventually(() => server.openWatches === 6, 'six watches');
    expect(cache.heldSecretDataKeys().sort()).toEqual(['tls.crt', 'tls.crt', 'tls.crt']);
  });

  it('follows watch events: add, modify, delete; with keys stripped from watched objects too', async () => {
    const seen: TrustSnapshot[] = [];
    cache.onChange((s) => seen.push(s));
    await cache.start();
    await cache.waitForSync(5000);
    await eventually(() => server.openWatches === 6, 'six watches');

    server.put(tlsSecret(names.trustNamespace, names.previousAnchorSecret, b, false));
    await eventually(() => cache.current().previousAnchor?.certPem === b.certPem, 'previous anchor added');

    server.put(tlsSecret(names.trustNamespace, names.activeAnchorSecret, b));
    await eventually(() => cache.current().activeAnchor?.certPem === b.certPem, 'active anchor modified');
    expect(cache.heldSecretDataKeys()).not.toContain('tls.key');

    server.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: names.stateConfigMap, namespace: names.releaseNamespace },
      data: {
        phase: 'TrustBoth',
        'state.json': JSON.stringify({ version: 1, phase: 'TrustBoth', rotation: { from: { fingerprint: a.fingerprint }, to: { fingerprint: b.fingerprint } } }),
      },
    });
    await eventually(() => cache.current().rotation?.phase === 'TrustBoth', 'rotation state');
    expect(cache.current().rotation?.requiredAnchorFingerprints).toEqual([a.fingerprint]);

    server.remove({ kind: 'Secret', metadata: { name: names.previousAnchorSecret, namespace: names.trustNamespace } });
    await eventually(() => cache.current().previousAnchor === undefined, 'previous anchor deleted');
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(JSON.stringify(seen)).not.toContain('PRIVATE KEY');
  });

  it('reconnects after the server ends its watches, without losing events', async () => {
    await cache.start();
    await cache.waitForSync(5000);
    await eventually(() => server.openWatches === 6, 'six watches');
    server.closeWatches();
    await eventually(() => server.openWatches === 6, 'watches re-opened');
    server.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.trustRootsConfigMap, namespace: names.linkerdNamespace }, data: { 'ca-bundle.crt': a.certPem + b.certPem } });
    await eventually(() => cache.current().trustRoots?.pem === a.certPem + b.certPem, 'bundle update after reconnect');
  });

  it('retries failed lists (e.g. 403 before RBAC lands) and syncs afterwards', async () => {
    server.failNextLists = 6;
    server.failStatus = 403;
    const warnings: object[] = [];
    cache = new InformerTrustCache(server.kubeConfig(), names, { retryDelayMs: 30, logger: { info: () => undefined, warn: (f) => warnings.push(f) } });
    await cache.start();
    expect(await cache.waitForSync(5000)).toBe(true);
    expect(warnings.length).toBeGreaterThanOrEqual(6);
    expect(warnings[0]).toEqual(expect.objectContaining({ code: 403 }));
    expect(cache.current().activeAnchor?.certPem).toBe(a.certPem);
  });
});

