// rollStatus: tier order, concurrency bound, restart detection, scaled-to-zero, deleted owners, blockers.
// Freshness is a stub here so only the rollout logic is under test.
import { workloadKey, type MeshedPod } from '../src/index.js';
import { cannotRestart, rollStatus, type Freshness } from '../src/workloads.js';
import { pod, snapshot, T0, workload } from './builders.js';

/** Pods named "*-old*" are stale; everything else is fresh. */
const byName: Freshness = (p: MeshedPod) => (p.name.includes('old') ? { fresh: false, why: 'is old' } : { fresh: true });
const BASE = T0 - 1000;

describe('rollStatus', () => {
  it('rolls the control plane, then extensions, then the data plane', () => {
    const s = snapshot({
      pods: [
        pod('web-old', { owner: ['Deployment', 'web'] }),
        pod('viz-old', { namespace: 'linkerd-viz', owner: ['Deployment', 'viz'], tier: 'extension' }),
        pod('dest-old', { namespace: 'linkerd', owner: ['Deployment', 'dest'], tier: 'control-plane' }),
      ],
      workloads: [
        workload('Deployment', 'web'),
        workload('Deployment', 'viz', { namespace: 'linkerd-viz', tier: 'extension' }),
        workload('Deployment', 'dest', { namespace: 'linkerd', tier: 'control-plane' }),
      ],
    });
    const status = rollStatus(s, { fresh: byName, baseline: BASE, maxConcurrent: 10 });
    expect(status.tier).toBe('control-plane');
    expect(status.toRoll.map(workloadKey)).toEqual(['Deployment/linkerd/dest']);
    expect(status.needsRoll.map(workloadKey)).toEqual(['Deployment/linkerd/dest', 'Deployment/linkerd-viz/viz', 'Deployment/app/web']);
  });

  it('waits for an earlier tier to finish before starting the next', () => {
    const s = snapshot({
      pods: [pod('dest-old', { namespace: 'linkerd', owner: ['Deployment', 'dest'], tier: 'control-plane' }), pod('web-old', { owner: ['Deployment', 'web'] })],
      workloads: [workload('Deployment', 'dest', { namespace: 'linkerd', tier: 'control-plane', restartedAt: T0 }), workload('Deployment', 'web')],
    });
    const status = rollStatus(s, { fresh: byName, baseline: BASE, maxConcurrent: 10 });
    expect(status.inProgress.map(workloadKey)).toEqual(['Deployment/linkerd/dest']);
    expect(status.toRoll).toEqual([]);
  });

  it('never has more than maxConcurrent rollouts unfinished', () => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const s = snapshot({
      pods: names.map((n) => pod(`${n}-old`, { owner: ['Deployment', n] })),
      workloads: names.map((n, i) => workload('Deployment', n, i === 0 ? { restartedAt: T0 } : {})),
    });
    const status = rollStatus(s, { fresh: byName, baseline: BASE, maxConcurrent: 3 });
    expect(status.inProgress).toHaveLength(1);
    expect(status.toRoll.map((r) => r.name)).toEqual(['b', 'c']);
    expect(rollStatus(s, { fresh: byName, baseline: BASE, maxConcurrent: 1 }).toRoll).toEqual([]);
  });

  it('counts a restart observed on the workload even if the state never recorded it', () => {
    const s = snapshot({ pods: [pod('web-new')], workloads: [workload('Deployment', 'web', { restartedAt: T0 })] });
    expect(rollStatus(s, { fresh: byName, baseline: BASE, maxConcurrent: 5 })).toMatchObject({ rolled: [{ name: 'web' }], complete: true });
  });

  it('does not count a restart from before the baseline', () => {
    const s = snapshot({ pods: [pod('web-old', { owner: ['Deployment', 'web'] })], workloads: [workload('Deployment', 'web', { restartedAt: BASE - 1 })] });
    expect(rollStatus(s, { fresh: byName, baseline: BASE, maxConcurrent: 5 }).toRoll.map((r) => r.name)).toEqual(['web']);
  });

  it('has nothing to roll for a workload scaled to zero', () => {
    const s = snapshot({ workloads: [workload('Deployment', 'idle', { replicas: 0 })] });
    expect(rollStatus(s, { fresh: byName, baseline: BASE, maxConcurrent: 5 })).toMatchObject({ toRoll: [], needsRoll: [], complete: true });
  });

  it('keeps a rollout in progress until every pod is fresh and Ready and the controller caught up', () => {
    const base = { restartedAt: T0 };
    const notReady = snapshot({ pods: [pod('web-new', { ready: false })], workloads: [workload('Deployment', 'web', base)] });
    expect(rollStatus(notReady, { fresh: byName, baseline: BASE, maxConcurrent: 5 })).toMatchObject({ complete: false, inProgress: [{ name: 'web' }] });
    const lagging = snapshot({ pods: [pod('web-new')], workloads: [workload('Deployment', 'web', { ...base, generation: 3, observedGeneration: 2 })] });
    expect(rollStatus(lagging, { fresh: byName, baseline: BASE, maxConcurrent: 5 }).complete).toBe(false);
  });

  it('reports a stuck not-Ready pod as pending, without restarting it again', () => {
    const s = snapshot({ pods: [pod('web-new', { ready: false })], workloads: [workload('Deployment', 'web', { readyReplicas: 0 })] });
    const status = rollStatus(s, { fresh: byName, baseline: BASE, maxConcurrent: 5 });
    expect(status).toMatchObject({ complete: false, toRoll: [] });
    expect(status.pending.map((p) => `${p.pod.name} ${p.why}`)).toEqual(['web-new is not Ready']);
  });

  it('waits for pods of a deleted workload to go away without trying to restart it', () => {
    const s = snapshot({ pods: [pod('gone-old', { owner: ['Deployment', 'gone'] })] });
    expect(rollStatus(s, { fresh: byName, baseline: BASE, maxConcurrent: 5 })).toMatchObject({ toRoll: [], complete: false, blockers: [] });
  });

  it('never restarts bare, Job or foreign-owned pods: stale ones are blockers with advice', () => {
    const s = snapshot({
      pods: [
        pod('debug-old', { owner: null }),
        pod('migrate-old', { owner: ['Job', 'migrate'] }),
        pod('thing-old', { owner: ['Other', 'my-operator'] }),
        pod('fine', { owner: null }),
      ],
    });
    const status = rollStatus(s, { fresh: byName, baseline: BASE, maxConcurrent: 5 });
    expect(status.toRoll).toEqual([]);
    expect(status.blockers.map((b) => b.owner)).toEqual(['bare', 'Job', 'Other']);
    expect(status.blockers[0]?.message).toMatch(/bare pod app\/debug-old is old; the rotator never restarts bare pods: delete it/);
    expect(status.blockers[1]?.message).toMatch(/Job migrate .* Jobs are left to finish: wait for it, or delete the pod/);
  });

  describe('workloads a restart does not replace (issue 14, item 8)', () => {
    const stale = (kind: 'Deployment' | 'StatefulSet' | 'DaemonSet', name: string) => pod(`${name}-old`, { owner: [kind, name] });
    const cases = [
      ['StatefulSet with updateStrategy OnDelete', stale('StatefulSet', 'db'), workload('StatefulSet', 'db', { updateStrategy: 'OnDelete' }), /StatefulSet app\/db uses updateStrategy OnDelete: a restart does not replace its pods; delete its pods one at a time/],
      ['DaemonSet with updateStrategy OnDelete', stale('DaemonSet', 'agent'), workload('DaemonSet', 'agent', { updateStrategy: 'OnDelete' }), /DaemonSet app\/agent uses updateStrategy OnDelete/],
      ['partitioned StatefulSet', stale('StatefulSet', 'db'), workload('StatefulSet', 'db', { partition: 2 }), /StatefulSet app\/db has rollingUpdate.partition 2: a restart does not replace its pods with an ordinal below 2; set the partition to 0/],
      ['paused Deployment', stale('Deployment', 'web'), workload('Deployment', 'web', { paused: true }), /Deployment app\/web is paused: a restart does not roll it; resume it \(kubectl rollout resume deployment\/web -n app\)/],
    ] as const;

    it.each(cases)('names the pods of a %s as blockers, never as a restart or a rollout in progress', (_what, p, w, message) => {
      for (const restartedAt of [undefined, T0]) {
        const status = rollStatus(snapshot({ pods: [p], workloads: [{ ...w, ...(restartedAt ? { restartedAt } : {}) }] }), { fresh: byName, baseline: BASE, maxConcurrent: 5 });
        expect(status).toMatchObject({ toRoll: [], needsRoll: [], inProgress: [], complete: false });
        expect(status.blockers).toEqual([expect.objectContaining({ pod: p.name, owner: w.kind, ownerName: w.name, message: expect.stringMatching(message) })]);
        expect(cannotRestart(status.blockers)).toHaveLength(1);
      }
    });

    it('leaves such a workload alone while its pods are fresh', () => {
      const status = rollStatus(snapshot({ pods: [pod('db-0', { owner: ['StatefulSet', 'db'] })], workloads: [workload('StatefulSet', 'db', { updateStrategy: 'OnDelete' })] }), { fresh: byName, baseline: BASE, maxConcurrent: 5 });
      expect(status).toMatchObject({ blockers: [], complete: true });
    });

    it('still restarts an ordinary RollingUpdate workload (control), and a StatefulSet with partition 0', () => {
      const s = snapshot({
        pods: [stale('Deployment', 'web'), stale('StatefulSet', 'db')],
        workloads: [workload('Deployment', 'web'), workload('StatefulSet', 'db', { partition: 0 })],
      });
      const status = rollStatus(s, { fresh: byName, baseline: BASE, maxConcurrent: 5 });
      expect(status.toRoll.map(workloadKey)).toEqual(['Deployment/app/web', 'StatefulSet/app/db']);
      expect(status.blockers).toEqual([]);
    });

    it('counts pods of an unknown controller (an operator) among those it cannot restart, Job and bare pods not', () => {
      const s = snapshot({ pods: [pod('pg-1-old', { owner: ['Other', 'Cluster/pg'] }), pod('migrate-old', { owner: ['Job', 'migrate'] }), pod('debug-old', { owner: null })] });
      const blockers = rollStatus(s, { fresh: byName, baseline: BASE, maxConcurrent: 5 }).blockers;
      expect(cannotRestart(blockers).map((b) => b.pod)).toEqual(['pg-1-old']);
      expect(cannotRestart(blockers)[0]?.message).toMatch(/owned by Cluster\/pg .* restart its pods through that controller \(or delete them one at a time\)/);
    });
  });
});
