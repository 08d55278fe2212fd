// WorkloadRestarts: `kubectl rollout restart` by merge patch (Rollouts: `spec.restartAt`), after
// checking the PodDisruptionBudgets that select the workload's pods. A restart is held while a budget
// is already below its healthy minimum, or while another workload under the same budget that this
// run restarted is still rolling or being patched (the runner restarts one action's workloads
// concurrently); the hold is watch-driven and bounded by the phase timeout. The checks read the
// caches only: the patch is the one API request of a restart.
import { PatchStrategy, setHeaderOptions, type V1DaemonSet, type V1Deployment, type V1LabelSelector, type V1PodDisruptionBudget, type V1StatefulSet } from '@kubernetes/client-node';
import type { WorkloadKind, WorkloadRef, WorkloadRestarts } from '@linkerd-rotator/rotation';
import { workloadKey } from '@linkerd-rotator/rotation';
import { erase } from '../collection.js';
import type { ClusterCache } from './cache.js';
import { ARGO_ROLLOUTS, FIELD_MANAGER, type AdapterContext } from './context.js';
import { KubeApiError } from '../errors.js';
import type { KubeClusterReader } from './reader.js';
import { wakeOn } from './wake.js';
import { restartPatch, templateLabels, workloadFactsOf, type RolloutObject, type WorkloadObject } from './workload-facts.js';

