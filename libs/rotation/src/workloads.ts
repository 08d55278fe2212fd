// Which meshed workloads a phase must restart, in which order, how many at once, and who blocks.
// Pods are judged by a freshness rule per phase; workloads are rolled tier by tier, bounded in number.
import type { Blocker } from './decision.js';
import {
  podKey,
  workloadKey,
  type ClusterSnapshot,
  type EpochMs,
  type MeshedPod,
  type Tier,
  type WorkloadFacts,
  type WorkloadKind,
  type WorkloadRef,
} from './snapshot.js';

export const TIERS: readonly Tier[] = ['control-plane', 'extension', 'data-plane'];

const WORKLOAD_KINDS: readonly string[] = ['Deployment', 'StatefulSet', 'DaemonSet', 'Rollout'];

/** A phase's rule for one pod: fresh, or why not. */
export type Freshness = (pod: MeshedPod) => { readonly fresh: true } | { readonly fresh: false; readonly why: string };

export interface PendingPod {
  readonly pod: MeshedPod;
  readonly why: string;
}

export interface RollStatus {
  /** The tier being rolled; undefined when nothing needs a restart. */
  readonly tier?: Tier;
  /** Workloads to restart now (bounded by free rollout slots, current tier only). */
  readonly toRoll: readonly WorkloadRef[];
  /** Every workload still to restart, in roll order. */
  readonly needsRoll: readonly WorkloadRef[];
  /** Workloads restarted since the baseline whose rollout has not finished. */
  readonly inProgress: readonly WorkloadRef[];
  /** Workloads restarted since the baseline (observed on the workload, so a lost state write still counts). */
  readonly rolled: readonly WorkloadRef[];
  /** Pods that are not fresh, or not Ready, in roll order. */
  readonly pending: readonly PendingPod[];
  readonly blockers: readonly Blocker[];
  readonly totalPods: number;
  /** Every pod fresh and Ready, and no rollout running. */
  readonly complete: boolean;
}

function tierRank(tier: Tier): number {
  return TIERS.indexOf(tier);
}

function compareRefs(a: { tier: Tier; ref: WorkloadRef }, b: { tier: Tier; ref: WorkloadRef }): number {
  return (
    tierRank(a.tier) - tierRank(b.tier) ||
    a.ref.namespace.localeCompare(b.ref.namespace) ||
    a.ref.kind.localeCompare(b.ref.kind) ||
    a.ref.name.localeCompare(b.ref.name)
  );
}

function toRef(w: WorkloadRef): WorkloadRef {
  return { kind: w.kind, namespace: w.namespace, name: w.name };
}

function rolloutFinished(w: WorkloadFacts): boolean {
  return w.observedGeneration >= w.generation && w.updatedReplicas >= w.replicas && w.readyReplicas >= w.replicas;
}

function blockerFor(pod: MeshedPod, why: string): Blocker {
  const base = { namespace: pod.namespace, pod: pod.name };
  const owner = pod.owner;
  if (owner === undefined) {
    return { ...base, owner: 'bare', message: `bare pod ${podKey(pod)} ${why}; the rotator never restarts bare pods: delete it (recreate it from its manifest if it is needed)` };
  }
  if (owner.kind === 'Job') {
    return { ...base, owner: 'Job', ownerName: owner.name, message: `pod ${podKey(pod)} of Job ${owner.name} ${why}; Jobs are left to finish: wait for it, or delete the pod` };
  }
  return {
    ...base,
    owner: 'Other',
    ownerName: owner.name,
    message: `pod ${podKey(pod)} owned by ${owner.name} (not a Deployment, StatefulSet, DaemonSet or Argo Rollout, which the rotator restarts) ${why}; restart its pods through that controller (or delete them one at a time), then run again`,
  };
}

/**
 * Why a restart through the pod template (`restartedAt`) would not replace the workload's pods, with
 * what to do; undefined when it would. Its rollout would otherwise look "in progress" forever.
 */
export function restartIneffective(w: WorkloadFacts): string | undefined {
  const ref = `${w.kind} ${w.namespace}/${w.name}`;
  if (w.updateStrategy === 'OnDelete') {
    return `${ref} uses updateStrategy OnDelete: a restart does not replace its pods; delete its pods one at a time (each comes back with the current trust bundle), or set updateStrategy RollingUpdate, then run again`;
  }
  if (w.partition !== undefined && w.partition > 0) {
    return `${ref} has rollingUpdate.partition ${w.partition}: a restart does not replace its pods with an ordinal below ${w.partition}; set the partition to 0 (or delete those pods one at a time), then run again`;
  }
  if (w.paused === true) {
    return `${ref} is paused: a restart does not roll it; resume it (kubectl rollout resume ${w.kind.toLowerCase()}/${w.name} -n ${w.namespace}), then run again`;
  }
  return undefined;
}

/**
 * The blockers no wait resolves: pods of a workload a restart does not replace and pods of another
 * controller. Job pods finish and bare pods are deleted while the run waits.
 */
export function cannotRestart(blockers: readonly Blocker[]): Blocker[] {
  return blockers.filter((b) => b.owner !== 'Job' && b.owner !== 'bare');
}

interface Group {
  readonly ref: WorkloadRef;
  readonly tier: Tier;
  readonly workload?: WorkloadFacts;
  readonly pods: MeshedPod[];
}

