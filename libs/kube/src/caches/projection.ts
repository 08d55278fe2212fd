// A snapshot projected from a set of Collections: started, stopped and waited for together, and
// rebuilt only after one of them changed, so reading it costs nothing while the cluster is quiet.
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { Collection, whenSynced, type AnyCollection, type CollectionOptions } from '../collection.js';
import { skeleton } from '../slim.js';

export abstract class Projection<S> {
  private snapshot: S | undefined;
  private stale = true;
  private readonly listeners = new Set<() => void>();

  protected constructor(readonly collections: readonly AnyCollection[]) {
    for (const collection of collections) {
      collection.onChange(() => {
        this.stale = true;
        for (const listener of this.listeners) listener();
      });
    }
  }

  /** Builds the snapshot from the collections; `previous` is the last one built, if any. */
  protected abstract project(previous: S | undefined): S;

  /** The latest snapshot; cheap and synchronous, never blocks on the API server. */
  current(): S {
    if (this.stale || this.snapshot === undefined) {
      this.stale = false;
      this.snapshot = this.project(this.snapshot);
    }
    return this.snapshot;
  }

  /** True once every collection has listed (and not failed since). */
  isSynced(): boolean {
    return this.collections.every((c) => c.synced);
  }

  /** Called after every change of a collection (an object, a sync, a failure). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts every list+watch; returns at once. Use `waitForSync` to wait for the first lists. */
  start(): void {
    for (const collection of this.collections) collection.start();
  }

  /** Resolves true once synced, false if `timeoutMs` passes first (woken by changes, not polling). */
  waitForSync(timeoutMs: number): Promise<boolean> {
    return whenSynced(this.collections, timeoutMs);
  }

  /** Stops every watch, including one reconnecting at that moment. */
  async stop(): Promise<void> {
    await Promise.all(this.collections.map((c) => c.stop()));
  }
}

/**
 * A Collection whose objects are projected once, on arrival, and then cut to skeletons: the view
 * is all a snapshot needs, so the informer's own cache stays small (thousands of pods).
 */
export class Projected<T extends KubernetesObject, V> {
  readonly collection: Collection<T>;
  private readonly views = new WeakMap<object, V | undefined>();

  constructor(kubeConfig: KubeConfig, options: CollectionOptions<T> & { readonly project: (obj: T) => V | undefined }) {
    const { project, slim, ...feed } = options;
    this.collection = new Collection<T>(kubeConfig, {
      ...feed,
      slim: (obj) => {
        // ListWatch hands a listed object to its add handlers too: project it only once.
        if (this.views.has(obj)) return;
        slim?.(obj);
        this.views.set(obj, project(obj));
        skeleton(obj);
      },
    });
  }

  /** The views of every object held, in the collection's order; objects without a view are left out. */
  list(): V[] {
    const out: V[] = [];
    for (const obj of this.collection.items()) {
      const view = this.views.get(obj);
      if (view !== undefined) out.push(view);
    }
    return out;
  }

  get(namespace: string, name: string): V | undefined {
    const obj = this.collection.get(namespace, name);
    return obj === undefined ? undefined : this.views.get(obj);
  }
}

/** Equal as data; views that did not change are the same object, so most checks are one comparison. */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameData(x, b[i]));
  return JSON.stringify(a) === JSON.stringify(b);
}
