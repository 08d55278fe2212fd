// The exporter's cache: pure pod and ConfigMap projections, and the collections against the in-process
// API server with cluster-wide list/watch (adds, updates and deletes reach the snapshot; keys never).
import { createHash } from 'node:crypto';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
import { toPem } from '@linkerd-rotator/x509';
import { fixtures } from '@linkerd-rotator/x509/testing';
import { eventually } from '../../test/support.js';
import { FakeApiServer, type FakeObject } from '../testing/fake-apiserver.js';
import { LIST_PAGE_SIZE } from '../collection.js';
import { ExporterCache } from './exporter-cache.js';
import { meshedPodViewOf, trustRootsViewOf } from './projections.js';
import type { ExporterSnapshot } from './snapshot.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function meshedPod(extra: { annotations?: Record<string, string>; env?: object[]; init?: boolean; phase?: string; labels?: Record<string, string> } = {}): V1Pod {
  const proxy = { name: 'linkerd-proxy', image: 'proxy', env: extra.env ?? [] };
  return {
    metadata: { name: 'web-1', namespace: 'shop', annotations: extra.annotations ?? {}, labels: extra.labels ?? { 'linkerd.io/control-plane-ns': 'linkerd' } },
    spec: {
      containers: [{ name: 'app', image: 'app', env: [{ name: 'SECRET', value: 'do-not-keep' }] }, ...(extra.init ? [] : [proxy])],
      ...(extra.init ? { initContainers: [{ ...proxy, restartPolicy: 'Always' }] } : {}),
    },
    status: { phase: extra.phase ?? 'Running', startTime: new Date('2030-01-01T00:00:00Z') },
  } as V1Pod;
}

