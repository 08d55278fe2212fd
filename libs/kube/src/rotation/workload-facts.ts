// Deployments, StatefulSets, DaemonSets and Argo Rollouts as WorkloadFacts (replicas, rollout
// progress, the restartedAt marker), and the merge patches that restart them.
import type { KubernetesObject, V1DaemonSet, V1Deployment, V1LabelSelector, V1StatefulSet } from '@kubernetes/client-node';
import type { Tier, WorkloadFacts, WorkloadKind } from '@linkerd-rotator/rotation';
import { PROXY_CONTAINER, RESTARTED_AT_ANNOTATION } from '../linkerd.js';

/** The fields of an argoproj.io/v1alpha1 Rollout the rotator reads. */
export interface RolloutObject extends KubernetesObject {
  spec?: { replicas?: number; restartAt?: string; paused?: boolean; selector?: V1LabelSelector; template?: { metadata?: { labels?: Record<string, string> } } };
  status?: { readyReplicas?: number; updatedReplicas?: number; observedGeneration?: string | number; replicas?: number };
}

export type WorkloadObject = V1Deployment | V1StatefulSet | V1DaemonSet | RolloutObject;

function parseTime(value: string | Date | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Argo Rollouts has written `status.observedGeneration` as a string; a non-number counts as caught up. */
function observed(value: string | number | undefined, generation: number): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  return value === undefined ? 0 : generation;
}

export function workloadFactsOf(kind: WorkloadKind, obj: WorkloadObject, tier: Tier): WorkloadFacts {
  const meta = obj.metadata ?? {};
  const generation = meta.generation ?? 0;
  const base = { kind, namespace: meta.namespace ?? '', name: meta.name ?? '', tier, generation };
  if (kind === 'Rollout') {
    const r = obj as RolloutObject;
    const restartedAt = parseTime(r.spec?.restartAt);
    return {
      ...base,
      replicas: r.spec?.replicas ?? 1,
      readyReplicas: r.status?.readyReplicas ?? 0,
      updatedReplicas: r.status?.updatedReplicas ?? 0,
      observedGeneration: observed(r.status?.observedGeneration, generation),
      ...(restartedAt !== undefined ? { restartedAt } : {}),
    };
  }
  const template = (obj as V1Deployment).spec?.template;
  const restartedAt = parseTime(template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]);
  const marker = restartedAt !== undefined ? { restartedAt } : {};
  const replacement = replacementFacts(kind, obj);
  if (kind === 'DaemonSet') {
    const ds = obj as V1DaemonSet;
    return {
      ...base,
      replicas: ds.status?.desiredNumberScheduled ?? 0,
      readyReplicas: ds.status?.numberReady ?? 0,
      updatedReplicas: ds.status?.updatedNumberScheduled ?? 0,
      observedGeneration: ds.status?.observedGeneration ?? 0,
      ...marker,
      ...replacement,
    };
  }
  const d = obj as V1Deployment | V1StatefulSet;
  return {
    ...base,
    replicas: d.spec?.replicas ?? 1,
    readyReplicas: d.status?.readyReplicas ?? 0,
    updatedReplicas: d.status?.updatedReplicas ?? 0,
    observedGeneration: d.status?.observedGeneration ?? 0,
    ...marker,
    ...replacement,
  };
}

/** What decides whether a template change replaces the pods (libs/rotation `restartIneffective`): set fields only. */
function replacementFacts(kind: WorkloadKind, obj: WorkloadObject): Pick<WorkloadFacts, 'updateStrategy' | 'partition' | 'paused'> {
  if (kind === 'Deployment') return (obj as V1Deployment).spec?.paused === true ? { paused: true } : {};
  if (kind !== 'StatefulSet' && kind !== 'DaemonSet') return {};
  const strategy = (obj as V1StatefulSet | V1DaemonSet).spec?.updateStrategy;
  const type = strategy?.type === 'OnDelete' || strategy?.type === 'RollingUpdate' ? strategy.type : undefined;
  const partition = kind === 'StatefulSet' ? (obj as V1StatefulSet).spec?.updateStrategy?.rollingUpdate?.partition : undefined;
  return { ...(type !== undefined ? { updateStrategy: type } : {}), ...(partition !== undefined ? { partition } : {}) };
}

