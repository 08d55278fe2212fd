// StateStore: the rotation state ConfigMap in the release namespace, read with a GET (never from a
// cache) and written with optimistic concurrency: create when absent, replace at the resourceVersion
// last read or written; a 409 is a conflict the engine stops on, never an overwrite.
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { StateStore, StateWriteOutcome, StoredState } from '@linkerd-rotator/rotation';
import { FIELD_MANAGER, type AdapterContext } from './context.js';
import { KubeApiError } from '../errors.js';

const LABELS = { 'app.kubernetes.io/name': 'linkerd-rotator', 'app.kubernetes.io/component': 'rotation-state', 'app.kubernetes.io/managed-by': 'linkerd-rotator' };

export class KubeStateStore implements StateStore {
  /** The last object read or written: its other labels and annotations are kept on replace. */
  private last: V1ConfigMap | undefined;
  /** The ConfigMap's uid, for Events that name it. */
  uid: string | undefined;

  constructor(
    private readonly ctx: AdapterContext,
    private readonly namespace: string,
  ) {}

  async read(): Promise<StoredState | undefined> {
    const { ctx, namespace } = this;
    const name = ctx.names.stateConfigMap;
    try {
      const cm = await ctx.call({ verb: 'get', resource: 'configmaps', namespace, name }, () => ctx.core.readNamespacedConfigMap({ namespace, name }));
      this.keep(cm);
      return { data: cm.data ?? {}, resourceVersion: cm.metadata?.resourceVersion ?? '' };
    } catch (err) {
      if (err instanceof KubeApiError && err.kind === 'not-found') return undefined;
      throw err;
    }
  }

  async write(data: Readonly<Record<string, string>>, expectedResourceVersion: string | undefined): Promise<StateWriteOutcome> {
    const { ctx, namespace } = this;
    const name = ctx.names.stateConfigMap;
    try {
      let cm: V1ConfigMap;
      if (expectedResourceVersion === undefined) {
        const body: V1ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels: LABELS }, data: { ...data } };
        cm = await ctx.call({ verb: 'create', resource: 'configmaps', namespace, name }, () => ctx.core.createNamespacedConfigMap({ namespace, body, fieldManager: FIELD_MANAGER }));
      } else {
        const meta = this.last?.metadata;
        const body: V1ConfigMap = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name,
            namespace,
            resourceVersion: expectedResourceVersion,
            labels: { ...(meta?.labels ?? {}), ...LABELS },
            ...(meta?.annotations ? { annotations: meta.annotations } : {}),
          },
          data: { ...data },
        };
        cm = await ctx.call({ verb: 'update', resource: 'configmaps', namespace, name }, () => ctx.core.replaceNamespacedConfigMap({ namespace, name, body, fieldManager: FIELD_MANAGER }));
      }
      this.keep(cm);
      return { ok: true, resourceVersion: cm.metadata?.resourceVersion ?? '' };
    } catch (err) {
      // 409 on replace: someone else wrote it; on create: it exists already. 404 on replace: deleted.
      if (err instanceof KubeApiError && (err.kind === 'conflict' || err.kind === 'not-found')) return { ok: false, conflict: true };
      throw err;
    }
  }

  private keep(cm: V1ConfigMap): void {
    this.last = { metadata: { ...(cm.metadata?.labels ? { labels: cm.metadata.labels } : {}), ...(cm.metadata?.annotations ? { annotations: cm.metadata.annotations } : {}) } };
    this.uid = cm.metadata?.uid ?? this.uid;
  }
}
