// Small builders of snapshots, pods and states for `decide` unit tests, named by anchor labels.
// Anchors "A", "B", "C" get stable fingerprints; bundles are sets of labels.
import {
  initialState,
  resolveOptions,
  type AnchorFacts,
  type BundleFacts,
  type ClusterSnapshot,
  type DecideOptions,
  type MeshedPod,
  type OwnerKind,
  type RotationRecord,
  type RotationState,
  type Tier,
  type WorkloadFacts,
  type WorkloadKind,
} from '../src/index.js';
import { anchorFp, bundleHash, HELM_VALUES_HASH, sha256 } from './fake-cluster.js';

export const T0 = Date.parse('2026-03-01T12:00:00Z');
export const HOUR = 3_600_000;

export const fp = anchorFp;

export function anchor(label: string, opts: { key?: string; notBefore?: number } = {}): AnchorFacts {
  return {
    fingerprint: fp(label),
    publicKeyFingerprint: sha256(`key:${opts.key ?? label}`),
    notBefore: opts.notBefore ?? T0 - 30 * 24 * HOUR,
    notAfter: T0 + 365 * 24 * HOUR,
  };
}

export function hashOf(labels: readonly string[]): string {
  return bundleHash(labels.map(fp));
}

export function bundle(namespace: string, labels: readonly string[]): BundleFacts {
  return { namespace, sha256: hashOf(labels), anchors: labels.map(fp) };
}

export interface PodOptions {
  namespace?: string;
  owner?: [OwnerKind, string] | null;
  tier?: Tier;
  /** Labels of the bundle the injector stamped (ignored for configMapKeyRef pods). */
  trusts?: readonly string[];
  configMap?: boolean;
  startedAt?: number;
  ready?: boolean;
  identity?: boolean;
}

export function pod(name: string, o: PodOptions = {}): MeshedPod {
  const owner = o.owner === null ? undefined : (o.owner ?? ['Deployment', name.replace(/-[^-]+$/, '')]);
  return {
    namespace: o.namespace ?? 'app',
    name,
    ...(owner ? { owner: { kind: owner[0], name: owner[1] } } : {}),
    tier: o.tier ?? 'data-plane',
    identityController: o.identity ?? false,
    trustRootSha256: o.configMap ? HELM_VALUES_HASH : hashOf(o.trusts ?? ['A']),
    trustFromConfigMap: o.configMap ?? false,
    startedAt: o.startedAt ?? T0 - HOUR,
    ready: o.ready ?? true,
  };
}

export function workload(kind: WorkloadKind, name: string, o: Partial<WorkloadFacts> = {}): WorkloadFacts {
  const replicas = o.replicas ?? 1;
  return {
    kind,
    namespace: 'app',
    name,
    tier: 'data-plane',
    replicas,
    readyReplicas: replicas,
    updatedReplicas: replicas,
    generation: 1,
    observedGeneration: 1,
    ...o,
  };
}

/** A quiet cluster on anchor A: prepared = active = previous = A, bundles {A}, issuer under A. */
export function snapshot(o: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  const a = anchor('A');
  return {
    observedAt: T0,
    prepared: { revision: 1, issuing: 'absent', anchor: a },
    active: a,
    previous: a,
    issuer: { fingerprint: sha256('issuer'), chainsTo: fp('A'), notBefore: T0 - HOUR, notAfter: T0 + 47 * HOUR, issuing: 'absent', revision: 1 },
    bundles: [bundle('linkerd', ['A'])],
    injector: { trustRootSha256: hashOf(['A']) },
    pods: [],
    workloads: [],
    identityEvents: [],
    ...o,
  };
}

export function options(o: Partial<DecideOptions> = {}): DecideOptions {
  return resolveOptions(o);
}

/** A state in `phase` rotating A -> B (override the record as needed), with bundles known by label sets. */
export function rotating(phase: RotationState['phase'], r: Partial<RotationRecord> = {}, known: readonly (readonly string[])[] = [['A']]): RotationState {
  const a = anchor('A');
  const b = anchor('B');
  return {
    ...initialState(),
    phase,
    rotation: {
      id: 'rotation-test',
      from: { fingerprint: a.fingerprint, publicKeyFingerprint: a.publicKeyFingerprint },
      ...(phase === 'Prepare' ? {} : { to: { fingerprint: b.fingerprint, publicKeyFingerprint: b.publicKeyFingerprint } }),
      startedAt: new Date(T0 - HOUR).toISOString(),
      phaseStartedAt: new Date(T0 - HOUR).toISOString(),
      preparedRevisionAtStart: 1,
      prepareRequests: 0,
      retargets: [],
      issuerRenewals: 0,
      ...r,
    },
    knownBundles: knownBundles(known),
  };
}

export function knownBundles(sets: readonly (readonly string[])[], syncedAt = T0 - 2 * HOUR): RotationState['knownBundles'] {
  return Object.fromEntries(
    sets.map((labels) => [hashOf(labels), { anchors: labels.map(fp).sort(), firstSeenAt: new Date(syncedAt).toISOString(), syncedAt: new Date(syncedAt).toISOString() }]),
  );
}

/** Snapshot of the cluster mid-TrustBoth: sources {A, B}, bundles and injector synced to {A, B}. */
export function trustBothCluster(o: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  return snapshot({
    prepared: { revision: 2, issuing: 'absent', anchor: anchor('B') },
    bundles: [bundle('linkerd', ['A', 'B']), bundle('linkerd-viz', ['A', 'B'])],
    injector: { trustRootSha256: hashOf(['A', 'B']) },
    ...o,
  });
}

export function iso(t: number): string {
  return new Date(t).toISOString();
}

/** Freezes a value deeply, so a test fails if the code under test mutates its inputs. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
