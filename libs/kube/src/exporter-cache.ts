// Informer-backed source of what the PKI health exporter needs beyond the webhook's trust snapshot:
// the trust-roots ConfigMap in every namespace, meshed pods' trust facts, and the full rotation state.
import {
  CoreV1Api,
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Pod,
} from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import type { CacheLogger } from './informer-cache.js';
import type { TrustObjectNames } from './names.js';
import { describeObject } from './projections.js';
import { TRUST_ANCHORS_ENV, TRUST_ROOT_ANNOTATION } from './rotation/names.js';
import { proxyContainer } from './rotation/pod-facts.js';

/** One target ConfigMap of the trust bundle; `pem` is undefined when the ConfigMap lacks the key. */
export interface TrustRootsView {
  namespace: string;
  source: string;
  pem?: string;
}

/** What the exporter keeps of a meshed pod: never its spec, only its trust facts. */
export interface MeshedPodView {
  namespace: string;
  name: string;
  /** `linkerd.io/trust-root-sha256`, or the SHA-256 of a literal trust-anchors env when the annotation is missing. */
  trustRootSha256?: string;
  /** The proxy reads its anchors through `configMapKeyRef` (resolved at container start; the annotation then means nothing). */
  trustFromConfigMap: boolean;
  /** `status.startTime` in epoch milliseconds. */
  startTime?: number;
}

/** The rotation state ConfigMap's data, as the rotation engine wrote it (parsed by the consumer). */
export interface StateDataView {
  source: string;
  data: Readonly<Record<string, string>>;
}

export interface ExporterSnapshot {
  /** Every trust-roots ConfigMap found, sorted by namespace. */
  trustRoots: TrustRootsView[];
  /** Meshed pods that have not terminated, sorted by namespace and name; empty when pods are not watched. */
  pods: MeshedPodView[];
  podsWatched: boolean;
  /** Undefined when the state ConfigMap does not exist (no run yet). */
  state?: StateDataView;
}

/** What the exporter depends on: a current snapshot, read without I/O. */
export interface ExporterSource {
  current(): ExporterSnapshot;
  isSynced(): boolean;
}

/** A fixed exporter snapshot, for unit tests. */
export class StaticExporterSource implements ExporterSource {
  constructor(
    private snapshot: ExporterSnapshot,
    private synced = true,
  ) {}

  current(): ExporterSnapshot {
    return this.snapshot;
  }

  isSynced(): boolean {
    return this.synced;
  }

  set(snapshot: ExporterSnapshot, synced = true): void {
    this.snapshot = snapshot;
    this.synced = synced;
  }
}

/** Label Linkerd's proxy-injector puts on every pod it injects: the default meshed-pod selector. */
export const MESHED_POD_LABEL = 'linkerd.io/control-plane-ns';

/**
 * A pod's trust facts when it runs a Linkerd proxy (as a container, an init container or a native
 * sidecar) and has not terminated; undefined otherwise. Pure.
 */
export function meshedPodViewOf(pod: V1Pod): MeshedPodView | undefined {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  const proxy = proxyContainer(pod);
  if (!proxy) return undefined;
  const env = proxy.env?.find((e) => e.name === TRUST_ANCHORS_ENV);
  const trustFromConfigMap = env?.valueFrom?.configMapKeyRef !== undefined;
  const annotation = pod.metadata?.annotations?.[TRUST_ROOT_ANNOTATION];
  const trustRootSha256 = annotation ?? (env?.value !== undefined ? createHash('sha256').update(env.value).digest('hex') : undefined);
  const start = pod.status?.startTime ?? pod.metadata?.creationTimestamp;
  const view: MeshedPodView = { namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '', trustFromConfigMap };
  if (trustRootSha256 !== undefined) view.trustRootSha256 = trustRootSha256;
  if (start !== undefined) view.startTime = new Date(start).getTime();
  return view;
}

export function trustRootsViewOf(configMap: V1ConfigMap, key: string): TrustRootsView {
  const namespace = configMap.metadata?.namespace ?? '';
  const view: TrustRootsView = { namespace, source: describeObject('ConfigMap', namespace, configMap.metadata?.name) };
  const pem = configMap.data?.[key] ?? (configMap.binaryData?.[key] !== undefined ? Buffer.from(configMap.binaryData[key]!, 'base64').toString('utf8') : undefined);
  if (pem !== undefined) view.pem = pem;
  return view;
}

