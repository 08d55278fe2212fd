// The one list+watch layer of linkerd-rotator: a cache of a resource (cluster-wide, or one named
// object by field selector so RBAC can scope it with resourceNames), slimmed in place, re-listed
// after errors with backoff, every watch aborted on stop, and overlaid with this process's own
// writes so a snapshot taken right after a write already shows it (read-your-writes). The
// rotation adapter, the webhook's trust cache and the exporter's cache are projections over it.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { classify, type KubeApiError, type KubeOperation } from './errors.js';

/** One chunk of a list call (the API's `limit` and `continue`). */
export interface ListPage {
  readonly limit: number;
  readonly _continue?: string;
}

/**
 * Objects per list chunk. A full pod is 15-20 KB in memory until slimmed; chunking bounds what the
 * first list holds unslimmed at once to one chunk instead of every pod in the cluster (issue 16).
 */
export const LIST_PAGE_SIZE = 500;

/** What to list and watch, and what to keep of each object. */
export interface Feed<T extends KubernetesObject> {
  /** For logs: `pods`, `Secret cert-manager/linkerd-active-anchor`. */
  readonly name: string;
  /** The watch path, e.g. `/api/v1/pods` or `/api/v1/namespaces/cert-manager/secrets`. */
  readonly path: string;
  /** What the list call is, for error messages. */
  readonly operation: KubeOperation;
  /**
   * Lists the objects; a cluster-wide feed passes `page` on to the API (limit and continue), so the
   * collection lists in chunks and slims each before the next arrives. A feed may ignore it.
   */
  readonly list: (page: ListPage) => Promise<KubernetesListObject<T>>;
  readonly fieldSelector?: string;
  readonly labelSelector?: string;
  /** Drops what no reader needs, in place (the informer's own cache holds this object). */
  readonly slim?: (obj: T) => void;
}

export interface CollectionOptions<T extends KubernetesObject> extends Feed<T> {
  readonly logger?: CollectionLogger;
  readonly health?: CollectionHealth;
  /** Re-list backoff after a failure: the first delay, doubled up to the maximum (default 500 ms to 8 s). */
  readonly relistDelayMs?: { readonly first: number; readonly max: number };
}

/** The subset of a pino logger a collection uses: structured fields, never object contents. */
export interface CollectionLogger {
  warn(fields: object, message: string): void;
  debug?(fields: object, message: string): void;
}

/** Told about failures, so a 403 right after an outage is taken for a restarting API server. */
export interface CollectionHealth {
  sawUnreachable(): void;
}

/** Watches with no event for this long are re-opened (dead connections are noticed within it). */
const WATCH_IDLE_TIMEOUT_MS = 120_000;
const RELIST_DELAY_MS = { first: 500, max: 8_000 };

/** Compares two resourceVersions as the etcd revisions they are; undefined when either is not numeric. */
export function compareResourceVersions(a: string | undefined, b: string | undefined): number | undefined {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined;
  const x = BigInt(a);
  const y = BigInt(b);
  return x === y ? 0 : x < y ? -1 : 1;
}

