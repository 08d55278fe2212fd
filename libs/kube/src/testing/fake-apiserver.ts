// A minimal Kubernetes API server for tests and benchmarks: core/v1 list, watch and get of any
// resource, namespaced or in all namespaces, with `metadata.name` field selectors, label selectors
// (`key` or `key=value`), resourceVersions, and failure injection; create (POST), replace (PUT) and
// server-side apply (PATCH, whole object) of a namespaced object, with a 409 on a stale resourceVersion as the API server answers.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export type FakeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  [field: string]: unknown;
};

/** Which objects a list or watch asks for. */
interface Query {
  resource: string;
  namespace?: string;
  name?: string;
  /** `key` (the label exists) or `key=value`. */
  label?: string;
}

/** `Secret` -> `secrets`, `ConfigMap` -> `configmaps`, `Pod` -> `pods`. */
const resourceOf = (kind: string) => `${kind.toLowerCase()}s`;

export class FakeApiServer {
  private readonly objects = new Map<string, FakeObject>();
  private readonly watchers = new Set<Query & { res: ServerResponse }>();
  private version = 100;
  private server: Server | undefined;
  /** Respond to the next N list requests with this status. */
  failNextLists = 0;
  failStatus = 500;
  /** Every request, as `GET /api/v1/...?query`. */
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
    this.closeWatches();
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

  /** The object held under a resource (`secrets`, `configmaps`), namespace and name, as a GET returns it. */
  get(resource: string, namespace: string, name: string): FakeObject | undefined {
    return this.objects.get(`${resource}/${namespace}/${name}`);
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
    return `${resourceOf(obj.kind)}/${obj.metadata.namespace}/${obj.metadata.name}`;
  }

  private matches(query: Query, obj: FakeObject): boolean {
    if (resourceOf(obj.kind) !== query.resource) return false;
    if (query.namespace !== undefined && query.namespace !== obj.metadata.namespace) return false;
    if (query.name !== undefined && query.name !== obj.metadata.name) return false;
    if (query.label === undefined) return true;
    const [label = '', value] = query.label.split('=');
    const held = obj.metadata.labels?.[label];
    return value === undefined ? held !== undefined : held === value;
  }

  /** POST to a namespaced collection creates; PUT to a named object replaces it (optimistic concurrency); APPLY does either. */
  private write(
    req: IncomingMessage,
    res: ServerResponse,
    at: { method: 'POST' | 'PUT' | 'APPLY'; namespace: string | undefined; resource: string; name: string | undefined },
    status: (code: number, message: string) => void,
  ): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body: FakeObject;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as FakeObject;
      } catch {
        return status(400, 'the request body is not JSON');
      }
      if (at.namespace === undefined || resourceOf(body.kind ?? '') !== at.resource) return status(400, `expected a namespaced ${at.resource} object`);
      const name = at.method !== 'POST' ? at.name : body.metadata?.name;
      if (name === undefined || (at.method !== 'POST' && body.metadata?.name !== name)) return status(400, 'the name in the body does not match the URL');
      const key = `${at.resource}/${at.namespace}/${name}`;
      const current = this.objects.get(key);
      if (at.method === 'POST' && current) return status(409, `${at.resource} "${name}" already exists`);
      if (at.method === 'PUT' && !current) return status(404, `${at.resource} "${name}" not found`);
      const sent = body.metadata.resourceVersion;
      if (at.method === 'PUT' && sent !== undefined && sent !== current?.metadata.resourceVersion) {
        return status(409, `Operation cannot be fulfilled on ${at.resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
      }
      this.put({ ...body, metadata: { ...body.metadata, name, namespace: at.namespace } });
      res.writeHead(at.method === 'POST' || (at.method === 'APPLY' && !current) ? 201 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(this.objects.get(key)));
    });
  }

  private emit(type: string, obj: FakeObject): void {
    for (const w of this.watchers) if (this.matches(w, obj)) w.res.write(JSON.stringify({ type, object: obj }) + '\n');
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const match = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?([a-z]+)(?:\/([^/]+))?$/.exec(url.pathname);
    const status = (code: number, message: string): void => {
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, message }));
    };
    if (!match) return status(404, 'not found');
    const [, namespace, resource = '', name] = match;
    if (req.method === 'POST' || req.method === 'PUT') {
      this.write(req, res, { method: req.method, namespace, resource, name }, status);
      return;
    }
    // Server-side apply of a whole object (the exporter's one write): creates or replaces it.
    if (req.method === 'PATCH' && req.headers['content-type']?.startsWith('application/apply-patch')) {
      this.write(req, res, { method: 'APPLY', namespace, resource, name }, status);
      return;
    }
    if (req.method !== 'GET') return status(404, 'not found');
    if (name !== undefined) {
      const found = namespace === undefined ? undefined : this.objects.get(`${resource}/${namespace}/${name}`);
      if (!found) return status(404, `${resource} "${name}" not found`);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(found));
      return;
    }
    const field = url.searchParams.get('fieldSelector') ?? '';
    const label = url.searchParams.get('labelSelector');
    const query: Query = {
      resource,
      ...(namespace !== undefined ? { namespace } : {}),
      ...(field.startsWith('metadata.name=') ? { name: field.slice('metadata.name='.length) } : {}),
      ...(label ? { label } : {}),
    };
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      const watcher = { ...query, res };
      this.watchers.add(watcher);
      req.on('close', () => this.watchers.delete(watcher));
      return;
    }
    if (this.failNextLists > 0) {
      this.failNextLists--;
      return status(this.failStatus, 'injected failure');
    }
    // Chunked lists as the API server serves them: objects in key order, `limit` at a time, and a
    // continue token (here the last key sent, with the list's resourceVersion) while more remain.
    const all = [...this.objects.entries()].filter(([, obj]) => this.matches(query, obj)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const token = url.searchParams.get('continue');
    const after = token ? (JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { key: string; rv: string }) : undefined;
    const rest = after ? all.filter(([key]) => key > after.key) : all;
    const limit = Number(url.searchParams.get('limit') ?? 0);
    const page = limit > 0 ? rest.slice(0, limit) : rest;
    const resourceVersion = after?.rv ?? String(this.version);
    const last = page.at(-1)?.[0];
    const more = limit > 0 && rest.length > limit && last !== undefined ? Buffer.from(JSON.stringify({ key: last, rv: resourceVersion })).toString('base64') : undefined;
    const metadata = { resourceVersion, ...(more ? { continue: more } : {}) };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata, items: page.map(([, obj]) => obj) }));
  }
}