/** The labels of the pods a workload creates (what a PodDisruptionBudget selects on). */
export function templateLabels(obj: WorkloadObject): Record<string, string> {
  return (obj as V1Deployment).spec?.template?.metadata?.labels ?? {};
}

/** The merge patch that restarts a workload: `kubectl rollout restart` for apps, `spec.restartAt` for Rollouts. */
export function restartPatch(kind: WorkloadKind, restartedAt: string): object {
  if (kind === 'Rollout') return { spec: { restartAt: restartedAt } };
  return { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAt } } } } };
}

const INJECT_ANNOTATION = 'linkerd.io/inject';

interface TemplateLike {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { containers?: Array<{ name: string }>; initContainers?: Array<{ name: string }> };
}

/**
 * Whether new pods of this workload get a proxy: the template carries one already, or injection is
 * enabled on the template or (`namespaceInject`) on its namespace. Such a workload is tracked even
 * while it has no pods (scaled to zero, or between the pods of a Recreate rollout).
 */
export function meshedTemplate(obj: WorkloadObject, namespaceInject: string | undefined): boolean {
  const template = (obj as { spec?: { template?: TemplateLike } }).spec?.template;
  const inject = template?.metadata?.annotations?.[INJECT_ANNOTATION] ?? namespaceInject;
  if (inject === 'disabled') return false;
  if (inject === 'enabled' || inject === 'ingress') return true;
  return [...(template?.spec?.containers ?? []), ...(template?.spec?.initContainers ?? [])].some((c) => c.name === PROXY_CONTAINER);
}

/**
 * Keeps what the rotator reads, in place: identity, generation, replicas, selector, the template's
 * labels, restart marker, inject annotation and container names, what decides whether a restart
 * replaces the pods (paused, updateStrategy type and partition), and the rollout status.
 */
export function slimWorkload(obj: WorkloadObject): void {
  const meta = obj.metadata ?? {};
  obj.metadata = {
    name: meta.name,
    namespace: meta.namespace,
    resourceVersion: meta.resourceVersion,
    generation: meta.generation,
    ...(meta.labels ? { labels: meta.labels } : {}),
  } as WorkloadObject['metadata'];
  const spec = (obj as { spec?: RolloutObject['spec'] & { template?: TemplateLike } }).spec;
  if (spec) {
    const template = spec.template;
    const annotations: Record<string, string> = {};
    for (const key of [RESTARTED_AT_ANNOTATION, INJECT_ANNOTATION]) {
      const value = template?.metadata?.annotations?.[key];
      if (value !== undefined) annotations[key] = value;
    }
    const names = (list: Array<{ name: string }> | undefined) => list?.map((c) => ({ name: c.name }));
    const containers = names(template?.spec?.containers);
    const initContainers = names(template?.spec?.initContainers);
    const strategy = (obj as V1StatefulSet).spec?.updateStrategy;
    const partition = strategy?.rollingUpdate?.partition;
    (obj as { spec?: unknown }).spec = {
      ...(spec.replicas !== undefined ? { replicas: spec.replicas } : {}),
      ...(spec.restartAt !== undefined ? { restartAt: spec.restartAt } : {}),
      ...(spec.paused !== undefined ? { paused: spec.paused } : {}),
      ...(strategy?.type !== undefined || partition !== undefined
        ? { updateStrategy: { ...(strategy?.type !== undefined ? { type: strategy.type } : {}), ...(partition !== undefined ? { rollingUpdate: { partition } } : {}) } }
        : {}),
      ...(spec.selector ? { selector: spec.selector } : {}),
      template: {
        metadata: {
          ...(template?.metadata?.labels ? { labels: template.metadata.labels } : {}),
          ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
        },
        spec: { ...(containers ? { containers } : {}), ...(initContainers ? { initContainers } : {}) },
      },
    };
  }
  const status = obj.status as Record<string, unknown> | undefined;
  if (status) delete status['conditions'];
}
