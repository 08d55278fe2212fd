// KubeWorkloadRestarts when the runner restarts one action's workloads concurrently: the shared-budget
// rule (one workload at a time under a PodDisruptionBudget this run restarted) still holds, through the
// real adapter's caches; only the API server's patch answers are held back by the test.
import type { V1Deployment, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
import type { WorkloadRef } from '@linkerd-rotator/rotation';
import { createRotationAdapter, type RotationAdapter } from '../src/rotation/adapter.js';
import { eventually } from './support.js';

/** A KubeConfig whose server nothing answers: every request but the patches the test serves would fail. */
function unreachable(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'none', server: 'http://127.0.0.1:9', skipTLSVerify: true }],
    users: [{ name: 'tester', token: 'token' }],
    contexts: [{ name: 'none', cluster: 'none', user: 'tester' }],
    currentContext: 'none',
  });
  return kc;
}

let version = 100;
const deployment = (name: string, app: string, rollout: { generation: number; observed: number }): V1Deployment => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: 'shop', generation: rollout.generation, resourceVersion: String(++version) },
  spec: { replicas: 2, selector: { matchLabels: { app } }, template: { metadata: { labels: { app } }, spec: { containers: [{ name: app, image: 'example.invalid/app:1' }] } } },
  status: { observedGeneration: rollout.observed, replicas: 2, updatedReplicas: 2, readyReplicas: 2 },
});
const budget: V1PodDisruptionBudget = {
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: { name: 'web', namespace: 'shop', generation: 1, resourceVersion: '1' },
  spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } },
  status: { observedGeneration: 1, currentHealthy: 4, desiredHealthy: 1, disruptionsAllowed: 3, expectedPods: 4 },
};
const ref = (name: string): WorkloadRef => ({ kind: 'Deployment', namespace: 'shop', name });

/** The patches the API server has received and not yet answered, answered when the test says so. */
function heldPatches(adapter: RotationAdapter) {
  const pending = new Map<string, () => void>();
  const order: string[] = [];
  let maxInFlight = 0;
  const apps = adapter.context.apps;
  apps.patchNamespacedDeployment = (async (param: { name: string; namespace: string }) => {
    order.push(param.name);
    await new Promise<void>((resolve) => {
      pending.set(param.name, resolve);
      maxInFlight = Math.max(maxInFlight, pending.size);
    });
    pending.delete(param.name);
    const current = adapter.cache.deployments.get(param.namespace, param.name)!;
    const generation = (current.metadata?.generation ?? 0) + 1;
    // As the API server answers a template change: a new generation the controller has not observed yet.
    return deployment(param.name, current.spec!.template.metadata!.labels!['app']!, { generation, observed: generation - 1 });
  }) as typeof apps.patchNamespacedDeployment;
  return {
    order,
    inFlight: () => [...pending.keys()].sort(),
    get maxInFlight() {
      return maxInFlight;
    },
    answer: (name: string) => pending.get(name)!(),
  };
}

describe('KubeWorkloadRestarts, restarts of one action run concurrently', () => {
  let adapter: RotationAdapter;

  beforeEach(() => {
    adapter = createRotationAdapter(unreachable(), { names, stateNamespace: names.releaseNamespace, instance: 'test', apiTimeoutMs: 2_000, budgetTimeoutMs: 10_000 });
    const { cache } = adapter;
    cache.budgets.remember(structuredClone(budget));
    for (const [name, app] of [['web-a', 'web'], ['web-b', 'web'], ['web-c', 'web'], ['api', 'api']] as const) cache.deployments.remember(deployment(name, app, { generation: 1, observed: 1 }));
  });

  it('patches one workload at a time under a shared budget (the next once the first has rolled), the others at once', async () => {
    const patches = heldPatches(adapter);
    const restarts = adapter.restarts;
    const hold = restarts.hold.bind(restarts);
    const holds: string[] = [];
    restarts.hold = (r, obj) => {
      const found = hold(r, obj);
      if (found) holds.push(`${r.name}: ${found.why}`);
      return found;
    };
    const at = '2026-12-06T12:00:00Z';
    const all = Promise.all(['web-a', 'web-b', 'api', 'web-c'].map((name) => restarts.restart(ref(name), at)));
    // web-b and web-c share web-a's budget: held while web-a's patch is in flight; api has no budget.
    await eventually(() => patches.inFlight().length === 2, 'two patches in flight');
    expect(patches.inFlight()).toEqual(['api', 'web-a']);
    expect([...new Set(holds)]).toEqual(['web-b', 'web-c'].map((name) => `${name}: Deployment/shop/web-a, under the same budget, is being restarted`));
    patches.answer('api');
    patches.answer('web-a');
    // web-a now rolls (generation 2, not observed): web-b, woken by the answer, is held again.
    const rolling = 'web-b: Deployment/shop/web-a, under the same budget, is still rolling (2/2 ready)';
    await eventually(() => holds.includes(rolling), 'web-b held again while web-a rolls');
    expect(patches.order).toEqual(['web-a', 'api']);
    // The deployment controller finishes web-a's rollout; the watch delivers it. It wakes web-b and
    // web-c alike: one goes ahead, the other is held by it.
    adapter.cache.deployments.remember(deployment('web-a', 'web', { generation: 2, observed: 2 }));
    await eventually(() => patches.inFlight().length === 1, 'the next patch under the budget');
    const [second] = patches.inFlight() as [string];
    const third = second === 'web-b' ? 'web-c' : 'web-b';
    await eventually(() => holds.includes(`${third}: Deployment/shop/${second}, under the same budget, is being restarted`), `${third} held by ${second}`);
    expect(patches.inFlight()).toEqual([second]);
    patches.answer(second);
    await eventually(() => holds.includes(`${third}: Deployment/shop/${second}, under the same budget, is still rolling (2/2 ready)`), `${third} held while ${second} rolls`);
    adapter.cache.deployments.remember(deployment(second, 'web', { generation: 2, observed: 2 }));
    await eventually(() => patches.inFlight().join() === third, `${third}'s patch`);
    patches.answer(third);
    expect(await all).toEqual(['restarted', 'restarted', 'restarted', 'restarted']);
    expect(patches.order).toEqual(['web-a', 'api', second, third]);
    expect(patches.maxInFlight).toBe(2);
    expect(restarts.heldMs).toBeGreaterThan(0);
  });

  it('a failed patch under a shared budget wakes the restart it held, which then goes ahead', async () => {
    const patches = heldPatches(adapter);
    const apps = adapter.context.apps;
    const served = apps.patchNamespacedDeployment.bind(apps);
    apps.patchNamespacedDeployment = (async (param: { name: string; namespace: string }, options?: unknown) => {
      if (param.name !== 'web-a') return served(param as never, options as never);
      throw Object.assign(new Error('HTTP-Code: 422'), { code: 422, body: JSON.stringify({ kind: 'Status', message: 'admission webhook denied the request' }) });
    }) as typeof apps.patchNamespacedDeployment;
    const at = '2026-12-06T12:00:00Z';
    const a = adapter.restarts.restart(ref('web-a'), at);
    const b = adapter.restarts.restart(ref('web-b'), at);
    await expect(a).rejects.toThrow(/patch deployments\.apps shop\/web-a.*admission webhook denied the request/);
    await eventually(() => patches.inFlight().length === 1, "web-b's patch once web-a's failed");
    patches.answer('web-b');
    expect(await b).toBe('restarted');
  });
});
