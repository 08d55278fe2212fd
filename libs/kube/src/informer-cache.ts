// Informer-backed TrustSnapshotSource: one list+watch per guarded object (field-selected by name,
// so RBAC can be scoped with resourceNames), kept in memory so admission never reads the API.
import {
  CoreV1Api,
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Secret,
} from '@kubernetes/client-node';
import type { TrustObjectNames } from './names.js';
import {
  bundleViewOf,
  certificateViewOf,
  issuerViewOf,
  rotationStateViewOf,
  stripSecret,
} from './projections.js';
import type { TrustSnapshot, TrustSnapshotSource } from './snapshot.js';

/** The subset of a pino logger this cache uses. */
export interface CacheLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface InformerTrustCacheOptions {
  /** Delay before restarting a watch that failed (the client only retries plain disconnects). */
  retryDelayMs?: number;
  logger?: CacheLogger;
}

type Role = keyof TrustSnapshot;

interface Watched<T extends KubernetesObject> {
  role: Role;
  kind: 'Secret' | 'ConfigMap';
  namespace: string;
  name: string;
  project(obj: T): TrustSnapshot[Role];
  informer?: ListWatch<T>;
  synced: boolean;
  restartTimer?: NodeJS.Timeout;
}

const silent: CacheLogger = { info: () => undefined, warn: () => undefined };

export class InformerTrustCache implements TrustSnapshotSource {
  private snapshot: TrustSnapshot = {};
  private readonly watched: Array<Watched<V1Secret> | Watched<V1ConfigMap>>;
  private readonly core: CoreV1Api;
  private readonly listeners = new Set<(snapshot: TrustSnapshot) => void>();
  private readonly logger: CacheLogger;
  private readonly retryDelayMs: number;
  private stopped = true;

  constructor(
    private readonly kubeConfig: KubeConfig,
    names: TrustObjectNames,
    options: InformerTrustCacheOptions = {},
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.logger = options.logger ?? silent;
    this.retryDelayMs = options.retryDelayMs ?? 2000;
    const secret = (role: Role, namespace: string, name: string, project: (s: V1Secret) => TrustSnapshot[Role]): Watched<V1Secret> => ({
      role,
      kind: 'Secret',
      namespace,
      name,
      project,
      synced: false,
    });
    const configMap = (role: Role, namespace: string, name: string, project: (c: V1ConfigMap) => TrustSnapshot[Role]): Watched<V1ConfigMap> => ({
      role,
      kind: 'ConfigMap',
      namespace,
      name,
      project,
      synced: false,
    });
    this.watched = [
      secret('preparedAnchor', names.trustNamespace, names.preparedAnchorSecret, certificateViewOf),
      secret('activeAnchor', names.trustNamespace, names.activeAnchorSecret, certificateViewOf),
      secret('previousAnchor', names.trustNamespace, names.previousAnchorSecret, certificateViewOf),
      secret('issuer', names.linkerdNamespace, names.issuerSecret, issuerViewOf),
      configMap('trustRoots', names.linkerdNamespace, names.trustRootsConfigMap, (c) => bundleViewOf(c, names.trustRootsKey)),
      configMap('rotation', names.releaseNamespace, names.stateConfigMap, rotationStateViewOf),
    ];
  }

  current(): TrustSnapshot {
    return this.snapshot;
  }

  isSynced(): boolean {
    return this.watched.every((w) => w.synced);
  }

  /** Called with each new snapshot (after every change of a watched object). */
  onChange(listener: (snapshot: TrustSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts every list+watch; returns at once. Use `waitForSync` to wait for the first lists. */
  async start(): Promise<void> {
    this.stopped = false;
    for (const w of this.watched) {
      if (w.kind === 'Secret') this.startInformer(w as Watched<V1Secret>, (namespace, fieldSelector) => this.core.listNamespacedSecret({ namespace, fieldSelector }), stripSecret);
      else this.startInformer(w as Watched<V1ConfigMap>, (namespace, fieldSelector) => this.core.listNamespacedConfigMap({ namespace, fieldSelector }), (c) => c);
    }
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
    for (const w of this.watched) {
      if (w.restartTimer) clearTimeout(w.restartTimer);
      await w.informer?.stop();
    }
  }

  /** Data keys of every Secret held in the informers' caches: proof that no key is kept. */
  heldSecretDataKeys(): string[] {
    const keys: string[] = [];
    for (const w of this.watched) {
      if (w.kind !== 'Secret' || !w.informer) continue;
      for (const obj of (w.informer as ListWatch<V1Secret>).list()) keys.push(...Object.keys(obj.data ?? {}));
    }
    return keys;
  }

  private startInformer<T extends KubernetesObject>(
    w: Watched<T>,
    list: (namespace: string, fieldSelector: string) => Promise<KubernetesListObject<T>>,
    sanitize: (obj: T) => T,
  ): void {
    const fieldSelector = `metadata.name=${w.name}`;
    const path = `/api/v1/namespaces/${w.namespace}/${w.kind === 'Secret' ? 'secrets' : 'configmaps'}`;
    const listFn = async (): Promise<KubernetesListObject<T>> => {
      const result = await list(w.namespace, fieldSelector);
      for (const item of result.items) sanitize(item);
      // The list result is authoritative: apply it here, so "synced" never precedes the data.
      const found = result.items.find((item) => item.metadata?.name === w.name);
      this.update(w.role, found ? w.project(found) : undefined);
      if (!w.synced) this.logger.info({ object: `${w.kind} ${w.namespace}/${w.name}`, present: found !== undefined }, 'listed');
      w.synced = true;
      return result;
    };
    const informer = new ListWatch<T>(path, new Watch(this.kubeConfig), listFn, false, undefined, fieldSelector);
    const onObject = (obj: T) => {
      if (obj.metadata?.name !== w.name) return;
      this.update(w.role, w.project(sanitize(obj)));
    };
    informer.on('add', onObject);
    informer.on('update', onObject);
    informer.on('delete', (obj: T) => {
      if (obj.metadata?.name === w.name) this.update(w.role, undefined);
    });
    informer.on('error', (err: unknown) => {
      // ListWatch stops on errors other than disconnects; keep serving the last snapshot and retry.
      const e = err as { code?: number; statusCode?: number; message?: string };
      this.logger.warn(
        { object: `${w.kind} ${w.namespace}/${w.name}`, code: e?.code ?? e?.statusCode, error: e?.message, retryInMs: this.retryDelayMs },
        'list/watch failed; retrying',
      );
      if (this.stopped) return;
      w.restartTimer = setTimeout(() => {
        if (!this.stopped) void informer.start().catch(() => undefined);
      }, this.retryDelayMs);
      w.restartTimer.unref();
    });
    w.informer = informer;
    void informer.start().catch(() => undefined);
  }

  private update<R extends Role>(role: R, view: TrustSnapshot[R]): void {
    const next: TrustSnapshot = { ...this.snapshot };
    if (view === undefined) delete next[role];
    else next[role] = view;
    this.snapshot = next;
    for (const listener of this.listeners) listener(next);
  }
}
