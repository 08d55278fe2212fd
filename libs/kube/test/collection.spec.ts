// The one list+watch layer (the rotation adapter's, the webhook's and the exporter's caches), against
// the in-process fake API server: field-selected lists and watches, Secrets slimmed on arrival,
// read-your-writes through the overlay, re-listing after a failure, no watch left open after stop,
// waiting for sync on change events, and one connection pool.
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { Collection, LIST_PAGE_SIZE } from '../src/collection.js';
import { reuseConnections } from '../src/connections.js';
import { stripSecret } from '../src/slim.js';
import { FakeApiServer } from '../src/testing/fake-apiserver.js';
import { eventually } from './support.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (name: string, crt: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'cert-manager' }, data: { 'tls.crt': b64(crt), 'tls.key': b64('KEY') } });

describe('Collection (list+watch cache of the rotation adapter)', () => {
  let server: FakeApiServer;
  let kc: KubeConfig;
  let collection: Collection<V1Secret>;

  beforeEach(async () => {
    server = new FakeApiServer();
    kc = await server.start();
    server.put(secret('linkerd-active-anchor', 'A'));
    server.put(secret('other', 'X'));
    const core = kc.makeApiClient(CoreV1Api);
    const fieldSelector = 'metadata.name=linkerd-active-anchor';
    collection = new Collection<V1Secret>(kc, {
      name: 'Secret cert-manager/linkerd-active-anchor',
      path: '/api/v1/namespaces/cert-manager/secrets',
      fieldSelector,
      operation: { verb: 'list', resource: 'secrets', namespace: 'cert-manager', name: 'linkerd-active-anchor' },
      list: () => core.listNamespacedSecret({ namespace: 'cert-manager', fieldSelector }),
      slim: stripSecret,
    });
  });

  afterEach(async () => {
    await collection.stop();
    await server.stop();
  });

  it('lists and watches only the named object, without its key, and reports every change', async () => {
    let changes = 0;
    collection.onChange(() => changes++);
    collection.start();
    await eventually(() => collection.synced, 'the first list');
    expect(server.requests).toContainEqual(expect.stringMatching(/fieldSelector=metadata.name%3Dlinkerd-active-anchor/));
    expect(collection.items().map((s) => s.metadata?.name)).toEqual(['linkerd-active-anchor']);
    expect(collection.get('cert-manager', 'linkerd-active-anchor')?.data).toEqual({ 'tls.crt': b64('A') });
    await eventually(() => server.openWatches === 1, 'the watch');
    const before = changes;
    server.put(secret('linkerd-active-anchor', 'B'));
    await eventually(() => collection.get('cert-manager', 'linkerd-active-anchor')?.data?.['tls.crt'] === b64('B'), 'the update');
    expect(changes).toBeGreaterThan(before);
    expect(collection.version).toBeGreaterThan(0);
  });

  it('lists a large collection in chunks, slimming each before asking for the next, then watches from the list', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const total = 2 * LIST_PAGE_SIZE + 17;
    for (let i = 0; i < total; i++) server.put(secret(`s-${String(i).padStart(4, '0')}`, `C${i}`));
    const slimmedBeforeNextPage: number[] = [];
    let slimmed = 0;
    const all = new Collection<V1Secret>(kc, {
      name: 'secrets',
      path: '/api/v1/secrets',
      operation: { verb: 'list', resource: 'secrets' },
      list: (page) => {
        slimmedBeforeNextPage.push(slimmed);
        return core.listSecretForAllNamespaces(page);
      },
      slim: (s) => {
        slimmed++;
        stripSecret(s);
      },
    });
    try {
      all.start();
      await eventually(() => all.synced, 'the chunked list');
      const lists = server.requests.filter((r) => r.startsWith('GET /api/v1/secrets?') && !r.includes('watch=true'));
      expect(lists).toHaveLength(3);
      expect(lists[0]).toContain(`limit=${LIST_PAGE_SIZE}`);
      expect(lists[1]).toMatch(/continue=/);
      // every object of a chunk is slimmed before the next chunk is requested
      expect(slimmedBeforeNextPage).toEqual([0, LIST_PAGE_SIZE, 2 * LIST_PAGE_SIZE]);
      const items = all.items();
      expect(items).toHaveLength(total + 2);
      expect(items.every((s) => s.data?.['tls.key'] === undefined)).toBe(true);
      await eventually(() => server.openWatches === 1, 'the watch');
      server.put(secret('s-late', 'L'));
      await eventually(() => all.get('cert-manager', 's-late') !== undefined, 'an object created after the list, through the watch');
    } finally {
      await all.stop();
    }
  });

  it('serves what the runner wrote until the watch delivers a version at least as new', async () => {
    collection.start();
    await eventually(() => collection.synced, 'the first list');
    const rv = Number(collection.get('cert-manager', 'linkerd-active-anchor')?.metadata?.resourceVersion);
    // As if our own PUT had been answered with a newer resourceVersion the watch has not shown yet.
    collection.remember({ ...secret('linkerd-active-anchor', 'MINE'), metadata: { name: 'linkerd-active-anchor', namespace: 'cert-manager', resourceVersion: String(rv + 1000) } });
    expect(collection.get('cert-manager', 'linkerd-active-anchor')?.data).toEqual({ 'tls.crt': b64('MINE') });
    expect(collection.items()).toHaveLength(1);
    // An older watched version does not replace it (once the watch delivered it)...
    await eventually(() => server.openWatches === 1, 'the watch');
    const seen = collection.version;
    server.put(secret('linkerd-active-anchor', 'OLDER'));
    await eventually(() => collection.version > seen, 'the older version to arrive');
    expect(collection.get('cert-manager', 'linkerd-active-anchor')?.data?.['tls.crt']).toBe(b64('MINE'));
    // ...a deletion drops it.
    server.remove({ kind: 'Secret', metadata: { name: 'linkerd-active-anchor', namespace: 'cert-manager' } });
    await eventually(() => collection.get('cert-manager', 'linkerd-active-anchor') === undefined, 'the deletion');
  });

  it('re-lists after a failed list and says it is not synced meanwhile', async () => {
    server.failNextLists = 1;
    server.failStatus = 503;
    const states: boolean[] = [];
    collection.onChange(() => states.push(collection.synced));
    collection.start();
    await eventually(() => collection.synced, 're-listing after the failure');
    expect(states[0]).toBe(false);
    expect(collection.lists).toBe(1);
    expect(collection.items()).toHaveLength(1);
  });

  it('leaves no watch open after stop, also after the watch reconnected (a watch kept a process alive)', async () => {
    collection.start();
    await eventually(() => server.openWatches === 1, 'the watch');
    server.closeWatches(); // as the API server does at its timeout: ListWatch reconnects
    await eventually(() => server.openWatches === 1, 'the reconnected watch');
    await collection.stop();
    await eventually(() => server.openWatches === 0, 'every watch closed');
  });

  it('shares one connection pool per cluster and user (client-node 2.0 makes one per request)', () => {
    const target = reuseConnections(kc) as unknown as { createDispatcher(cluster: unknown, options: object): unknown; getCurrentCluster(): unknown };
    const cluster = target.getCurrentCluster();
    const first = target.createDispatcher(cluster, {});
    expect(target.createDispatcher(cluster, {})).toBe(first);
  });
});
