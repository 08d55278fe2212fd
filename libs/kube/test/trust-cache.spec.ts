// The admission webhook's trust cache against the in-process fake API server: the public PKI view,
// the trust-roots ConfigMap and the state listed and watched by name (no Secret), the view projected
// to what the Secrets themselves projected to, watch events followed, reconnects and failed lists
// ridden out, and no watch left open after stop. The exporter's publisher writes the view here too.
import type { V1Secret } from '@kubernetes/client-node';
import { DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
import { serializeState } from '@linkerd-rotator/rotation';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { ExporterCache } from '../src/caches/exporter-cache.js';
import { anchorViewOf, issuerViewOf } from '../src/caches/projections.js';
import { encodePublicPki, publicPkiInputOf, publicPkiSecretName } from '../src/caches/public-pki.js';
import { PublicPkiPublisher } from '../src/caches/public-pki-publisher.js';
import { TrustCache } from '../src/caches/trust-cache.js';
import type { TrustSnapshot } from '../src/caches/snapshot.js';
import { FakeApiServer } from '../src/testing/fake-apiserver.js';
import { eventually, rotationRecord, stateOf } from './support.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const tlsSecret = (namespace: string, name: string, cred: Credentials, withKey = true) => ({
  data: (withKey ? { 'tls.crt': b64(cred.certPem), 'tls.key': b64(cred.keyPem) } : { 'tls.crt': b64(cred.certPem) }) as Record<string, string>,
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace, uid: `uid-${name}`, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ data: { 'tls.key': b64(cred.keyPem) } }) } },
});