/** Groups meshed pods by restartable owner; pods without one come back separately. */
function groupPods(snapshot: ClusterSnapshot): { groups: Group[]; loose: MeshedPod[] } {
  const byKey = new Map<string, Group>();
  const workloads = new Map(snapshot.workloads.map((w) => [workloadKey(w), w]));
  const loose: MeshedPod[] = [];
  for (const pod of snapshot.pods) {
    const owner = pod.owner;
    if (owner === undefined || !WORKLOAD_KINDS.includes(owner.kind)) {
      loose.push(pod);
      continue;
    }
    const ref: WorkloadRef = { kind: owner.kind as WorkloadKind, namespace: pod.namespace, name: owner.name };
    const key = workloadKey(ref);
    let group = byKey.get(key);
    if (!group) {
      const workload = workloads.get(key);
      group = { ref, tier: workload?.tier ?? pod.tier, pods: [], ...(workload ? { workload } : {}) };
      byKey.set(key, group);
    }
    group.pods.push(pod);
  }
  // A workload restarted in this phase whose pods are all gone (scaled to zero) still matters
  // while its rollout is unfinished.
  for (const w of snapshot.workloads) {
    const key = workloadKey(w);
    if (!byKey.has(key)) byKey.set(key, { ref: toRef(w), tier: w.tier, workload: w, pods: [] });
  }
  const groups = [...byKey.values()].sort(compareRefs);
  loose.sort((a, b) => tierRank(a.tier) - tierRank(b.tier) || podKey(a).localeCompare(podKey(b)));
  return { groups, loose };
}

/** How a phase judges its pods and counts its restarts. */
export interface RollRule {
  /** The phase's rule for one pod (freshness.ts). */
  readonly fresh: Freshness;
  /** Restarts at or after this moment belong to this phase. */
  readonly baseline: EpochMs;
  /** Workloads restarted and unfinished at once, at most. */
  readonly maxConcurrent: number;
}

/**
 * Where a phase's rollout stands: which workloads to restart now (control plane, then extensions,
 * then data plane; never more than `maxConcurrent` unfinished at once), which pods are still pending
 * and which pods the rotator cannot restart.
 */
export function rollStatus(snapshot: ClusterSnapshot, rule: RollRule): RollStatus {
  const { fresh: isFresh, baseline, maxConcurrent } = rule;
  const { groups, loose } = groupPods(snapshot);
  const pending: PendingPod[] = [];
  const blockers: Blocker[] = [];
  const needsRoll: { tier: Tier; ref: WorkloadRef }[] = [];
  const inProgress: { tier: Tier; ref: WorkloadRef }[] = [];
  const rolled: WorkloadRef[] = [];

  for (const group of groups) {
    const verdicts = group.pods.map((pod) => ({ pod, verdict: isFresh(pod) }));
    const stale = verdicts.filter((v) => !v.verdict.fresh);
    const notReady = verdicts.filter((v) => v.verdict.fresh && !v.pod.ready);
    for (const v of stale) pending.push({ pod: v.pod, why: v.verdict.fresh ? '' : v.verdict.why });
    for (const v of notReady) pending.push({ pod: v.pod, why: 'is not Ready' });
    const w = group.workload;
    if (!w) continue; // its owner was deleted (namespace going away): wait for the pods to end
    const ineffective = restartIneffective(w);
    if (ineffective !== undefined) {
      for (const v of stale) blockers.push({ namespace: v.pod.namespace, pod: v.pod.name, owner: w.kind, ownerName: w.name, message: `pod ${podKey(v.pod)} ${v.verdict.fresh ? '' : v.verdict.why}; ${ineffective}` });
      continue;
    }
    const wasRolled = w.restartedAt !== undefined && w.restartedAt >= baseline;
    if (wasRolled) rolled.push(group.ref);
    if (stale.length > 0 && !wasRolled) needsRoll.push({ tier: group.tier, ref: group.ref });
    else if (wasRolled && (stale.length > 0 || notReady.length > 0 || !rolloutFinished(w))) inProgress.push({ tier: group.tier, ref: group.ref });
  }
  for (const pod of loose) {
    const verdict = isFresh(pod);
    if (!verdict.fresh) {
      pending.push({ pod, why: verdict.why });
      blockers.push(blockerFor(pod, verdict.why));
    } else if (!pod.ready) {
      pending.push({ pod, why: 'is not Ready' });
    }
  }

  const busyTier = TIERS.find((t) => needsRoll.some((n) => n.tier === t) || inProgress.some((n) => n.tier === t));
  const slots = Math.max(0, maxConcurrent - inProgress.length);
  const toRoll = needsRoll.filter((n) => n.tier === busyTier).slice(0, slots).map((n) => n.ref);
  return {
    ...(busyTier ? { tier: busyTier } : {}),
    toRoll,
    needsRoll: needsRoll.map((n) => n.ref),
    inProgress: inProgress.map((n) => n.ref),
    rolled,
    pending,
    blockers,
    totalPods: snapshot.pods.length,
    complete: pending.length === 0 && inProgress.length === 0,
  };
}

/** The identity controller's pods and the workloads that own them. */
export function identitySubset(snapshot: ClusterSnapshot): ClusterSnapshot {
  const pods = snapshot.pods.filter((p) => p.identityController);
  const owners = new Set(pods.map((p) => `${p.namespace}/${p.owner?.name ?? ''}`));
  return { ...snapshot, pods, workloads: snapshot.workloads.filter((w) => owners.has(`${w.namespace}/${w.name}`)) };
}
