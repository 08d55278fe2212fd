// The exporter's cache: pure pod and ConfigMap projections, and the informers against an in-process
// API server with cluster-wide list/watch (adds, updates and deletes reach the snapshot; keys never).
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { InformerExporterCache, meshedPodViewOf, trustRootsViewOf, type ExporterSnapshot } from './exporter-cache.js';
import { DEFAULT_TRUST_OBJECT_NAMES as names } from './names.js';

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

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> }; [k: string]: unknown };

/** Cluster-wide and namespaced list/watch of pods and ConfigMaps, with name field selectors and label-exists selectors. */
class ClusterWideFake {
  private readonly objects = new Map<string, Obj>();
  private readonly watchers = new Set<{ resource: string; namespace?: string; name?: string; label?: string; res: ServerResponse }>();
  private version = 1;
  private server?: Server;
  readonly requests: string[] = [];

  async start(): Promise<KubeConfig> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'u' }],
      currentContext: 'fake',
    });
    return kc;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  put(obj: Obj): void {
    const key = `${obj.kind}/${obj.metadata.namespace}/${obj.metadata.name}`;
    const type = this.objects.has(key) ? 'MODIFIED' : 'ADDED';
    const stored = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.version) } };
    this.objects.set(key, stored);
    this.emit(type, stored);
  }

  remove(kind: string, namespace: string, name: string): void {
    const key = `${kind}/${namespace}/${name}`;
    const stored = this.objects.get(key);
    if (!stored) return;
    this.objects.delete(key);
    this.emit('DELETED', { ...stored, metadata: { ...stored.metadata, resourceVersion: String(++this.version) } });
  }

  private matches(w: { resource: string; namespace?: string; name?: string; label?: string }, obj: Obj): boolean {
    const resource = obj.kind === 'Pod' ? 'pods' : 'configmaps';
    return (
      w.resource === resource &&
      (w.namespace === undefined || w.namespace === obj.metadata.namespace) &&
      (w.name === undefined || w.name === obj.metadata.name) &&
      (w.label === undefined || obj.metadata.labels?.[w.label] !== undefined)
    );
  }

  private emit(type: string, obj: Obj): void {
    for (const w of this.watchers) if (this.matches(w, obj)) w.res.write(JSON.stringify({ type, object: obj }) + '\n');
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(`${url.pathname}${url.search}`);
    const m = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?(pods|configmaps)$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const field = url.searchParams.get('fieldSelector') ?? '';
    const filter = {
      resource: m[2]!,
      ...(m[1] ? { namespace: m[1] } : {}),
      ...(field.startsWith('metadata.name=') ? { name: field.slice('metadata.name='.length) } : {}),
      ...(url.searchParams.get('labelSelector') ? { label: url.searchParams.get('labelSelector')! } : {}),
    };
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      const w = { ...filter, res };
      this.watchers.add(w);
      req.on('close', () => this.watchers.delete(w));
      return;
    }
    const items = [...this.objects.values()].filter((o) => this.matches(filter, o));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(this.version) }, items }));
  }
}

const bundleCm = (namespace: string, pem: string): Obj => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.trustRootsConfigMap, namespace }, data: { 'ca-bundle.crt': pem } });
const podObj = (namespace: string, name: string, hash: string, labels: Record<string, string> = { 'linkerd.io/control-plane-ns': 'linkerd' }): Obj => {
  const p = meshedPod({ annotations: { 'linkerd.io/trust-root-sha256': hash }, labels });
  return { apiVersion: 'v1', kind: 'Pod', ...p, metadata: { ...p.metadata, name, namespace } } as unknown as Obj;
};

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('InformerExporterCache', () => {
  let fake: ClusterWideFake;
  let cache: InformerExporterCache;
  let kubeConfig: KubeConfig;

  beforeEach(async () => {
    fake = new ClusterWideFake();
    fake.put(bundleCm('linkerd', 'A'));
    fake.put(bundleCm('linkerd-viz', 'A'));
    fake.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated', namespace: 'linkerd' }, data: { 'ca-bundle.crt': 'X' } });
    fake.put(podObj('shop', 'web-1', 'h1'));
    fake.put(podObj('shop', 'plain', 'h1', {}));
    fake.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.stateConfigMap, namespace: names.releaseNamespace }, data: { phase: 'Idle', 'state.json': '{}' } });
    kubeConfig = await fake.start();
    cache = new InformerExporterCache(kubeConfig, names, { retryDelayMs: 50 });
    await cache.start();
    expect(await cache.waitForSync(5000)).toBe(true);
    // This fake does not replay events from a resourceVersion: wait for the watches before changing anything.
    await until('three open watches', () => fake.openWatches === 3);
  });

  afterEach(async () => {
    await cache.stop();
    await fake.stop();
  });

  it('lists the trust-roots ConfigMaps of every namespace, the meshed pods and the state, by selector', () => {
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
        '/api/v1/configmaps?fieldSelector=metadata.name%3Dlinkerd-identity-trust-roots',
        '/api/v1/pods?labelSelector=linkerd.io%2Fcontrol-plane-ns',
        '/api/v1/namespaces/linkerd-rotator/configmaps?fieldSelector=metadata.name%3Dlinkerd-rotator-state',
      ]),
    );
  });

  it('follows adds, updates and deletes, and hands out the same snapshot while nothing changes', async () => {
    const first = cache.current();
    expect(cache.current()).toBe(first);
    fake.put(bundleCm('linkerd', 'B'));
    fake.remove('ConfigMap', 'linkerd-viz', names.trustRootsConfigMap);
    fake.put(podObj('pay', 'api-1', 'h2'));
    fake.remove('Pod', 'shop', 'web-1');
    await until('the changes', () => cache.current().pods.length === 1 && cache.current().pods[0]!.name === 'api-1' && cache.current().trustRoots.length === 1);
    expect(cache.current().trustRoots).toEqual([{ namespace: 'linkerd', source: 'ConfigMap linkerd/linkerd-identity-trust-roots', pem: 'B' }]);
    fake.remove('ConfigMap', names.releaseNamespace, names.stateConfigMap);
    await until('the state to go', () => cache.current().state === undefined);
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
    await until('the unmeshed pod to be held', () => cache.heldObjectSizes().count === 5);
    expect(cache.current()).toBe(before);
    fake.put(podObj('shop', 'web-1', 'h2'));
    await until('the new hash', () => cache.current().pods[0]!.trustRootSha256 === 'h2');
    expect(cache.current()).not.toBe(before);
  });

  it('keeps only skeletons in the informers: no pod spec, no env values, no ConfigMap data', () => {
    const held = cache.heldObjectSizes();
    expect(held.count).toBe(4);
    expect(held.maxBytes).toBeLessThan(200);
  });

  it('can leave pods alone', async () => {
    const other = new InformerExporterCache(kubeConfig, names, { watchPods: false });
    await other.start();
    expect(await other.waitForSync(5000)).toBe(true);
    expect(other.current().podsWatched).toBe(false);
    expect(other.current().pods).toEqual([]);
    await other.stop();
  });
});
