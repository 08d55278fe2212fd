// A minimal Kubernetes API server for tests and benchmarks: namespaced list and watch of Secrets and
// ConfigMaps with fieldSelector metadata.name, resourceVersions, and failure injection.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export type FakeObject = { apiVersion: string; kind: string; metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string> }; data?: Record<string, string> };

export class FakeApiServer {
  private readonly objects = new Map<string, FakeObject>();
  private readonly watchers = new Set<{ resource: string; namespace: string; name: string | undefined; res: ServerResponse }>();
  private version = 100;
  private server: Server | undefined;
  /** Respond to the next N list requests with this status. */
  failNextLists = 0;
  failStatus = 500;
  readonly requests: string[] = [];

  async start(): Promise<KubeConfig> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this.kubeConfig();
  }

  /** A KubeConfig pointing at this server. */
  kubeConfig(): KubeConfig {
    const { port } = this.server?.address() as AddressInfo;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'tester', token: 'token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'tester' }],
      currentContext: 'fake',
    });
    return kc;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  put(obj: FakeObject): void {
    const key = this.key(obj);
    const type = this.objects.has(key) ? 'MODIFIED' : 'ADDED';
    const stored = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.version) } };
    this.objects.set(key, stored);
    this.emit(type, stored);
  }

  remove(obj: Pick<FakeObject, 'kind' | 'metadata'>): void {
    const key = this.key(obj);
    const stored = this.objects.get(key);
    if (!stored) return;
    this.objects.delete(key);
    this.emit('DELETED', { ...stored, metadata: { ...stored.metadata, resourceVersion: String(++this.version) } });
  }

  /** Ends every open watch, as an API server does on its own timeout. */
  closeWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  private key(obj: Pick<FakeObject, 'kind' | 'metadata'>): string {
    return `${obj.kind === 'Secret' ? 'secrets' : 'configmaps'}/${obj.metadata.namespace}/${obj.metadata.name}`;
  }

  private emit(type: string, obj: FakeObject): void {
    const resource = obj.kind === 'Secret' ? 'secrets' : 'configmaps';
    for (const w of this.watchers) {
      if (w.resource === resource && w.namespace === obj.metadata.namespace && (w.name === undefined || w.name === obj.metadata.name)) {
        w.res.write(JSON.stringify({ type, object: obj }) + '\n');
      }
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/(secrets|configmaps)$/.exec(url.pathname);
    if (req.method !== 'GET' || !match) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 404 }));
      return;
    }
    const [, namespace, resource] = match as unknown as [string, string, string];
    const selector = url.searchParams.get('fieldSelector') ?? '';
    const name = selector.startsWith('metadata.name=') ? selector.slice('metadata.name='.length) : undefined;
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      const watcher = { resource, namespace, name, res };
      this.watchers.add(watcher);
      req.on('close', () => this.watchers.delete(watcher));
      return;
    }
    if (this.failNextLists > 0) {
      this.failNextLists--;
      res.writeHead(this.failStatus, { 'content-type': 'application/json' }).end(
        JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: this.failStatus, message: 'injected failure' }),
      );
      return;
    }
    const items = [...this.objects.entries()]
      .filter(([key]) => key.startsWith(`${resource}/${namespace}/`))
      .map(([, obj]) => obj)
      .filter((obj) => name === undefined || obj.metadata.name === name);
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        kind: resource === 'secrets' ? 'SecretList' : 'ConfigMapList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.version) },
        items,
      }),
    );
  }
}