describe('projections', () => {
  it('keeps the trust facts of a pod with a linkerd-proxy container, and nothing of others', () => {
    expect(meshedPodViewOf(meshedPod({ annotations: { 'linkerd.io/trust-root-sha256': 'abc' } }))).toEqual({
      namespace: 'shop',
      name: 'web-1',
      trustRootSha256: 'abc',
      trustFromConfigMap: false,
      startTime: Date.parse('2030-01-01T00:00:00Z'),
    });
    const plain = meshedPod();
    plain.spec!.containers = plain.spec!.containers.filter((c) => c.name !== 'linkerd-proxy');
    expect(meshedPodViewOf(plain)).toBeUndefined();
  });

  it('finds a native-sidecar proxy, hashes a literal anchors env when the annotation is missing, and skips terminated pods', () => {
    const literal = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const view = meshedPodViewOf(meshedPod({ init: true, env: [{ name: 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS', value: literal }] }));
    expect(view?.trustRootSha256).toBe(sha256(literal));
    expect(meshedPodViewOf(meshedPod({ phase: 'Succeeded' }))).toBeUndefined();
    expect(meshedPodViewOf(meshedPod({ phase: 'Failed' }))).toBeUndefined();
  });

  it('marks proxies that read their anchors through configMapKeyRef', () => {
    const env = [{ name: 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS', valueFrom: { configMapKeyRef: { name: 'linkerd-identity-trust-roots', key: 'ca-bundle.crt' } } }];
    expect(meshedPodViewOf(meshedPod({ env, annotations: { 'linkerd.io/trust-root-sha256': 'helm' } }))?.trustFromConfigMap).toBe(true);
  });

  it('reads the bundle key from data or binaryData, and records a ConfigMap without it', () => {
    const meta = { name: names.trustRootsConfigMap, namespace: 'linkerd' };
    expect(trustRootsViewOf({ metadata: meta, data: { 'ca-bundle.crt': 'PEM' } }, 'ca-bundle.crt').pem).toBe('PEM');
    expect(trustRootsViewOf({ metadata: meta, binaryData: { 'ca-bundle.crt': Buffer.from('BIN').toString('base64') } }, 'ca-bundle.crt').pem).toBe('BIN');
    expect(trustRootsViewOf({ metadata: meta, data: {} }, 'ca-bundle.crt')).toEqual({ namespace: 'linkerd', source: 'ConfigMap linkerd/linkerd-identity-trust-roots' });
  });
});

const bundleCm = (namespace: string, pem: string): FakeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.trustRootsConfigMap, namespace }, data: { 'ca-bundle.crt': pem } });
const podObj = (namespace: string, name: string, hash: string, labels: Record<string, string> = { 'linkerd.io/control-plane-ns': 'linkerd' }): FakeObject => {
  const p = meshedPod({ annotations: { 'linkerd.io/trust-root-sha256': hash }, labels });
  return { apiVersion: 'v1', kind: 'Pod', ...p, metadata: { ...p.metadata, name, namespace } } as unknown as FakeObject;
};
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Objects the informers hold and the largest one, serialized: proof that only skeletons are kept. */
function heldObjectSizes(cache: ExporterCache): { count: number; maxBytes: number } {
  const held = cache.collections.flatMap((c) => c.items());
  return { count: held.length, maxBytes: Math.max(0, ...held.map((obj) => JSON.stringify(obj).length)) };
}

describe('ExporterCache', () => {
  let fake: FakeApiServer;
  let cache: ExporterCache;
  let kubeConfig: KubeConfig;

  beforeEach(async () => {
    fake = new FakeApiServer();
    fake.put(bundleCm('linkerd', 'A'));
    fake.put(bundleCm('linkerd-viz', 'A'));
    fake.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated', namespace: 'linkerd' }, data: { 'ca-bundle.crt': 'X' } });
    fake.put(podObj('shop', 'web-1', 'h1'));
    fake.put(podObj('shop', 'plain', 'h1', {}));
    fake.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.stateConfigMap, namespace: names.releaseNamespace }, data: { phase: 'Idle', 'state.json': '{}' } });
    kubeConfig = await fake.start();
    cache = new ExporterCache(kubeConfig, { names, relistDelayMs: { first: 50, max: 50 } });
    cache.start();
    expect(await cache.waitForSync(5000)).toBe(true);
    // This fake does not replay events from a resourceVersion: wait for the watches before changing anything.
    await eventually(() => fake.openWatches === 8, 'eight open watches (the public PKI view included)');
  });

  afterEach(async () => {
    await cache.stop();
    await fake.stop();
  });

  it('lists the trust-roots ConfigMaps of every namespace, the meshed pods, the state and the Secrets, by selector', () => {
    const s: ExporterSnapshot = cache.current();
    expect(s.trustRoots.map((t) => [t.namespace, t.pem])).toEqual([
      ['linkerd', 'A'],
      ['linkerd-viz', 'A'],
    ]);
    expect(s.pods.map((p) => `${p.namespace}/${p.name}`)).toEqual(['shop/web-1']);
    expect(s.state?.data['phase']).toBe('Idle');
    expect(s.podsWatched).toBe(true);
    expect(fake.requests).toEqual(
      expect.arrayContaining([
        'GET /api/v1/configmaps?fieldSelector=metadata.name%3Dlinkerd-identity-trust-roots',
        `GET /api/v1/pods?labelSelector=linkerd.io%2Fcontrol-plane-ns&limit=${LIST_PAGE_SIZE}`,
        'GET /api/v1/namespaces/linkerd-rotator/configmaps?fieldSelector=metadata.name%3Dlinkerd-rotator-state',
        'GET /api/v1/namespaces/cert-manager/secrets?fieldSelector=metadata.name%3Dlinkerd-active-anchor',
        'GET /api/v1/namespaces/linkerd/secrets?fieldSelector=metadata.name%3Dlinkerd-identity-issuer',
      ]),
    );
  });

  it('follows adds, updates and deletes, and hands out the same snapshot while nothing changes', async () => {
    const first = cache.current();
    expect(cache.current()).toBe(first);
    fake.put(bundleCm('linkerd', 'B'));
    fake.remove({ kind: 'ConfigMap', metadata: { namespace: 'linkerd-viz', name: names.trustRootsConfigMap } });
    fake.put(podObj('pay', 'api-1', 'h2'));
    fake.remove({ kind: 'Pod', metadata: { namespace: 'shop', name: 'web-1' } });
    await eventually(() => cache.current().pods.length === 1 && cache.current().pods[0]!.name === 'api-1' && cache.current().trustRoots.length === 1, 'the changes');
    expect(cache.current().trustRoots).toEqual([{ namespace: 'linkerd', source: 'ConfigMap linkerd/linkerd-identity-trust-roots', pem: 'B' }]);
    fake.remove({ kind: 'ConfigMap', metadata: { namespace: names.releaseNamespace, name: names.stateConfigMap } });
    await eventually(() => cache.current().state === undefined, 'the state to go');
  });

  it('does not rebuild the snapshot for a pod update that changes none of its trust facts', async () => {
    const before = cache.current();
    const updated = podObj('shop', 'web-1', 'h1');
    (updated['status'] as { conditions: object[] }).conditions = [{ type: 'Ready', status: 'True' }];
    fake.put(updated);
    // A labelled pod without a proxy: the informer keeps its skeleton, the snapshot ignores it. Events
    // of one watch arrive in order, so once it is held the update above has been handled too.
    const unmeshed = podObj('shop', 'no-proxy', 'h1');
    (unmeshed['spec'] as { containers: unknown[] }).containers = [{ name: 'app', image: 'app' }];
    fake.put(unmeshed);
    await eventually(() => heldObjectSizes(cache).count === 5, 'the unmeshed pod to be held');
    expect(cache.current()).toBe(before);
    fake.put(podObj('shop', 'web-1', 'h2'));
    await eventually(() => cache.current().pods[0]!.trustRootSha256 === 'h2', 'the new hash');
    expect(cache.current()).not.toBe(before);
  });

  it('keeps only skeletons in the informers: no pod spec, no env values, no ConfigMap data', () => {
    const held = heldObjectSizes(cache);
    expect(held.count).toBe(4);
    expect(held.maxBytes).toBeLessThan(200);
  });

  it('can leave pods alone', async () => {
    const other = new ExporterCache(kubeConfig, { names, watchPods: false });
    other.start();
    expect(await other.waitForSync(5000)).toBe(true);
    expect(other.current().podsWatched).toBe(false);
    expect(other.current().pods).toEqual([]);
    await other.stop();
  });

  it('holds the certificates of the anchor and issuer Secrets, never a key', async () => {
    const secret = (namespace: string, name: string, data: Record<string, string>): FakeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace, name }, data });
    fake.put(secret(names.trustNamespace, names.activeAnchorSecret, { 'tls.crt': b64('ACTIVE'), 'tls.key': b64('PRIVATE KEY') }));
    fake.put(secret(names.linkerdNamespace, names.issuerSecret, { 'tls.crt': b64('ISSUER'), 'ca.crt': b64('CA'), 'tls.key': b64('PRIVATE KEY') }));
    await eventually(() => cache.current().issuer !== undefined && cache.current().activeAnchor !== undefined, 'the Secrets');
    const s = cache.current();
    expect(s.activeAnchor).toEqual({ source: `Secret ${names.trustNamespace}/${names.activeAnchorSecret}`, certPem: 'ACTIVE' });
    expect(s.issuer).toEqual({ source: `Secret ${names.linkerdNamespace}/${names.issuerSecret}`, certPem: 'ISSUER', caPem: 'CA' });
    expect(s.preparedAnchor).toBeUndefined();
    expect(JSON.stringify(s)).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(cache.collections.flatMap((c) => c.items()))).not.toContain(b64('PRIVATE KEY'));
  });

  it('reads the active anchor from anchor.crt when present (tls.crt is then the cross-signature X)', async () => {
    fake.put({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: names.trustNamespace, name: names.activeAnchorSecret }, data: { 'tls.crt': b64('X'), 'anchor.crt': b64('B'), 'tls.key': b64('PRIVATE KEY') } });
    await eventually(() => cache.current().activeAnchor !== undefined, 'the active Secret');
    expect(cache.current().activeAnchor).toEqual({ source: `Secret ${names.trustNamespace}/${names.activeAnchorSecret}`, certPem: 'B' });
  });

  it('keeps each anchor of a literal anchors env once, by fingerprint, while a pod trusts it', async () => {
    const a = await fixtures.makeAnchor();
    const b = await fixtures.makeAnchor();
    const literal = (namespace: string, name: string, pem: string): FakeObject => {
      const p = meshedPod({ env: [{ name: 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS', value: pem }] });
      return { apiVersion: 'v1', kind: 'Pod', ...p, metadata: { ...p.metadata, name, namespace } } as unknown as FakeObject;
    };
    fake.put(literal('shop', 'old', a.certPem));
    fake.put(literal('shop', 'both', fixtures.bundleOf(a, b)));
    await eventually(() => cache.current().pods.length === 3, 'the pods');
    const byName = new Map(cache.current().pods.map((p) => [p.name, p]));
    expect(byName.get('old')?.trustedAnchors).toEqual([a.fingerprint]);
    expect(byName.get('both')?.trustedAnchors).toEqual([a.fingerprint, b.fingerprint]);
    expect(byName.get('web-1')?.trustedAnchors).toBeUndefined();
    expect(cache.current().podAnchors).toEqual([a, b].sort((x, y) => (x.fingerprint < y.fingerprint ? -1 : 1)).map((c) => toPem(c.cert)));
    fake.remove({ kind: 'Pod', metadata: { namespace: 'shop', name: 'both' } });
    await eventually(() => cache.current().pods.length === 2, 'the pod to go');
    expect(cache.current().podAnchors).toEqual([toPem(a.cert)]);
  });

  it('leaves no watch open after stop, also after its watches reconnected', async () => {
    fake.closeWatches();
    await eventually(() => fake.openWatches === 8, 'the watches to reconnect');
    await cache.stop();
    await eventually(() => fake.openWatches === 0, 'every watch closed');
  });
});