/** Kubernetes label-selector semantics (matchLabels and matchExpressions); an empty selector matches all. */
export function selectorMatches(selector: V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

export interface BudgetHold {
  readonly budget: string;
  readonly why: string;
}

const resourceOf: Record<WorkloadKind, string> = {
  Deployment: 'deployments.apps',
  StatefulSet: 'statefulsets.apps',
  DaemonSet: 'daemonsets.apps',
  Rollout: 'rollouts.argoproj.io',
};

export class KubeWorkloadRestarts implements WorkloadRestarts {
  /** Workloads this process restarted, for the shared-budget rule. */
  private readonly restarted = new Map<string, WorkloadRef>();
  /** Workloads whose patch is in flight: under a shared budget they count as rolling. */
  private readonly patching = new Map<string, WorkloadRef>();
  /** Wakes restarts held by the shared-budget rule when a patch settles (a failed one changes no cache). */
  private readonly settled = new Set<() => void>();
  /** Restarts held by a budget, and for how long in all (for the benchmark's gate time). */
  heldMs = 0;

  private readonly cache: ClusterCache;
  private readonly reader: KubeClusterReader;
  /** How long a restart may wait for a budget before the run stops (the phase timeout). */
  private readonly budgetTimeoutMs: number;

  constructor(
    private readonly ctx: AdapterContext,
    parts: { readonly cache: ClusterCache; readonly reader: KubeClusterReader; readonly budgetTimeoutMs: number },
  ) {
    this.cache = parts.cache;
    this.reader = parts.reader;
    this.budgetTimeoutMs = parts.budgetTimeoutMs;
  }

  async restart(ref: WorkloadRef, restartedAt: string): Promise<'restarted' | 'not-found'> {
    const key = workloadKey(ref);
    // Checked again after every wait, and claimed in the same turn: two restarts under one budget
    // woken by the same change must not both go ahead.
    for (let deadline: number | undefined; this.holdNow(ref) !== undefined; ) {
      deadline ??= this.ctx.now() + this.budgetTimeoutMs;
      await this.waitForBudgets(ref, deadline);
    }
    this.patching.set(key, ref);
    try {
      const outcome = await this.patch(ref, restartedAt);
      if (outcome === 'restarted') this.restarted.set(key, ref);
      return outcome;
    } finally {
      this.patching.delete(key);
      for (const wake of this.settled) wake();
    }
  }

  private holdNow(ref: WorkloadRef): BudgetHold | undefined {
    const obj = this.reader.workload(ref.kind, ref.namespace, ref.name);
    return obj ? this.hold(ref, obj) : undefined;
  }

  /** Why a restart of `ref` must wait now, or undefined when its budgets allow it. */
  hold(ref: WorkloadRef, obj: WorkloadObject): BudgetHold | undefined {
    const labels = templateLabels(obj);
    for (const pdb of this.cache.budgets.items()) {
      if (pdb.metadata?.namespace !== ref.namespace || !selectorMatches(pdb.spec?.selector, labels)) continue;
      const name = `PodDisruptionBudget ${ref.namespace}/${pdb.metadata?.name ?? ''}`;
      const below = budgetBelowMinimum(pdb);
      if (below) return { budget: name, why: below };
      for (const other of [...this.patching.values(), ...this.restarted.values()]) {
        if (workloadKey(other) === workloadKey(ref) || other.namespace !== ref.namespace) continue;
        const otherObj = this.reader.workload(other.kind, other.namespace, other.name);
        if (!otherObj || !selectorMatches(pdb.spec?.selector, templateLabels(otherObj))) continue;
        if (this.patching.has(workloadKey(other))) return { budget: name, why: `${workloadKey(other)}, under the same budget, is being restarted` };
        const f = workloadFactsOf(other.kind, otherObj, 'data-plane');
        const finished = f.observedGeneration >= f.generation && f.updatedReplicas >= f.replicas && f.readyReplicas >= f.replicas;
        if (!finished) return { budget: name, why: `${workloadKey(other)}, under the same budget, is still rolling (${f.readyReplicas}/${f.replicas} ready)` };
      }
    }
    return undefined;
  }

  private async waitForBudgets(ref: WorkloadRef, deadline: number): Promise<void> {
    const started = this.ctx.now();
    let last: BudgetHold | undefined;
    this.ctx.logger.info({ workload: workloadKey(ref) }, 'restart held by a PodDisruptionBudget; waiting');
    const patches = { onChange: (wake: () => void) => (this.settled.add(wake), () => void this.settled.delete(wake)) };
    const ok = await wakeOn(
      async () => {
        last = this.holdNow(ref);
        return last === undefined;
      },
      { collections: [...this.cache.forSource('workloads'), ...this.cache.forSource('pods'), erase(this.cache.budgets), patches], deadline, now: this.ctx.now },
    );
    this.heldMs += this.ctx.now() - started;
    if (!ok) {
      throw new KubeApiError(
        'other',
        undefined,
        { verb: 'patch', resource: resourceOf[ref.kind], namespace: ref.namespace, name: ref.name },
        `expected ${last?.budget ?? 'its PodDisruptionBudget'} to allow restarting ${workloadKey(ref)} within ${Math.round(this.budgetTimeoutMs / 1000)}s, found ${last?.why ?? 'it held'}; make the budget's pods healthy (or relax the budget), then run again to resume`,
      );
    }
  }

  private async patch(ref: WorkloadRef, restartedAt: string): Promise<'restarted' | 'not-found'> {
    const { ctx } = this;
    const { namespace, name } = ref;
    const body = restartPatch(ref.kind, restartedAt);
    const op = { verb: 'patch', resource: resourceOf[ref.kind], namespace, name };
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    try {
      const written = await ctx.call(op, (): Promise<WorkloadObject> => {
        switch (ref.kind) {
          case 'Deployment':
            return ctx.apps.patchNamespacedDeployment({ name, namespace, body, fieldManager: FIELD_MANAGER }, merge);
          case 'StatefulSet':
            return ctx.apps.patchNamespacedStatefulSet({ name, namespace, body, fieldManager: FIELD_MANAGER }, merge);
          case 'DaemonSet':
            return ctx.apps.patchNamespacedDaemonSet({ name, namespace, body, fieldManager: FIELD_MANAGER }, merge);
          case 'Rollout':
            return ctx.custom.patchNamespacedCustomObject({ ...ARGO_ROLLOUTS, namespace, name, body, fieldManager: FIELD_MANAGER }, merge) as Promise<RolloutObject>;
        }
      });
      this.remember(ref.kind, written);
      return 'restarted';
    } catch (err) {
      if (err instanceof KubeApiError && err.kind === 'not-found') return 'not-found';
      throw err;
    }
  }

  private remember(kind: WorkloadKind, obj: WorkloadObject): void {
    const c = this.cache;
    if (kind === 'Deployment') c.deployments.remember(obj as V1Deployment);
    else if (kind === 'StatefulSet') c.statefulSets.remember(obj as V1StatefulSet);
    else if (kind === 'DaemonSet') c.daemonSets.remember(obj as V1DaemonSet);
    else c.rollouts?.remember(obj as RolloutObject);
  }
}

/** A budget whose healthy pods are already below its minimum: a restart now would deepen the outage. */
export function budgetBelowMinimum(pdb: V1PodDisruptionBudget): string | undefined {
  const s = pdb.status;
  if (!s) return undefined;
  if ((pdb.metadata?.generation ?? 0) > (s.observedGeneration ?? 0)) return 'its status is not current yet';
  const healthy = s.currentHealthy ?? 0;
  const desired = s.desiredHealthy ?? 0;
  if (healthy < desired) return `only ${healthy} of the ${desired} pods it requires are healthy`;
  return undefined;
}
