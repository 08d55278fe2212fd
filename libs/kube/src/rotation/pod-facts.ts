// Meshed pods as the rotation engine sees them: found by their linkerd-proxy container, walked up
// ReplicaSet -> Deployment/Rollout to a restartable owner, with tier, trust source and readiness.
import type { V1Container, V1Namespace, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import type { Fingerprint, MeshedPod, OwnerKind, Tier } from '@linkerd-rotator/rotation';
import {
  CONTROL_PLANE_COMPONENT_LABEL,
  CONTROL_PLANE_NS_LABEL,
  EXTENSION_NS_LABEL,
  PROXY_CONTAINER,
  proxyContainer,
  TRUST_ANCHORS_ENV,
  TRUST_ROOT_ANNOTATION,
} from '../linkerd.js';

export interface PodContext {
  readonly linkerdNamespace: string;
  /** The rotator's own namespace: its pods there are never the engine's to restart or wait on. */
  readonly releaseNamespace: string;
  /** The ReplicaSet `namespace/name`, from the cache (undefined while the cache has not seen it). */
  replicaSet(namespace: string, name: string): V1ReplicaSet | undefined;
  /** Whether a Deployment of that name exists (fallback while a new ReplicaSet is not cached yet). */
  hasDeployment(namespace: string, name: string): boolean;
  namespace(name: string): V1Namespace | undefined;
  /** Fingerprints of the certificates in a literal trust-anchors PEM (cached by the caller). */
  anchorsOf(pem: string): readonly Fingerprint[];
}

export function tierOfNamespace(name: string, ns: V1Namespace | undefined, linkerdNamespace: string): Tier {
  const labels = ns?.metadata?.labels ?? {};
  if (name === linkerdNamespace || labels[CONTROL_PLANE_NS_LABEL] === 'true') return 'control-plane';
  if (labels[EXTENSION_NS_LABEL] !== undefined) return 'extension';
  return 'data-plane';
}

function controllerOf(meta: { ownerReferences?: Array<{ controller?: boolean; kind: string; name: string; apiVersion: string }> } | undefined) {
  const refs = meta?.ownerReferences ?? [];
  return refs.find((r) => r.controller) ?? (refs.length === 1 ? refs[0] : undefined);
}

/** The pod's top owner: a restartable workload, a Job, something else, or none (a bare pod). */
export function ownerOf(pod: V1Pod, ctx: Pick<PodContext, 'replicaSet' | 'hasDeployment'>): MeshedPod['owner'] {
  const ref = controllerOf(pod.metadata);
  if (!ref) return undefined;
  const namespace = pod.metadata?.namespace ?? '';
  switch (ref.kind) {
    case 'StatefulSet':
    case 'DaemonSet':
    case 'Job':
      return { kind: ref.kind, name: ref.name };
    case 'ReplicaSet': {
      const rs = ctx.replicaSet(namespace, ref.name);
      if (rs) {
        const top = controllerOf(rs.metadata);
        if (top?.kind === 'Deployment') return { kind: 'Deployment', name: top.name };
        if (top?.kind === 'Rollout' && top.apiVersion.startsWith('argoproj.io/')) return { kind: 'Rollout', name: top.name };
        return { kind: 'Other', name: top ? `${top.kind}/${top.name}` : `ReplicaSet/${ref.name}` };
      }
      // A ReplicaSet created a moment ago may not be cached yet: a Deployment names its
      // ReplicaSets `<deployment>-<pod-template-hash>`.
      const hash = pod.metadata?.labels?.['pod-template-hash'];
      if (hash && ref.name.endsWith(`-${hash}`)) {
        const deployment = ref.name.slice(0, -hash.length - 1);
        if (ctx.hasDeployment(namespace, deployment)) return { kind: 'Deployment', name: deployment };
      }
      return { kind: 'Other', name: `ReplicaSet/${ref.name}` };
    }
    default:
      return { kind: 'Other' as OwnerKind, name: `${ref.kind}/${ref.name}` };
  }
}

function parseTime(value: Date | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The label every pod of the chart carries (runner, webhook, exporter; charts/linkerd-rotator/templates/_pods.tpl). */
export const ROTATOR_POD_LABEL = { key: 'app.kubernetes.io/part-of', value: 'linkerd-rotator' } as const;

/**
 * The chart's own pods: labelled ROTATOR_POD_LABEL in the release namespace. The chart disables
 * injection on them; should one be meshed anyway, the runner must not wait on its own Job's pod.
 */
function rotatorPod(pod: V1Pod, releaseNamespace: string): boolean {
  return pod.metadata?.namespace === releaseNamespace && pod.metadata.labels?.[ROTATOR_POD_LABEL.key] === ROTATOR_POD_LABEL.value;
}

/**
 * A pod with a linkerd-proxy container that has not terminated, as a MeshedPod; undefined otherwise,
 * and for the rotator's own pods.
 */
export function meshedPodOf(pod: V1Pod, ctx: PodContext): MeshedPod | undefined {
  const proxy = proxyContainer(pod);
  if (!proxy || rotatorPod(pod, ctx.releaseNamespace)) return undefined;
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  const namespace = pod.metadata?.namespace ?? '';
  const name = pod.metadata?.name ?? '';
  const env = proxy.env?.find((e) => e.name === TRUST_ANCHORS_ENV);
  const trustFromConfigMap = env?.valueFrom?.configMapKeyRef !== undefined;
  const literal = env?.value;
  const owner = ownerOf(pod, ctx);
  const startedAt = parseTime(pod.status?.startTime) ?? parseTime(pod.metadata?.creationTimestamp) ?? 0;
  const hash = pod.metadata?.annotations?.[TRUST_ROOT_ANNOTATION];
  return {
    namespace,
    name,
    ...(owner ? { owner } : {}),
    tier: tierOfNamespace(namespace, ctx.namespace(namespace), ctx.linkerdNamespace),
    identityController: namespace === ctx.linkerdNamespace && pod.metadata?.labels?.[CONTROL_PLANE_COMPONENT_LABEL] === 'identity',
    ...(hash ? { trustRootSha256: hash } : {}),
    trustFromConfigMap,
    ...(literal !== undefined && !trustFromConfigMap ? { trustedAnchors: ctx.anchorsOf(literal) } : {}),
    startedAt,
    ready: pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  };
}

const KEPT_POD_ANNOTATIONS = [TRUST_ROOT_ANNOTATION];

function pick(record: Record<string, string> | undefined, keys: readonly string[]): Record<string, string> | undefined {
  if (!record) return undefined;
  const out: Record<string, string> = {};
  for (const key of keys) if (record[key] !== undefined) out[key] = record[key];
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Distinct strings kept once for all cached pods; the oldest goes first when full. */
const INTERN_LIMIT = 10_000;
const interned = new Map<string, string>();

/**
 * One copy of a string many pods repeat (the trust anchors PEM in every injected proxy's env, the
 * trust-root hash, namespaces, label keys and values, owner names): each parsed pod brings its own
 * copy, and the PEM alone is over a kilobyte per pod.
 */
function intern<T extends string | undefined>(value: T): T {
  if (value === undefined) return value;
  const known = interned.get(value);
  if (known !== undefined) return known as T;
  if (interned.size >= INTERN_LIMIT) interned.delete(interned.keys().next().value as string);
  interned.set(value, value);
  return value;
}

function internRecord(record: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!record) return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) out[intern(key)] = intern(value);
  return out;
}

/**
 * Keeps only what `meshedPodOf`, the PodDisruptionBudget check and the cache itself read, in place
 * (the informer's cache holds this object; a second call changes nothing): the cache holds thousands
 * of pods, and the full objects (every container's env, volumes, managed fields) would dominate the
 * runner's memory. Pod labels stay whole: budgets select pods by them. Each part is rebuilt rather
 * than pruned with `delete`, which leaves V8 objects in a slower, larger dictionary form, and the
 * strings pods share are kept once (`intern`). libs/kube/test/pod-footprint.spec.ts guards the
 * bytes kept per pod.
 */
export function slimPod(pod: V1Pod): void {
  const meta = pod.metadata;
  if (meta) {
    const annotations = internRecord(pick(meta.annotations, KEPT_POD_ANNOTATIONS));
    const labels = internRecord(meta.labels);
    pod.metadata = {
      name: meta.name,
      namespace: intern(meta.namespace),
      ...(meta.uid !== undefined ? { uid: meta.uid } : {}),
      ...(meta.resourceVersion !== undefined ? { resourceVersion: meta.resourceVersion } : {}),
      ...(meta.creationTimestamp !== undefined ? { creationTimestamp: meta.creationTimestamp } : {}),
      ...(meta.deletionTimestamp !== undefined ? { deletionTimestamp: meta.deletionTimestamp } : {}),
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
      ...(meta.ownerReferences
        ? { ownerReferences: meta.ownerReferences.map((r) => ({ apiVersion: intern(r.apiVersion), kind: intern(r.kind), name: intern(r.name), uid: intern(r.uid), ...(r.controller !== undefined ? { controller: r.controller } : {}) })) }
        : {}),
    };
  }
  const spec = pod.spec;
  if (spec) {
    const keep = (c: V1Container): V1Container => {
      const trust = c.env?.find((e) => e.name === TRUST_ANCHORS_ENV);
      const env = trust && { name: TRUST_ANCHORS_ENV, ...(trust.value !== undefined ? { value: intern(trust.value) } : {}), ...(trust.valueFrom ? { valueFrom: trust.valueFrom } : {}) };
      return { name: PROXY_CONTAINER, ...(env ? { env: [env] } : {}) } as V1Container;
    };
    const init = (spec.initContainers ?? []).filter((c) => c.name === PROXY_CONTAINER).map(keep);
    pod.spec = { containers: (spec.containers ?? []).filter((c) => c.name === PROXY_CONTAINER).map(keep), ...(init.length > 0 ? { initContainers: init } : {}) };
  }
  const status = pod.status;
  if (status) {
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    pod.status = {
      ...(status.phase ? { phase: intern(status.phase) } : {}),
      ...(status.startTime ? { startTime: status.startTime } : {}),
      ...(ready ? { conditions: [{ type: 'Ready', status: intern(ready.status) }] } : {}),
    };
  }
}

/** Keeps a ReplicaSet's identity and owners only. */
export function slimReplicaSet(rs: V1ReplicaSet): void {
  const meta = rs.metadata ?? {};
  rs.metadata = {
    name: meta.name,
    namespace: meta.namespace,
    resourceVersion: meta.resourceVersion,
    ...(meta.ownerReferences ? { ownerReferences: meta.ownerReferences.map((r) => ({ apiVersion: r.apiVersion, kind: r.kind, name: r.name, uid: r.uid, controller: r.controller })) } : {}),
  } as V1ReplicaSet['metadata'];
  delete rs.spec;
  delete rs.status;
}

/** Keeps a Namespace's name, labels (tiers are chosen by label) and `linkerd.io/inject` annotation. */
export function slimNamespace(ns: V1Namespace): void {
  const meta = ns.metadata ?? {};
  const inject = meta.annotations?.['linkerd.io/inject'];
  ns.metadata = {
    name: meta.name,
    resourceVersion: meta.resourceVersion,
    ...(meta.labels ? { labels: meta.labels } : {}),
    ...(inject !== undefined ? { annotations: { 'linkerd.io/inject': inject } } : {}),
    ...(meta.deletionTimestamp ? { deletionTimestamp: meta.deletionTimestamp } : {}),
  } as V1Namespace['metadata'];
  delete ns.spec;
  delete ns.status;
}
