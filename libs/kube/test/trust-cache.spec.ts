// The admission webhook's trust cache against the in-process fake API server: every guarded object
// listed and watched by name, keys stripped on arrival, watch events followed, reconnects and failed
// lists ridden out, and no watch left open after stop.
import type { V1Secret } from '@kubernetes/client-node';
import { DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
import { serializeState } from '@linkerd-rotator/rotation';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { TrustCache } from '../src/caches/trust-cache.js';
import type { TrustSnapshot } from '../src/caches/snapshot.js';
import { FakeApiServer } from '../src/testing/fake-apiserver.js';
import { eventually, rotationRecord, stateOf } from './support.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const tlsSecret = (namespace: string, name: string, cred: Credentials, withKey = true) => ({
  data: (withKey ? { 'tls.crt': b64(cred.certPem), 'tls.key': b64(cred.keyPem) } : { 'tls.crt': b64(cred.certPem) }) as Record<string, string>,
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ data: { 'tls.key': b64(cred.keyPem) } }) } },
});

/** Data keys of every Secret the cache's informers hold: proof that no key is kept. */
const heldSecretDataKeys = (cache: TrustCache) =>
  cache.collections
    .filter((c) => c.options.operation.resource === 'secrets')
    .flatMap((c) => c.items())
    .flatMap((secret) => Object.keys((secret as V1Secret).data ?? {}));

describe('TrustCache against a fake API server', () => {
  let server: FakeApiServer;
  let cache: TrustCache;
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
    cache = new TrustCache(kc, { names, relistDelayMs: { first: 50, max: 50 } });
  });

  afterEach(async () => {
    await cache.stop();
    await server.stop();
  });

  /** Starts the cache and waits for its lists and its six watches (the fake replays no missed event). */
  const started = async () => {
    cache.start();
    expect(await cache.waitForSync(5000)).toBe(true);
    await eventually(() => server.openWatches === 6, 'six watches');
  };

  it('is not synced before start, then lists every object by name and holds no key', async () => {
    expect(cache.isSynced()).toBe(false);
    cache.start();
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
    expect(heldSecretDataKeys(cache).sort()).toEqual(['tls.crt', 'tls.crt', 'tls.crt']);
  });

  it('follows watch events: add, modify, delete; with keys stripped from watched objects too', async () => {
    const seen: TrustSnapshot[] = [];
    cache.onChange(() => seen.push(cache.current()));
    await started();

    server.put(tlsSecret(names.trustNamespace, names.previousAnchorSecret, b, false));
    await eventually(() => cache.current().previousAnchor?.certPem === b.certPem, 'previous anchor added');

    server.put(tlsSecret(names.trustNamespace, names.activeAnchorSecret, b));
    await eventually(() => cache.current().activeAnchor?.certPem === b.certPem, 'active anchor modified');
    expect(heldSecretDataKeys(cache)).not.toContain('tls.key');

    server.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: names.stateConfigMap, namespace: names.releaseNamespace },
      data: serializeState(stateOf('TrustBoth', { rotation: rotationRecord(a.fingerprint, b.fingerprint) })),
    });
    await eventually(() => cache.current().rotation?.phase === 'TrustBoth', 'rotation state');
    expect(cache.current().rotation?.requiredAnchorFingerprints).toEqual([a.fingerprint]);

    server.remove({ kind: 'Secret', metadata: { name: names.previousAnchorSecret, namespace: names.trustNamespace } });
    await eventually(() => cache.current().previousAnchor === undefined, 'previous anchor deleted');
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(JSON.stringify(seen)).not.toContain('PRIVATE KEY');
  });

  it('reconnects after the server ends its watches, without losing events', async () => {
    await started();
    server.closeWatches();
    await eventually(() => server.openWatches === 6, 'watches re-opened');
    server.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.trustRootsConfigMap, namespace: names.linkerdNamespace }, data: { 'ca-bundle.crt': a.certPem + b.certPem } });
    await eventually(() => cache.current().trustRoots?.pem === a.certPem + b.certPem, 'bundle update after reconnect');
  });

  it('retries failed lists (e.g. 403 before RBAC lands) and syncs afterwards', async () => {
    server.failNextLists = 6;
    server.failStatus = 403;
    const warnings: object[] = [];
    cache = new TrustCache(server.kubeConfig(), { names, relistDelayMs: { first: 30, max: 30 }, logger: { warn: (f) => warnings.push(f) } });
    cache.start();
    expect(await cache.waitForSync(5000)).toBe(true);
    expect(warnings.length).toBeGreaterThanOrEqual(6);
    expect(warnings[0]).toEqual(expect.objectContaining({ code: 403 }));
    expect(cache.current().activeAnchor?.certPem).toBe(a.certPem);
  });

  it('leaves no watch open after stop, also after its watches reconnected', async () => {
    await started();
    server.closeWatches();
    await eventually(() => server.openWatches === 6, 'watches re-opened');
    await cache.stop();
    await eventually(() => server.openWatches === 0, 'every watch closed');
  });

  it('says when it is not synced in time, woken by changes rather than polling', async () => {
    server.failNextLists = 1_000;
    cache.start();
    const started = Date.now();
    expect(await cache.waitForSync(300)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(cache.isSynced()).toBe(false);
  });
});
