// runRotation on the fake cluster: end-to-end rotation, rerun, Lease, deadlines, kills and interleavings.
// Assertions read the fake's ground truth (proxies' real trust and leaves), not the engine's view.
// The restart protocol's own tests name it; strategy-independent ones run under both strategies.
import { DEFAULT_OBJECT_NAMES } from '@linkerd-rotator/names';
import { plan, resolveOptions, runRotation, workloadKey, type Plan, type ProgressEvent, type RotationPorts, type RunOptions, type Strategy, type WorkloadRef } from '../src/index.js';
import { anchorFp, FakeCluster, sameSet } from './fake-cluster.js';
import { expectCrossSigned, expectRotated, installedBeforePods, killAtEveryCall, RUN, runResuming, storedState, STRATEGIES, STRATEGY_RUNS } from './harness.js';

const A = anchorFp('A');
const B = anchorFp('B');
const C = anchorFp('C');
const MUTATIONS = ['writeState', 'restart', 'writeActiveFromPrepared', 'writePrevious', 'renewPreparedAnchor', 'renewIdentityIssuer', 'discardIssuerRequest', 'recordEvent'];
/** The restart protocol, asked for explicitly (the default is cross-signed). */
const RESTART: Partial<RunOptions> = { strategy: 'restart' };

/** A fake cluster set up for `strategy` (its leaf lifetime), with these settings on top. */
function clusterFor(strategy: Strategy, config: ConstructorParameters<typeof FakeCluster>[0] & { seed: number }): FakeCluster {
  return new FakeCluster({ ...STRATEGY_RUNS[strategy].config, ...config });
}