/** Reduces a cached object to what ListWatch itself needs (name, namespace, resourceVersion), in place. */
function skeleton<T extends KubernetesObject>(obj: T): T {
  const { name, namespace, resourceVersion, uid } = obj.metadata ?? {};
  for (const key of Object.keys(obj)) {
    if (key !== 'apiVersion' && key !== 'kind') delete (obj as Record<string, unknown>)[key];
  }
  obj.metadata = { name, namespace, resourceVersion, uid };
  return obj;
}

export interface InformerExporterCacheOptions {
  /** Label selector of the pods to watch; meshed pods carry `linkerd.io/control-plane-ns`. "" watches every pod. */
  meshedPodSelector?: string;
  /** Watch pods at all (stale-proxy metrics); false drops the cluster-wide pod watch. */
  watchPods?: boolean;
  retryDelayMs?: number;
  logger?: CacheLogger;
}

interface Feed<T extends KubernetesObject, V> {
  what: string;
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  fieldSelector?: string;
  /** undefined: the object is not kept. */
  project: (obj: T) => V | undefined;
  /** Reduce the object the informer keeps, in place, after projecting it. */
  strip: (obj: T) => T;
  views: Map<string, V>;
  synced: boolean;
  informer?: ListWatch<T>;
  restartTimer?: NodeJS.Timeout;
}

const silent: CacheLogger = { info: () => undefined, warn: () => undefined };
// NUL sorts before any character of a name, so keys sort by namespace, then name.
const keyOf = (obj: KubernetesObject) => `${obj.metadata?.namespace ?? ''}\u0000${obj.metadata?.name ?? ''}`;

/**
 * Three list+watches: the trust-roots ConfigMap in all namespaces (field-selected by name, so the
 * ClusterRole can name it), meshed pods in all namespaces (label-selected), and the state ConfigMap.
 * Only projections are kept; the informers' own caches hold skeletons, so memory stays per-pod small.
 */
export class InformerExporterCache implements ExporterSource {
  private readonly core: CoreV1Api;
  private readonly logger: CacheLogger;
  private readonly retryDelayMs: number;
  private readonly trustRoots: Feed<V1ConfigMap, TrustRootsView>;
  private readonly pods: Feed<V1Pod, MeshedPodView> | undefined;
  private readonly state: Feed<V1ConfigMap, StateDataView>;
  private snapshot: ExporterSnapshot | undefined;
  private stopped = true;

  constructor(
    private readonly kubeConfig: KubeConfig,
    names: TrustObjectNames,
    options: InformerExporterCacheOptions = {},
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.logger = options.logger ?? silent;
    this.retryDelayMs = options.retryDelayMs ?? 2000;
    const byName = (name: string) => `metadata.name=${name}`;
    this.trustRoots = {
      what: `ConfigMaps ${names.trustRootsConfigMap} in all namespaces`,
      path: '/api/v1/configmaps',
      fieldSelector: byName(names.trustRootsConfigMap),
      list: () => this.core.listConfigMapForAllNamespaces({ fieldSelector: byName(names.trustRootsConfigMap) }),
      project: (c) => (c.metadata?.name === names.trustRootsConfigMap ? trustRootsViewOf(c, names.trustRootsKey) : undefined),
      strip: skeleton,
      views: new Map(),
      synced: false,
    };
    const stateSelector = byName(names.stateConfigMap);
    this.state = {
      what: `ConfigMap ${names.releaseNamespace}/${names.stateConfigMap}`,
      path: `/api/v1/namespaces/${names.releaseNamespace}/configmaps`,
      fieldSelector: stateSelector,
      list: () => this.core.listNamespacedConfigMap({ namespace: names.releaseNamespace, fieldSelector: stateSelector }),
      project: (c) =>
        c.metadata?.name === names.stateConfigMap
          ? { source: describeObject('ConfigMap', c.metadata.namespace, c.metadata.name), data: { ...(c.data ?? {}) } }
          : undefined,
      strip: skeleton,
      views: new Map(),
      synced: false,
    };
    if (options.watchPods ?? true) {
      const selector = options.meshedPodSelector ?? MESHED_POD_LABEL;
      const labelSelector = selector === '' ? undefined : selector;
      this.pods = {
        what: `pods in all namespaces${labelSelector ? ` (selector ${labelSelector})` : ''}`,
        path: '/api/v1/pods',
        ...(labelSelector ? { labelSelector } : {}),
        list: () => this.core.listPodForAllNamespaces(labelSelector ? { labelSelector } : {}),
        project: meshedPodViewOf,
        strip: skeleton,
        views: new Map(),
        synced: false,
      };
    }
  }