const keyOf = (obj: KubernetesObject) => `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;

export class Collection<T extends KubernetesObject> {
  private informer: ListWatch<T> | undefined;
  private readonly overlay = new Map<string, T>();
  private readonly listeners = new Set<() => void>();
  private readonly relistDelays: { readonly first: number; readonly max: number };
  private relistTimer: NodeJS.Timeout | undefined;
  private relistDelay: number;
  private stopped = true;
  private isSynced = false;
  private lastError: KubeApiError | undefined;
  /** Times the collection was (re)listed: 1 in a run without errors. */
  lists = 0;
  /** Counts changes (for memos that depend on this collection's contents). */
  version = 0;
  /** Watch requests still open, aborted on stop (a reconnect racing `stop()` must not keep the process alive). */
  private readonly open = new Set<AbortController>();

  constructor(
    private readonly kubeConfig: KubeConfig,
    readonly options: CollectionOptions<T>,
  ) {
    this.relistDelays = options.relistDelayMs ?? RELIST_DELAY_MS;
    this.relistDelay = this.relistDelays.first;
  }

  get synced(): boolean {
    return this.isSynced;
  }

  /** The last list/watch failure, until the next successful list. */
  get error(): KubeApiError | undefined {
    return this.lastError;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.build();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.relistTimer) clearTimeout(this.relistTimer);
    const informer = this.informer;
    this.informer = undefined;
    await informer?.stop();
    for (const controller of this.open) controller.abort();
    this.open.clear();
  }

  /** Called after every change, sync or failure. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  items(): T[] {
    const base = this.informer?.list() ?? [];
    if (this.overlay.size === 0) return [...base];
    const merged = new Map(base.map((obj) => [keyOf(obj), obj]));
    for (const [key, mine] of this.overlay) {
      const theirs = merged.get(key);
      if (!theirs || compareResourceVersions(theirs.metadata?.resourceVersion, mine.metadata?.resourceVersion) === -1) merged.set(key, mine);
    }
    return [...merged.values()];
  }

  get(namespace: string | undefined, name: string): T | undefined {
    const theirs = this.informer?.get(name, namespace);
    const mine = this.overlay.get(`${namespace ?? ''}/${name}`);
    if (!mine) return theirs;
    if (!theirs || compareResourceVersions(theirs.metadata?.resourceVersion, mine.metadata?.resourceVersion) === -1) return mine;
    return theirs;
  }

  /**
   * Records an object this process just wrote (the API's response), so reads see it before the
   * watch delivers it; the watched copy wins as soon as it is as new.
   */
  remember(obj: T): void {
    this.options.slim?.(obj);
    this.overlay.set(keyOf(obj), obj);
    this.notify();
  }

  private notify(): void {
    this.version++;
    for (const listener of this.listeners) listener();
  }

  /**
   * Every object, chunk by chunk (the API serves the chunks from one consistent snapshot, whose
   * resourceVersion the watch then starts from), each chunk slimmed before the next is asked for.
   * An expired continue token fails the list, and the collection re-lists from the start.
   */
  private async listInPages(): Promise<KubernetesListObject<T>> {
    const items: T[] = [];
    let token: string | undefined;
    let page: KubernetesListObject<T>;
    do {
      page = await this.options.list({ limit: LIST_PAGE_SIZE, ...(token ? { _continue: token } : {}) });
      for (const item of page.items) {
        this.options.slim?.(item);
        items.push(item);
      }
      token = page.metadata?._continue || undefined;
    } while (token);
    return { ...page, items };
  }

  private build(): void {
    const watch = new Watch(this.kubeConfig);
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = WATCH_IDLE_TIMEOUT_MS;
    // ListWatch assigns a reconnected watch after `stop()` may have run: track and abort them here.
    const connect = watch.watch.bind(watch);
    watch.watch = async (path, query, callback, done) => {
      // `done` may run before `connect` returns (a refused connection): no controller yet then.
      const request: { controller?: AbortController; ended?: boolean } = {};
      request.controller = await connect(path, query, callback, (err: unknown) => {
        request.ended = true;
        if (request.controller) this.open.delete(request.controller);
        done(err);
      });
      if (this.stopped || this.informer !== informer) request.controller.abort();
      else if (!request.ended) this.open.add(request.controller);
      return request.controller;
    };
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await this.listInPages();
      // Kubernetes leaves kind/apiVersion off list items; nothing here relies on them.
      if (this.informer === informer) {
        if (this.lists === 0) this.options.logger?.debug?.({ collection: this.options.name, found: result.items.length }, 'listed');
        this.lists++;
        this.isSynced = true;
        this.lastError = undefined;
        this.relistDelay = this.relistDelays.first;
        queueMicrotask(() => this.notify());
      }
      return result;
    };
    const informer = new ListWatch<T>(this.options.path, watch, list, false, this.options.labelSelector, this.options.fieldSelector);
    const onObject = (obj: T) => {
      if (this.informer !== informer) return;
      this.options.slim?.(obj);
      const key = keyOf(obj);
      const mine = this.overlay.get(key);
      if (mine && compareResourceVersions(obj.metadata?.resourceVersion, mine.metadata?.resourceVersion) !== -1) this.overlay.delete(key);
      this.notify();
    };
    informer.on('add', onObject);
    informer.on('update', onObject);
    informer.on('delete', (obj: T) => {
      if (this.informer !== informer) return;
      this.overlay.delete(keyOf(obj));
      this.notify();
    });
    informer.on('error', (err: unknown) => {
      if (this.informer !== informer || this.stopped) return;
      // ListWatch stops after an error other than a plain disconnect: re-list from scratch with a
      // new informer, so nothing that changed meanwhile is missed.
      this.isSynced = false;
      this.lastError = classify(err, this.options.operation);
      if (this.lastError.kind === 'unreachable') this.options.health?.sawUnreachable();
      this.options.logger?.warn(
        { collection: this.options.name, code: this.lastError.code, error: this.lastError.message, retryInMs: this.relistDelay },
        'list/watch failed; re-listing',
      );
      void informer.stop();
      this.informer = undefined;
      this.notify();
      this.relistTimer = setTimeout(() => {
        if (!this.stopped) this.build();
      }, this.relistDelay);
      this.relistTimer.unref();
      this.relistDelay = Math.min(this.relistDelay * 2, this.relistDelays.max);
    });
    this.informer = informer;
    void informer.start().catch(() => undefined);
  }
}

/** A collection of any kind, for code that only starts, stops, waits for or subscribes to it. */
export type AnyCollection = Collection<KubernetesObject>;
export const erase = <T extends KubernetesObject>(c: Collection<T>): AnyCollection => c as unknown as AnyCollection;

/** The part of a Collection that waiting needs (and a test double can provide). */
export interface Changing {
  onChange(listener: () => void): () => void;
}

/**
 * Resolves true once `ready()` holds, false when `timeoutMs` passes first: `ready` is checked at
 * once and after every change of `collections`, never on a timer.
 */
export function waitUntil(collections: readonly Changing[], ready: () => boolean, timeoutMs: number): Promise<boolean> {
  if (ready()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const settle = (value: boolean) => {
      clearTimeout(timer);
      for (const unsubscribe of subscriptions) unsubscribe();
      resolve(value);
    };
    const timer = setTimeout(() => settle(ready()), timeoutMs);
    const subscriptions = collections.map((c) => c.onChange(() => ready() && settle(true)));
  });
}

/** Resolves true once every collection has listed, false when `timeoutMs` passes first. */
export function whenSynced(collections: readonly AnyCollection[], timeoutMs: number): Promise<boolean> {
  return waitUntil(collections, () => collections.every((c) => c.synced), timeoutMs);
}