describe('runRotation on the fake cluster', () => {
  // The cross-signed twin is in cross-signed.spec.ts (no data-plane restart, identity restarted, I1/I2 at every step).
  it('restart: rotates A -> B end to end: new active, bundle {B}, issuer under B, every proxy fresh, I1/I2 at every step', async () => {
    const fake = new FakeCluster({ seed: 11 });
    const events: ProgressEvent[] = [];
    const result = await runRotation(fake.ports(), { ...RUN, ...RESTART }, (e) => events.push(e));
    expect(result).toMatchObject({ outcome: 'done', message: expect.stringMatching(/done: every meshed pod trusts only the new anchors/) });
    expect(expectRotated(fake, A)).toBe(B);
    expect(sameSet(fake.bundleSet() as Set<string>, new Set([B]))).toBe(true);
    const phases = events.flatMap((e) => (e.kind === 'phase' ? [`${e.from}->${e.to}`] : []));
    expect(phases).toEqual(['Idle->Prepare', 'Prepare->TrustBoth', 'TrustBoth->Promote', 'Promote->Retire', 'Retire->Done']);
    expect(fake.recorded.map((e) => e.reason)).toEqual(expect.arrayContaining(['RotationPrepare', 'AnchorPromoted', 'AnchorRetired', 'RotationDone']));
  });

  it('restart: reports progress a person can follow: rolled n/total per phase', async () => {
    const fake = new FakeCluster({ seed: 12 });
    const rolled: string[] = [];
    await runRotation(fake.ports(), { ...RUN, ...RESTART }, (e) => e.kind === 'rolled' && rolled.push(`${e.phase} ${e.rolled}/${e.total}`));
    expect(rolled.filter((r) => r.startsWith('TrustBoth')).at(-1)).toBe('TrustBoth 11/11');
    expect(rolled.filter((r) => r.startsWith('Retire')).at(-1)).toBe('Retire 11/11');
  });

  // cross-signed: plan-vs-run from the start and from each phase is in cross-signed.spec.ts.
  it('restart: restarts exactly what plan predicted, in the same order', async () => {
    const fake = new FakeCluster({ seed: 13 });
    const predicted = plan(fake.snapshot(), storedState(fake), resolveOptions({ start: 'always', ...RESTART }));
    const result = await runRotation(fake.ports(), { ...RUN, ...RESTART });
    expect(result.rolls).toBe(predicted.rolls.total);
    expect(fake.restarts.length).toBe(predicted.rolls.total);
    const order = predicted.steps.flatMap((s) => (s.kind === 'roll' ? (s.workloads ?? []).map((w) => `${w.namespace}/${w.name}`) : []));
    expect(fake.restarts).toEqual(order);
  });

  describe.each(['Prepare', 'TrustBoth', 'Promote', 'Retire'] as const)('restart: from a rotation in %s', (phase) => {
    const rollOrder = (p: Plan) => p.steps.flatMap((s) => (s.kind === 'roll' ? (s.workloads ?? []).map((w) => `${w.namespace}/${w.name}`) : []));
    /** Runs a rotation and plans once, from the stored state and the cluster when `when` first holds. */
    const runPlanningAt = async (seed: number, when: (e: ProgressEvent) => boolean) => {
      const fake = new FakeCluster({ seed });
      let planned: { order: string[]; total: number; from: number; phase: string } | undefined;
      const result = await runRotation(fake.ports(), { ...RUN, ...RESTART }, (e) => {
        if (planned !== undefined || !when(e)) return;
        const p = plan(fake.snapshot(), storedState(fake), resolveOptions({ start: 'always', ...RESTART }));
        planned = { order: rollOrder(p), total: p.rolls.total, from: fake.restarts.length, phase: p.phase };
      });
      expect(result.outcome).toBe('done');
      if (!planned) throw new Error(`expected the run to pass through ${phase}, found it never did`);
      return { fake, planned };
    };

    it('restarts exactly what plan predicted when the phase began, in the same order', async () => {
      const { fake, planned } = await runPlanningAt(40, (e) => e.kind === 'phase' && e.to === phase);
      expect(planned.phase).toBe(phase);
      expect(fake.restarts.slice(planned.from)).toEqual(planned.order);
      expect(planned.total).toBe(planned.order.length);
    });

    if (phase !== 'Prepare') {
      it('restarts exactly what plan predicted in the middle of its restarts', async () => {
        let rolledInPhase = false;
        const { fake, planned } = await runPlanningAt(41, (e) => {
          if (e.kind === 'rolled' && e.phase === phase) rolledInPhase = true;
          return rolledInPhase && e.kind === 'waiting';
        });
        expect(planned.phase).toBe(phase);
        expect(planned.from).toBeGreaterThan(0);
        expect(fake.restarts.slice(planned.from)).toEqual(planned.order);
      });
    }
  });

  it.each(STRATEGIES)('tells a renamed install only about its own objects, in every message of a whole rotation (%s)', async (strategy) => {
    const fake = clusterFor(strategy, { seed: 42 });
    const keys = ['trustRootIssuer', 'preparedAnchorCertificate', 'preparedAnchorSecret', 'activeAnchorSecret', 'previousAnchorSecret', 'identityClusterIssuer', 'issuerCertificate', 'issuerSecret', 'trustRootsConfigMap'] as const;
    const names = { ...DEFAULT_OBJECT_NAMES, ...Object.fromEntries(keys.map((k) => [k, `corp-${k.toLowerCase()}`])) };
    fake.names = names;
    const said: string[] = [];
    const planned = plan(fake.snapshot(), storedState(fake), resolveOptions({ ...STRATEGY_RUNS[strategy].options, start: 'always', names }));
    said.push(...planned.steps.map((s) => s.description));
    const { result } = await runResuming(fake, { ...STRATEGY_RUNS[strategy].options, names }, (e) => {
      if (e.kind === 'action') said.push(e.summary);
      if (e.kind === 'phase') said.push(e.why);
      if (e.kind === 'waiting') said.push(e.gate.summary, ...e.gate.missing, ...e.gate.blockers.map((b) => b.message));
    });
    said.push(result.message, ...fake.recorded.map((e) => e.message));
    expect(result.outcome).toBe('done');
    STRATEGY_RUNS[strategy].expectEnd(fake, A);
    expect(said.filter((m) => /corp-/.test(m)).length).toBeGreaterThan(3);
    const defaults = new RegExp(keys.map((k) => DEFAULT_OBJECT_NAMES[k]).join('|'));
    expect(said.filter((m) => defaults.test(m))).toEqual([]);
  });

  it.each(STRATEGIES)('changes nothing when a finished rotation is run again (I4, %s)', async (strategy) => {
    const fake = clusterFor(strategy, { seed: 14 });
    const { result } = await runResuming(fake, STRATEGY_RUNS[strategy].options);
    expect(result.outcome).toBe('done');
    STRATEGY_RUNS[strategy].expectEnd(fake, A);
    const version = fake.state?.resourceVersion;
    const before = fake.calls.length;
    const again = await runRotation(fake.ports(), { ...RUN, ...STRATEGY_RUNS[strategy].options, start: 'if-due', holder: 'run-2' });
    expect(again).toMatchObject({ outcome: 'done', rolls: 0 });
    expect(again.resumeAt).toBeUndefined();
    expect(fake.state?.resourceVersion).toBe(version);
    expect(fake.calls.slice(before).filter((c) => MUTATIONS.includes(c.name))).toEqual([]);
  });

  it('refuses a second run while another holds the Lease, touching nothing', async () => {
    const fake = new FakeCluster({ seed: 15 });
    fake.lease = { holder: 'someone-else', expiresAt: fake.clock + 30_000 };
    const result = await runRotation(fake.ports(), RUN);
    expect(result).toMatchObject({ outcome: 'refused', reason: 'lease-held', message: expect.stringMatching(/held by someone-else/) });
    expect(fake.calls.filter((c) => MUTATIONS.includes(c.name))).toEqual([]);
    expect(fake.lease?.holder).toBe('someone-else');
  });

  it('refuses to run without a holder identity for the Lease', async () => {
    const fake = new FakeCluster({ seed: 15 });
    await expect(runRotation(fake.ports(), { ...RUN, holder: '' })).rejects.toThrow(/expected a non-empty Lease holder identity/);
    expect(fake.calls).toEqual([]);
  });

  it('stops without writing more when the Lease is taken away mid-run', async () => {
    const fake = new FakeCluster({ seed: 16 });
    let writesAtTheft = -1;
    const result = await runRotation(fake.ports(), RUN, (e) => {
      if (e.kind === 'waiting' && e.gate.name === 'pods-trust-both' && writesAtTheft < 0) {
        fake.lease = { holder: 'thief', expiresAt: fake.clock + 600_000 };
        writesAtTheft = fake.calls.filter((c) => c.name === 'writeState').length;
      }
    });
    expect(result).toMatchObject({ outcome: 'stopped', reason: 'lease-lost' });
    expect(fake.calls.filter((c) => c.name === 'writeState').length).toBe(writesAtTheft);
    expect(fake.active?.fingerprint).toBe(A);
  });

  // The workload stuck in TrustBoth's restarts: restart rolls every workload there; cross-signed only
  // those that trust neither anchor, here the control plane (its ConfigMap trust predates the rotator).
  it.each([
    ['restart', 'app-1', 'svc-0'],
    ['cross-signed', 'linkerd', 'linkerd-destination'],
  ] as const)('stops safely on a missed deadline with the old anchor still active and trusted (I3), then resumes (%s)', async (strategy, namespace, name) => {
    const fake = clusterFor(strategy, { seed: 17 });
    fake.workload(namespace, name).stuck = true;
    const stopped = await runRotation(fake.ports(), { ...RUN, ...STRATEGY_RUNS[strategy].options, gateTimeoutMs: 60_000 });
    expect(stopped).toMatchObject({ outcome: 'stopped', reason: 'deadline', message: expect.stringMatching(new RegExp(`expected gate pods-trust-both to open before the deadline.*${namespace}/${name}`)) });
    const state = storedState(fake);
    expect(state).toMatchObject({ phase: 'Stopped', stopped: { reason: 'deadline', phase: 'TrustBoth', gate: 'pods-trust-both' } });
    expect(fake.active?.fingerprint).toBe(A);
    expect([...(fake.bundleSet() ?? [])]).toContain(A);
    expect(fake.recorded.at(-1)).toMatchObject({ type: 'Warning', reason: 'RotationStopped' });
    expect(fake.violations).toEqual([]);

    fake.workload(namespace, name).stuck = false;
    for (const p of fake.pods) if (p.readyAt === Number.POSITIVE_INFINITY) p.readyAt = fake.clock;
    fake.advance(61_000);
    const resumed = await runResuming(fake, { ...STRATEGY_RUNS[strategy].options, start: 'never' });
    expect(resumed.result.outcome).toBe('done');
    STRATEGY_RUNS[strategy].expectEnd(fake, A);
  });

  it('refuses a damaged state ConfigMap instead of guessing, writing nothing', async () => {
    const fake = new FakeCluster({ seed: 18 });
    fake.state = { data: { 'state.json': '{"version":1,"phase":"Promote"' }, resourceVersion: '7' };
    const result = await runRotation(fake.ports(), RUN);
    expect(result).toMatchObject({ outcome: 'stopped', reason: 'state-invalid' });
    expect(fake.state.resourceVersion).toBe('7');
  });

  it('stops on a resourceVersion conflict (someone else wrote the state)', async () => {
    const fake = new FakeCluster({ seed: 19 });
    let bumped = false;
    const result = await runRotation(fake.ports(), RUN, (e) => {
      if (e.kind === 'waiting' && !bumped && fake.state) {
        bumped = true;
        fake.state = { ...fake.state, resourceVersion: 'foreign' };
      }
    });
    expect(result).toMatchObject({ outcome: 'stopped', reason: 'state-conflict' });
    expect(fake.state?.resourceVersion).toBe('foreign');
  });

  it('restart: gentle mode restarts only the identity controller after promotion, then waits one leaf lifetime', async () => {
    const lifetime = 10 * 60_000;
    const fake = new FakeCluster({ seed: 20, leafLifetimeMs: lifetime });
    const byPhase: Record<string, number> = {};
    const result = await runRotation(fake.ports(), { ...RUN, ...RESTART, gentle: true, leafLifetimeMs: lifetime, clockSkewMs: 1000 }, (e) => {
      if (e.kind === 'rolled') byPhase[e.phase] = (byPhase[e.phase] ?? 0) + e.restarted.length;
    });
    expect(result.outcome).toBe('done');
    expect(byPhase).toEqual({ TrustBoth: 11, Promote: 1, Retire: 11 });
    expectRotated(fake, A);
  });

  it.each(STRATEGIES)('survives an identity replica that misses the issuer update (linkerd2#15109, %s)', async (strategy) => {
    const fake = clusterFor(strategy, { seed: 21, identityReplicas: 3 });
    let deafened = false;
    const { result } = await runResuming(fake, STRATEGY_RUNS[strategy].options, (e) => {
      if (e.kind === 'phase' && e.to === 'Promote' && !deafened) {
        deafened = true;
        fake.deafenIdentityReplica();
      }
    });
    expect([deafened, result.outcome]).toEqual([true, 'done']);
    STRATEGY_RUNS[strategy].expectEnd(fake, A);
  });

  it('restart: holds at TrustBoth for a bare pod that trusts only A, naming it; continues once it is deleted', async () => {
    const fake = new FakeCluster({ seed: 22 });
    fake.addBarePod('app-0', 'debug-shell');
    const blocked = await runRotation(fake.ports(), { ...RUN, ...RESTART, gateTimeoutMs: 120_000 });
    expect(blocked).toMatchObject({ outcome: 'stopped', reason: 'deadline', message: expect.stringMatching(/bare pod app-0\/debug-shell/) });
    expect(fake.active?.fingerprint).toBe(A);
    fake.pods = fake.pods.filter((p) => p.name !== 'debug-shell');
    fake.advance(61_000);
    expect((await runRotation(fake.ports(), { ...RUN, ...RESTART, holder: 'run-2', start: 'never' })).outcome).toBe('done');
    expectRotated(fake, A);
  });

  it('cross-signed: a bare pod that trusts only A follows B through X; the next rotation holds at TrustBoth for it, naming it, until it is deleted', async () => {
    const cross = STRATEGY_RUNS['cross-signed'].options;
    const fake = clusterFor('cross-signed', { seed: 22 });
    fake.addBarePod('app-0', 'debug-shell');
    const first = await runResuming(fake, { ...cross, gateTimeoutMs: 120_000 });
    expect(first.result.outcome).toBe('done');
    expectCrossSigned(fake, A);
    const bare = () => fake.pods.filter((p) => p.name === 'debug-shell').map((p) => [p.trust.has(A), p.trust.has(B), p.leaf?.anchor]);
    expect(bare()).toEqual([[true, false, B]]);

    // B -> C: the bare pod trusts neither B nor C, so it must go before C is promoted, and the rotator cannot restart it.
    fake.advance(60_000);
    const blocked = await runRotation(fake.ports(), { ...RUN, ...cross, holder: 'run-c', start: 'always', gateTimeoutMs: 120_000 });
    expect(blocked).toMatchObject({ outcome: 'stopped', reason: 'deadline', message: expect.stringMatching(/bare pod app-0\/debug-shell/) });
    expect(storedState(fake).stopped).toMatchObject({ phase: 'TrustBoth', gate: 'pods-trust-both' });
    expect(fake.active?.fingerprint).toBe(B);
    fake.pods = fake.pods.filter((p) => p.name !== 'debug-shell');
    fake.advance(61_000);
    expect((await runResuming(fake, { ...cross, start: 'never' })).result.outcome).toBe('done');
    expect(expectCrossSigned(fake, B)).toBe(C);
  });

  it.each(STRATEGIES)('lets a Job pod with a stale bundle finish, then carries on (%s)', async (strategy) => {
    const fake = clusterFor(strategy, { seed: 23 });
    fake.addJobPod('app-0', 'migrate', 90_000);
    const { result } = await runResuming(fake, STRATEGY_RUNS[strategy].options);
    expect(result.outcome).toBe('done');
    expect(fake.restarts.some((r) => r.includes('migrate'))).toBe(false);
    STRATEGY_RUNS[strategy].expectEnd(fake, A);
  });

  // Renewed mid-TrustBoth: under restart after its first restarts; under cross-signed, installed before
  // the pods, TrustBoth restarts nothing, so while it waits. B's key is gone: neither B nor C may be promoted early.
  it.each([
    { strategy: 'restart', seed: 24, installedFirst: false, during: (e: ProgressEvent) => e.kind === 'rolled' && e.phase === 'TrustBoth', restarts: undefined },
    { strategy: 'cross-signed', seed: 57, installedFirst: true, during: (e: ProgressEvent) => e.kind === 'waiting' && e.gate.phase === 'TrustBoth', restarts: ['linkerd/linkerd-identity'] },
  ] as const)('retargets to C when cert-manager renews again during TrustBoth, never promoting B or C early ($strategy)', async ({ strategy, seed, installedFirst, during, restarts }) => {
    const fake = clusterFor(strategy, { seed });
    if (installedFirst) installedBeforePods(fake);
    let renewed = false;
    const phases: string[] = [];
    const promoted: string[] = [];
    const { result } = await runResuming(fake, STRATEGY_RUNS[strategy].options, (e) => {
      if (e.kind === 'phase') phases.push(`${e.from}->${e.to}`);
      if (e.kind === 'action' && e.action.kind === 'write-active-anchor') promoted.push(fake.labelOf(e.action.fingerprint));
      if (during(e) && !renewed) {
        renewed = true;
        fake.renewPreparedExternally();
      }
    });
    expect(result.outcome).toBe('done');
    expect(phases).toContain('TrustBoth->TrustBoth');
    expect(promoted).toEqual(['C']);
    expect(STRATEGY_RUNS[strategy].expectEnd(fake, A)).toBe(C);
    expect(storedState(fake).rotation).toBeUndefined();
    if (restarts) expect(fake.restarts).toEqual(restarts);
  });

  it.each(STRATEGIES)('finishes with B when cert-manager renews C after promotion; C is trusted and waits for the next run (%s)', async (strategy) => {
    const fake = clusterFor(strategy, { seed: 25 });
    const { expectEnd, options } = STRATEGY_RUNS[strategy];
    let renewed = false;
    await runResuming(fake, options, (e) => {
      if (e.kind === 'phase' && e.to === 'Retire' && !renewed) {
        renewed = true;
        fake.renewPreparedExternally();
        fake.advance(5000);
      }
    });
    expect(renewed).toBe(true);
    expect(expectEnd(fake, A)).toBe(B);
    expect(sameSet(fake.bundleSet() as Set<string>, new Set([B, C]))).toBe(true);
    const next = await runResuming(fake, { ...options, start: 'if-due' });
    expect(next.result.outcome).toBe('done');
    expect(expectEnd(fake, B)).toBe(C);
  });

  describe('restart: the restarts of one roll action', () => {
    /** Lets the event loop turn `n` times: a restart in flight for that long, no clock involved. */
    const turns = async (n: number) => {
      for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    };
    /**
     * The fake's ports with `workloads.restart` recording its calls in flight; the k-th call (from 0)
     * stays in flight `delay(k)` turns after the fake restarted the workload, or fails when `fail(k)`.
     */
    const recording = (fake: FakeCluster, opts: { delay: (k: number) => number; fail?: (k: number) => boolean }) => {
      const ports = fake.ports();
      const log: string[] = [];
      let inFlight = 0;
      let calls = 0;
      const seen = { maxInFlight: 0, log };
      const restart = async (ref: WorkloadRef, restartedAt: string) => {
        const k = calls++;
        inFlight++;
        seen.maxInFlight = Math.max(seen.maxInFlight, inFlight);
        log.push(`start ${k}`);
        try {
          if (opts.fail?.(k)) {
            await turns(1);
            throw new Error(`patch deployments.apps ${workloadKey(ref)}: the API server answered 500`);
          }
          const outcome = await ports.workloads.restart(ref, restartedAt);
          await turns(opts.delay(k));
          return outcome;
        } finally {
          inFlight--;
          log.push(`end ${k}`);
        }
      };
      return { ports: { ...ports, workloads: { restart } } satisfies RotationPorts, seen };
    };
    const rolledOf = (events: ProgressEvent[]) => events.flatMap((e) => (e.kind === 'rolled' ? [`${e.phase} ${e.tier} ${e.rolled}/${e.total}: ${e.restarted.map(workloadKey).join(',')} | ${e.notFound.map(workloadKey).join(',')}`] : []));
    // Every workload of the fake in one action per tier, so that an action holds more than the limit.
    // The first two run whole rotations with real event-loop turns per restart: seconds on a busy machine.
    const WIDE: Partial<RunOptions> = { ...RESTART, maxConcurrentRollouts: 50 };

    it('run concurrently, restartConcurrency at a time and never more; progress lists them in the action\'s order, as one at a time does', async () => {
      const runWith = async (restartConcurrency: number) => {
        const fake = new FakeCluster({ seed: 21 });
        // Later calls finish first: the progress must follow the action, not completion.
        const { ports, seen } = recording(fake, { delay: (k) => 40 - (k % 20) });
        const events: ProgressEvent[] = [];
        const result = await runRotation(ports, { ...RUN, ...WIDE, restartConcurrency }, (e) => events.push(e));
        expect(result.outcome).toBe('done');
        expectRotated(fake, A);
        return { seen, rolled: rolledOf(events), restarts: fake.restarts };
      };
      const three = await runWith(3);
      const one = await runWith(1);
      expect(three.seen.maxInFlight).toBe(3);
      expect(one.seen.maxInFlight).toBe(1);
      expect(three.rolled.length).toBeGreaterThan(0);
      expect(three.rolled).toEqual(one.rolled);
      expect(three.restarts).toEqual(one.restarts);
    }, 30_000);

    it('defaults to 10 at a time', async () => {
      // 12 data-plane workloads: one action of 12, over the default.
      const fake = new FakeCluster({ seed: 21, namespaces: 2, deploymentsPerNamespace: 6 });
      const { ports, seen } = recording(fake, { delay: () => 2 });
      expect((await runRotation(ports, { ...RUN, ...WIDE })).outcome).toBe('done');
      expect(seen.maxInFlight).toBe(10);
    }, 30_000);

    it('a failed restart stops the run as it did one at a time: none starts after it, the ones in flight finish first, and the message names it', async () => {
      const fake = new FakeCluster({ seed: 22 });
      // The data plane's action restarts calls 5 to 10; the second of them fails, the third is slow.
      const failing = 6;
      const { ports, seen } = recording(fake, { delay: (k) => (k === failing + 1 ? 30 : 2), fail: (k) => k === failing });
      const events: string[] = [];
      const result = await runRotation(ports, { ...RUN, ...WIDE, restartConcurrency: 3 }, (e) => e.kind === 'stopped' && events.push(`stopped after ${seen.log.length} entries`));
      expect(result).toMatchObject({ outcome: 'stopped', reason: 'action-failed', message: expect.stringMatching(/expected the cluster call to succeed, found: patch deployments\.apps .*: the API server answered 500; fix the cause and run again to resume/) });
      expect(storedState(fake)).toMatchObject({ phase: 'Stopped', stopped: { reason: 'action-failed' } });
      const log = seen.log;
      const failedAt = log.indexOf(`end ${failing}`);
      expect(log.slice(failedAt).filter((entry) => entry.startsWith('start'))).toEqual([]);
      // The slow one started before the failure and ended after it, before the run stopped.
      expect(log.indexOf(`start ${failing + 1}`)).toBeLessThan(failedAt);
      expect(log.indexOf(`end ${failing + 1}`)).toBeGreaterThan(failedAt);
      expect(events).toEqual([`stopped after ${log.length} entries`]);
      expect(log.filter((entry) => entry.startsWith('start')).length).toBe(log.filter((entry) => entry.startsWith('end')).length);
    });
  });

  it('stops when cert-manager renews without a new key', async () => {
    const fake = new FakeCluster({ seed: 26, rotationPolicy: 'Never' });
    const result = await runRotation(fake.ports(), RUN);
    expect(result).toMatchObject({ outcome: 'stopped', reason: 'prepared-key-unchanged' });
    expect(fake.active?.fingerprint).toBe(A);
  });

  // Mid-TrustBoth restarts: of the data plane under restart; of the control plane under cross-signed, which rolls no data plane.
  it.each([
    ['restart', 'data-plane'],
    ['cross-signed', 'control-plane'],
  ] as const)('takes the issuer auto-renewing during TrustBoth, a namespace deletion and a scale to zero in its stride (%s)', async (strategy, tier) => {
    const fake = clusterFor(strategy, { seed: 27, namespaces: 4 });
    fake.workload('app-2', 'svc-0').replicas = 0;
    let done = false;
    const { result } = await runResuming(fake, STRATEGY_RUNS[strategy].options, (e) => {
      if (e.kind === 'rolled' && e.phase === 'TrustBoth' && e.tier === tier && !done) {
        done = true;
        fake.issuerIssuing = true;
        fake.deleteNamespace('app-3');
      }
    });
    expect([done, result.outcome]).toEqual([true, 'done']);
    expect(fake.workloads.some((w) => w.namespace === 'app-3')).toBe(false);
    STRATEGY_RUNS[strategy].expectEnd(fake, A);
  });
});

// cross-signed makes fewer mutating calls (no data-plane restarts), hence its lower floor.
describe.each([
  ['restart', { seed: 31, atLeast: 31 }],
  ['cross-signed', { seed: 61, atLeast: 21 }],
] as const)('kill -9 at every step, then resume (I4, %s)', (strategy, { seed, atLeast }) => {
  const small = { seed, namespaces: 1, deploymentsPerNamespace: 2, identityReplicas: 1 };
  const { options, expectEnd } = STRATEGY_RUNS[strategy];
  let total = 0;
  beforeAll(async () => {
    const clean = clusterFor(strategy, small);
    await runResuming(clean, options);
    expectEnd(clean, A);
    total = clean.mutatingCalls();
  });

  it('has a meaningful number of steps to kill at', () => {
    expect(total).toBeGreaterThanOrEqual(atLeast);
  });

  for (const mode of ['before', 'after'] as const) {
    it(`ends in the same final state whichever mutating call is killed (${mode} it takes effect)`, async () => {
      const failures = await killAtEveryCall({
        total,
        mode,
        cluster: () => clusterFor(strategy, small),
        options,
        expectEnd: (fake) => expectEnd(fake, A),
      });
      expect(failures).toEqual([]);
    });
  }
});