  private feeds(): Array<Feed<V1ConfigMap, TrustRootsView> | Feed<V1Pod, MeshedPodView> | Feed<V1ConfigMap, StateDataView>> {
    return this.pods ? [this.trustRoots, this.pods, this.state] : [this.trustRoots, this.state];
  }

  /** The latest snapshot; rebuilt only after a change, so repeated reads share one value. */
  current(): ExporterSnapshot {
    if (!this.snapshot) {
      const byKey = <V>(views: Map<string, V>) => [...views.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
      const state = [...this.state.views.values()][0];
      this.snapshot = {
        trustRoots: byKey(this.trustRoots.views),
        pods: this.pods ? byKey(this.pods.views) : [],
        podsWatched: this.pods !== undefined,
        ...(state ? { state } : {}),
      };
    }
    return this.snapshot;
  }

  isSynced(): boolean {
    return this.feeds().every((f) => f.synced);
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.startFeed(this.trustRoots);
    this.startFeed(this.state);
    if (this.pods) this.startFeed(this.pods);
  }

  /** Resolves true once synced, false if `timeoutMs` passes first. */
  async waitForSync(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.isSynced()) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const f of this.feeds()) {
      if (f.restartTimer) clearTimeout(f.restartTimer);
      await f.informer?.stop();
    }
  }

  /** Number of objects the informers hold and the largest one, serialized: proof that only skeletons are kept. */
  heldObjectSizes(): { count: number; maxBytes: number } {
    let count = 0;
    let maxBytes = 0;
    for (const f of this.feeds()) {
      for (const obj of (f.informer as ListWatch<KubernetesObject> | undefined)?.list() ?? []) {
        count++;
        maxBytes = Math.max(maxBytes, JSON.stringify(obj).length);
      }
    }
    return { count, maxBytes };
  }

  private startFeed<T extends KubernetesObject, V>(f: Feed<T, V>): void {
    const put = (obj: T) => {
      const key = keyOf(obj);
      const view = f.project(obj);
      const old = f.views.get(key);
      if (view === undefined) {
        if (f.views.delete(key)) this.changed();
      } else if (old === undefined || JSON.stringify(old) !== JSON.stringify(view)) {
        f.views.set(key, view);
        this.changed();
      }
      f.strip(obj);
    };
    const listFn = async (): Promise<KubernetesListObject<T>> => {
      const result = await f.list();
      // The list is authoritative: replace the views here, so "synced" never precedes the data.
      // ListWatch then calls add/update for the same items, which finds the views unchanged and strips them.
      f.views.clear();
      for (const item of result.items) {
        const view = f.project(item);
        if (view !== undefined) f.views.set(keyOf(item), view);
      }
      this.changed();
      if (!f.synced) this.logger.info({ objects: f.what, found: f.views.size }, 'listed');
      f.synced = true;
      return result;
    };
    const informer = new ListWatch<T>(f.path, new Watch(this.kubeConfig), listFn, false, f.labelSelector, f.fieldSelector);
    informer.on('add', put);
    informer.on('update', put);
    informer.on('delete', (obj: T) => {
      if (f.views.delete(keyOf(obj))) this.changed();
    });
    informer.on('error', (err: unknown) => {
      // ListWatch stops on errors other than disconnects; keep serving the last snapshot and retry.
      const e = err as { code?: number; statusCode?: number; message?: string };
      this.logger.warn({ objects: f.what, code: e?.code ?? e?.statusCode, error: e?.message, retryInMs: this.retryDelayMs }, 'list/watch failed; retrying');
      if (this.stopped) return;
      f.restartTimer = setTimeout(() => {
        if (!this.stopped) void informer.start().catch(() => undefined);
      }, this.retryDelayMs);
      f.restartTimer.unref();
    });
    f.informer = informer;
    void informer.start().catch(() => undefined);
  }

  private changed(): void {
    this.snapshot = undefined;
  }
}