/** The view the exporter would publish for these Secrets (the codec on the objects as the fake holds them). */
function viewConfigMap(server: FakeApiServer) {
  const input = publicPkiInputOf(names, {
    get: (source) => {
      const { namespace, name } = publicPkiSecretName(names, source);
      return server.get('secrets', namespace, name) as V1Secret | undefined;
    },
    view: (source, secret) => (source === 'issuer' ? issuerViewOf(secret) : anchorViewOf(secret)),
  });
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.publicPkiConfigMap, namespace: names.releaseNamespace }, data: encodePublicPki(input) };
}

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
    server.put(viewConfigMap(server));
    cache = new TrustCache(kc, { names, relistDelayMs: { first: 50, max: 50 } });
  });

  afterEach(async () => {
    await cache.stop();
    await server.stop();
  });

  /** Starts the cache and waits for its lists and its three watches (the fake replays no missed event). */
  const started = async () => {
    cache.start();
    expect(await cache.waitForSync(5000)).toBe(true);
    await eventually(() => server.openWatches === 3, 'three watches');
  };

  it('is not synced before start, then lists the view, the bundle and the state by name, and no Secret', async () => {
    expect(cache.isSynced()).toBe(false);
    cache.start();
    expect(await cache.waitForSync(5000)).toBe(true);
    const snap = cache.current();
    expect(snap.activeAnchor).toEqual({ source: 'Secret cert-manager/linkerd-active-anchor', certPem: a.certPem });
    expect(snap.issuer).toEqual({ source: 'Secret linkerd/linkerd-identity-issuer', certPem: issuer.certPem });
    expect(snap.trustRoots?.pem).toBe(a.certPem);
    expect(snap.previousAnchor).toBeUndefined();
    expect(snap.rotation).toBeUndefined();
    expect(snap.pkiUnknown).toBeUndefined();
    expect(JSON.stringify(snap)).not.toContain('PRIVATE KEY');
    // Every list was scoped to one object by name (RBAC resourceNames can then be used), and none was of Secrets.
    const lists = server.requests.filter((r) => !r.includes('watch=true'));
    expect(lists.length).toBe(3);
    expect(lists.every((r) => r.includes('fieldSelector=metadata.name%3D') && r.includes('/configmaps?'))).toBe(true);
    await eventually(() => server.openWatches === 3, 'three watches');
  });

  it('knows nothing of the anchors while the view is missing, and says who writes it', async () => {
    server.remove({ kind: 'ConfigMap', metadata: { name: names.publicPkiConfigMap, namespace: names.releaseNamespace } });
    await started();
    const snap = cache.current();
    expect(snap.activeAnchor).toBeUndefined();
    expect(snap.pkiUnknown).toContain(`ConfigMap ${names.releaseNamespace}/${names.publicPkiConfigMap} does not exist`);
    expect(snap.pkiUnknown).toContain('exporter');
    server.put(viewConfigMap(server));
    await eventually(() => cache.current().activeAnchor?.certPem === a.certPem && cache.current().pkiUnknown === undefined, 'view published');
  });

  it("follows the Secrets through the exporter's publisher: what the webhook sees is what the Secrets hold", async () => {
    server.remove({ kind: 'ConfigMap', metadata: { name: names.publicPkiConfigMap, namespace: names.releaseNamespace } });
    const kc = server.kubeConfig();
    const exporter = new ExporterCache(kc, { names, watchPods: false, relistDelayMs: { first: 50, max: 50 } });
    const written: string[] = [];
    const publisher = new PublicPkiPublisher(kc, { names, cache: exporter, logger: { info: (_f, m) => written.push(m), warn: (f) => written.push(JSON.stringify(f)) } });
    // The fake replays no missed event: the webhook's watches are open before anything is published.
    await started();
    exporter.start();
    publisher.start();
    try {
      await eventually(() => cache.current().activeAnchor?.certPem === a.certPem, 'view published by the exporter');
      expect(cache.current().preparedAnchor?.certPem).toBe(a.certPem);
      expect(cache.current().issuer?.certPem).toBe(issuer.certPem);
      server.put(tlsSecret(names.trustNamespace, names.previousAnchorSecret, b, false));
      await eventually(() => cache.current().previousAnchor?.certPem === b.certPem, 'previous anchor through the view');
      server.remove({ kind: 'Secret', metadata: { name: names.previousAnchorSecret, namespace: names.trustNamespace } });
      await eventually(() => cache.current().previousAnchor === undefined, 'previous anchor deleted through the view');
      await publisher.idle();
      // One write per change (create, previous added, previous deleted); an unrelated change writes nothing.
      expect(written).toEqual(['public PKI view created', 'public PKI view updated', 'public PKI view updated']);
      server.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.stateConfigMap, namespace: names.releaseNamespace }, data: {} });
      await eventually(() => exporter.current().state !== undefined, 'exporter saw the state');
      await publisher.idle();
      expect(written).toHaveLength(3);
      expect(JSON.stringify(server.get('configmaps', names.releaseNamespace, names.publicPkiConfigMap))).not.toContain('PRIVATE KEY');
    } finally {
      await publisher.stop();
      await exporter.stop();
    }
  });

  it('follows watch events of the view and the state', async () => {
    const seen: TrustSnapshot[] = [];
    cache.onChange(() => seen.push(cache.current()));
    await started();

    server.put(tlsSecret(names.trustNamespace, names.previousAnchorSecret, b, false));
    server.put(viewConfigMap(server));
    await eventually(() => cache.current().previousAnchor?.certPem === b.certPem, 'previous anchor added');

    server.put(tlsSecret(names.trustNamespace, names.activeAnchorSecret, b));
    server.put(viewConfigMap(server));
    await eventually(() => cache.current().activeAnchor?.certPem === b.certPem, 'active anchor modified');

    server.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: names.stateConfigMap, namespace: names.releaseNamespace },
      data: serializeState(stateOf('TrustBoth', { rotation: rotationRecord(a.fingerprint, b.fingerprint) })),
    });
    await eventually(() => cache.current().rotation?.phase === 'TrustBoth', 'rotation state');
    expect(cache.current().rotation?.requiredAnchorFingerprints).toEqual([a.fingerprint]);

    server.remove({ kind: 'Secret', metadata: { name: names.previousAnchorSecret, namespace: names.trustNamespace } });
    server.put(viewConfigMap(server));
    await eventually(() => cache.current().previousAnchor === undefined, 'previous anchor deleted');
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(JSON.stringify(seen)).not.toContain('PRIVATE KEY');
  });

  it('reconnects after the server ends its watches, without losing events', async () => {
    await started();
    server.closeWatches();
    await eventually(() => server.openWatches === 3, 'watches re-opened');
    server.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.trustRootsConfigMap, namespace: names.linkerdNamespace }, data: { 'ca-bundle.crt': a.certPem + b.certPem } });
    await eventually(() => cache.current().trustRoots?.pem === a.certPem + b.certPem, 'bundle update after reconnect');
  });

  it('retries failed lists (e.g. 403 before RBAC lands) and syncs afterwards', async () => {
    server.failNextLists = 3;
    server.failStatus = 403;
    const warnings: object[] = [];
    cache = new TrustCache(server.kubeConfig(), { names, relistDelayMs: { first: 30, max: 30 }, logger: { warn: (f) => warnings.push(f) } });
    cache.start();
    expect(await cache.waitForSync(5000)).toBe(true);
    expect(warnings.length).toBeGreaterThanOrEqual(3);
    expect(warnings[0]).toEqual(expect.objectContaining({ code: 403 }));
    expect(cache.current().activeAnchor?.certPem).toBe(a.certPem);
  });

  it('leaves no watch open after stop, also after its watches reconnected', async () => {
    await started();
    server.closeWatches();
    await eventually(() => server.openWatches === 3, 'watches re-opened');
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
