// Strategy cross-signed on the fake cluster: webpki-style path building through X decides every
// handshake, so these tests show which restarts X makes unnecessary, and that without X I1 breaks.
// Retargeting, kills at every call and the other strategy-independent runs are in runner.spec.ts, per strategy.
import { expiryMarginOf, plan, resolveOptions, runRotation, type Plan, type ProgressEvent } from '../src/index.js';
import { anchorFp, FakeCluster, type FakeConfig } from './fake-cluster.js';
import { engineChecks, expectCrossSigned, expectRotated, installedBeforePods, LEAF, RUN, runResuming, storedState, STRATEGY_RUNS } from './harness.js';

const A = anchorFp('A');
const B = anchorFp('B');
const C = anchorFp('C');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CROSS = STRATEGY_RUNS['cross-signed'].options;

function cluster(config: Partial<FakeConfig>): FakeCluster {
  const fake = new FakeCluster({ leafLifetimeMs: LEAF, ...config });
  installedBeforePods(fake);
  return fake;
}

/** Workloads restarted, by phase, from the run's progress events. */
function restartsByPhase(): { byPhase: Record<string, string[]>; progress: (e: ProgressEvent) => void } {
  const byPhase: Record<string, string[]> = {};
  return {
    byPhase,
    progress: (e) => {
      if (e.kind === 'rolled') byPhase[e.phase] = [...(byPhase[e.phase] ?? []), ...e.restarted.map((w) => `${w.namespace}/${w.name}`)];
    },
  };
}

describe('strategy cross-signed', () => {
  it('rotates A -> B restarting no data-plane pod, only the identity controller, with I1/I2 at every step', async () => {
    const fake = cluster({ seed: 51 });
    const { byPhase, progress } = restartsByPhase();
    const { reported, observe } = engineChecks(fake, resolveOptions(CROSS));
    const phases: string[] = [];
    const { result, resumes } = await runResuming(fake, CROSS, (e) => {
      progress(e);
      observe(e);
      if (e.kind === 'phase') phases.push(`${e.from}->${e.to}`);
    });
    expect(result).toMatchObject({ outcome: 'done', message: expect.stringMatching(/done \(cross-signed\): every meshed pod trusts an anchor the issuer reaches/) });
    expect(phases).toEqual(['Idle->Prepare', 'Prepare->TrustBoth', 'TrustBoth->Promote', 'Promote->Retire', 'Retire->Done']);
    expect(fake.recorded.map((e) => e.reason)).toEqual(expect.arrayContaining(['RotationPrepare', 'AnchorPromoted', 'AnchorRetired', 'RotationDone']));
    expect(reported).toEqual([]);
    expect(resumes).toBe(1);
    expect(byPhase).toEqual({ Promote: ['linkerd/linkerd-identity'] });
    expect(fake.restarts).toEqual(['linkerd/linkerd-identity']);
    expect(expectCrossSigned(fake, A)).toBe(B);
    // Pods started before the rotation still trust only A and reach B's issuer through X.
    expect(fake.pods.filter((p) => p.tier === 'data-plane' && p.trust.has(A) && !p.trust.has(B)).length).toBeGreaterThan(5);
  });

  it('ends the first run on the long gate old-leaves-expired with exit 0, recording when to resume', async () => {
    const fake = cluster({ seed: 52 });
    const first = await runRotation(fake.ports(), { ...RUN, ...CROSS });
    expect(first).toMatchObject({ outcome: 'done', resumeAt: expect.any(Number), message: expect.stringMatching(/^waiting until .* \(gate old-leaves-expired\)/) });
    const state = storedState(fake);
    expect(state).toMatchObject({ phase: 'Promote', rotation: { strategy: 'cross-signed', identityFreshAt: expect.any(String) } });
    expect(first.resumeAt).toBe(Math.ceil(Date.parse(state.rotation?.identityFreshAt as string) / 1000) * 1000 + LEAF + 1000);
    const early = await runRotation(fake.ports(), { ...RUN, ...CROSS, holder: 'run-2', start: 'never' });
    expect(early.resumeAt).toBe(first.resumeAt);
    expect(storedState(fake).phase).toBe('Promote');
  });

  it('takes cert-manager renewing the identity issuer while the rotation waits on old-leaves-expired: the new issuer carries X too', async () => {
    const fake = cluster({ seed: 62 });
    const first = await runRotation(fake.ports(), { ...RUN, ...CROSS });
    expect(first.message).toMatch(/gate old-leaves-expired/);
    const before = fake.issuer.serial;
    fake.issuerIssuing = true;
    fake.advance(60_000);
    expect(fake.issuer.serial).toBeGreaterThan(before);
    expect([fake.issuer.chainsTo, fake.issuer.via?.anchor]).toEqual([B, A]);
    const { result } = await runResuming(fake, { ...CROSS, start: 'never' });
    expect(result.outcome).toBe('done');
    expect(fake.restarts).toEqual(['linkerd/linkerd-identity']);
    expectCrossSigned(fake, A);
  });

  it('control: the same rotation with X left out of the issuer chain breaks I2 (the fake sees it) and identity rejects the issuer', async () => {
    const fake = cluster({ seed: 51, crossSigning: 'omit-x' });
    const { result } = await runResuming(fake, CROSS);
    expect(fake.violations.length).toBeGreaterThan(0);
    expect(fake.violations[0]).toMatchObject({ invariant: 'I2', detail: expect.stringMatching(/trusts \{A\} but the issuer is issuer \d+ chained to B$/) });
    // Identity started on {A} cannot verify I_B without X, as upstream's controller does not either.
    expect(result).toMatchObject({ outcome: 'stopped', reason: 'identity-rejected-issuer' });
  });

  it('control: without X, an identity controller that already trusts both serves leaves that pods trusting only A reject (I1)', async () => {
    // Installed after the pods: the control plane's trust is unknown, so TrustBoth restarts it onto {A, B}.
    const fake = new FakeCluster({ seed: 51, leafLifetimeMs: LEAF, crossSigning: 'omit-x' });
    await runResuming(fake, CROSS);
    const i1 = fake.violations.filter((v) => v.invariant === 'I1');
    expect(i1.length).toBeGreaterThan(0);
    expect(i1.map((v) => v.detail)).toEqual(expect.arrayContaining([expect.stringMatching(/^app-\d\/svc-\d-\d-\d trusts \{A\} but .* presents a leaf from issuer \d+ chained to B$/)]));
  });

  it('falls back to restart when the active anchor cannot cross-sign, and plan says why', async () => {
    const fake = cluster({ seed: 53, crossSigning: 'unable' });
    const predicted = plan(fake.snapshot(), storedState(fake), resolveOptions({ ...CROSS, start: 'always' }));
    expect(predicted).toMatchObject({ strategy: 'restart', strategyNote: expect.stringMatching(/cannot cross-sign.*anchor expired \(simulated\)/) });
    expect(predicted.summary).toMatch(/strategy restart \(cannot cross-sign/);
    const { result } = await runResuming(fake, CROSS);
    expect(result.outcome).toBe('done');
    expect(storedState(fake).last?.strategy).toBe('restart');
    expect(fake.restarts.length).toBe(predicted.rolls.total);
    expectRotated(fake, A);
  });

  it('falls back to restart at Promote when the old anchor can no longer cross-sign, trusting both again first', async () => {
    const fake = cluster({ seed: 60 });
    const phases: string[] = [];
    const { result } = await runResuming(fake, CROSS, (e) => {
      if (e.kind !== 'phase') return;
      phases.push(`${e.from}->${e.to}`);
      if (e.to === 'Promote') fake.crossSigning = 'unable';
    });
    expect(result.outcome).toBe('done');
    expect(phases).toEqual(['Idle->Prepare', 'Prepare->TrustBoth', 'TrustBoth->Promote', 'Promote->TrustBoth', 'TrustBoth->Promote', 'Promote->Retire', 'Retire->Done']);
    expect(storedState(fake).last?.strategy).toBe('restart');
    expect(fake.recorded.map((e) => e.message).join('\n')).toMatch(/cannot cross-sign with .* any more \(anchor expired \(simulated\)\)/);
    expectRotated(fake, A);
  });

  it('with rollAfterPromote rolls the data plane once at Promote and finishes in one run', async () => {
    const fake = cluster({ seed: 54 });
    const { byPhase, progress } = restartsByPhase();
    const { result, resumes } = await runResuming(fake, { ...CROSS, rollAfterPromote: true }, progress);
    expect([result.outcome, resumes]).toEqual(['done', 0]);
    expect(Object.keys(byPhase)).toEqual(['Promote']);
    expect(new Set(byPhase.Promote).size).toBe(fake.workloads.length);
    expectCrossSigned(fake, A);
  });

  it('A -> B -> C: a workload never restarted in between is restarted exactly once, in C TrustBoth, before C is promoted', async () => {
    const fake = cluster({ seed: 55 });
    const log: string[] = [];
    const progress = (e: ProgressEvent) => {
      if (e.kind === 'rolled') log.push(...e.restarted.map((w) => `${e.phase}:${w.namespace}/${w.name}`));
      if (e.kind === 'action' && e.action.kind === 'write-active-anchor') log.push(`promote:${fake.labelOf(e.action.fingerprint)}`);
    };
    await runResuming(fake, CROSS, progress);
    expectCrossSigned(fake, A);
    fake.advance(60_000);
    const second = await runResuming(fake, { ...CROSS, start: 'always' }, progress);
    expect(second.result.outcome).toBe('done');
    expect(expectCrossSigned(fake, B)).toBe(C);
    const watched = 'app-0/svc-0';
    expect(log.filter((l) => l.endsWith(`:${watched}`))).toEqual([`TrustBoth:${watched}`]);
    expect(log.indexOf(`TrustBoth:${watched}`)).toBeLessThan(log.indexOf('promote:C'));
    expect(log.indexOf(`TrustBoth:${watched}`)).toBeGreaterThan(log.indexOf('promote:B'));
  });

  it('restarts a pod relying on X before A expires, and no other pod', async () => {
    const margin = DAY;
    const fake = cluster({ seed: 56, anchorLifetimeMs: 3 * DAY });
    await runResuming(fake, { ...CROSS, crossSignMarginMs: margin });
    expectCrossSigned(fake, A);
    const aNotAfter = fake.issuer.via?.notAfter as number;
    const reliant = () => [...new Set(fake.pods.filter((p) => p.trust.has(A) && !p.trust.has(B)).map((p) => `${p.namespace}/${p.owner?.name}`))].sort();
    const before = reliant();
    expect(before.length).toBeGreaterThan(5);

    fake.fastForward(aNotAfter - margin - HOUR - fake.clock, 60_000);
    const quiet = await runRotation(fake.ports(), { ...RUN, ...CROSS, crossSignMarginMs: margin, holder: 'early', start: 'never' });
    expect(quiet.outcome).toBe('done');
    const restartsBefore = fake.restarts.length;
    expect(quiet.rolls).toBe(0);

    fake.fastForward(2 * HOUR, 60_000);
    const due = await runRotation(fake.ports(), { ...RUN, ...CROSS, crossSignMarginMs: margin, holder: 'due', start: 'never', gateTimeoutMs: 30 * 60_000 });
    expect(due.outcome).toBe('done');
    expect([...new Set(fake.restarts.slice(restartsBefore))].sort()).toEqual(before);
    fake.advance(5 * 60_000);
    expect(reliant()).toEqual([]);
    const again = await runRotation(fake.ports(), { ...RUN, ...CROSS, crossSignMarginMs: margin, holder: 'again', start: 'never' });
    expect(again.rolls).toBe(0);

    fake.fastForward(aNotAfter + HOUR - fake.clock, 60_000);
    expect(fake.violations).toEqual([]);
  });

  it('restarts the pods relying on X once X ends within the expiry margin, though --cross-sign-margin is shorter (issue 15: a cross-signature pods rely on counts as the active anchor does)', async () => {
    const crossSignMarginMs = 10 * 60_000;
    const options = { ...CROSS, crossSignMarginMs };
    const margin = expiryMarginOf(resolveOptions(options));
    expect(margin).toBeGreaterThan(2 * HOUR);
    const fake = cluster({ seed: 58, anchorLifetimeMs: 3 * DAY });
    await runResuming(fake, options);
    expectCrossSigned(fake, A);
    const xNotAfter = fake.issuer.via?.notAfter as number;
    const reliant = () => [...new Set(fake.pods.filter((p) => p.terminatingAt === undefined && p.trust.has(A) && !p.trust.has(B)).map((p) => `${p.namespace}/${p.owner?.name}`))].sort();
    const before = reliant();
    expect(before.length).toBeGreaterThan(5);

    // Control: outside the expiry margin (and the cross-sign margin), nothing is restarted.
    fake.fastForward(xNotAfter - margin - HOUR - fake.clock, 60_000);
    expect((await runRotation(fake.ports(), { ...RUN, ...options, holder: 'early', start: 'never' })).rolls).toBe(0);

    // Inside the expiry margin, hours before the cross-sign margin opens: every pod relying on X is restarted.
    fake.fastForward(2 * HOUR, 60_000);
    expect(xNotAfter - fake.clock).toBeGreaterThan(crossSignMarginMs + HOUR);
    const restartsBefore = fake.restarts.length;
    const due = await runRotation(fake.ports(), { ...RUN, ...options, holder: 'due', start: 'never', gateTimeoutMs: 30 * 60_000 });
    expect(due.outcome).toBe('done');
    expect([...new Set(fake.restarts.slice(restartsBefore))].sort()).toEqual(before);
    fake.advance(5 * 60_000);
    expect(reliant()).toEqual([]);
    fake.fastForward(xNotAfter + HOUR - fake.clock, 60_000);
    expect(fake.violations).toEqual([]);
  });
});

describe('cross-signed: pods relying on X deployed inside the window', () => {
  it('restarts a pod relying on X whose workload was deployed after the window before X ends opened, but before the rotation ended (its deploy gave it only A)', async () => {
    // The window before X's end (= A's end) is open from the start: the margin is longer than A has left.
    const margin = 4 * DAY;
    const fake = cluster({ seed: 57, anchorLifetimeMs: 3 * DAY });
    const deployed = fake.workloads.find((w) => w.tier === 'data-plane' && w.kind === 'Deployment');
    if (!deployed) throw new Error('expected a data-plane Deployment in the fake');
    fake.deploy(deployed.namespace, deployed.name);
    fake.advance(5 * 60_000);
    const reliant = () => [...new Set(fake.pods.filter((p) => p.terminatingAt === undefined && p.trust.has(A) && !p.trust.has(B)).map((p) => `${p.namespace}/${p.owner?.name}`))].sort();
    expect(reliant()).toContain(`${deployed.namespace}/${deployed.name}`);

    const { result } = await runResuming(fake, { ...CROSS, crossSignMarginMs: margin, gateTimeoutMs: 30 * 60_000 });
    expect(`${result.outcome} ${result.reason ?? ""} ${result.message ?? ""}`).toMatch(/^done/);
    expectCrossSigned(fake, A);
    const after = await runRotation(fake.ports(), { ...RUN, ...CROSS, crossSignMarginMs: margin, holder: 'due', start: 'never', gateTimeoutMs: 30 * 60_000 });
    expect(after.outcome).toBe('done');
    fake.advance(5 * 60_000);
    // The deploy counted as no restart for X: every relying workload, the deployed one too, was restarted.
    expect(fake.restarts).toContain(`${deployed.namespace}/${deployed.name}`);
    expect(reliant()).toEqual([]);
    expect(fake.violations).toEqual([]);
  });
});

describe('cross-signed: plan predicts exactly what a run restarts', () => {
  const rollOrder = (p: Plan) => p.steps.flatMap((s) => (s.kind === 'roll' ? (s.workloads ?? []).map((w) => `${w.namespace}/${w.name}`) : []));

  it.each([
    ['installed before the pods', true],
    ['installed after the pods (unknown control-plane trust)', false],
  ])('from the start, %s', async (_name, installed) => {
    const fake = new FakeCluster({ seed: 58, leafLifetimeMs: LEAF });
    if (installed) installedBeforePods(fake);
    const predicted = plan(fake.snapshot(), storedState(fake), resolveOptions({ ...CROSS, start: 'always' }));
    expect(predicted.strategy).toBe('cross-signed');
    await runResuming(fake, CROSS);
    expect(fake.restarts).toEqual(rollOrder(predicted));
    expectCrossSigned(fake, A);
  });

  it.each(['TrustBoth', 'Promote', 'Retire'] as const)('from the start of %s', async (phase) => {
    const fake = new FakeCluster({ seed: 59, leafLifetimeMs: LEAF });
    let planned: { order: string[]; from: number } | undefined;
    await runResuming(fake, CROSS, (e) => {
      if (planned !== undefined || !(e.kind === 'phase' && e.to === phase)) return;
      const p = plan(fake.snapshot(), storedState(fake), resolveOptions(CROSS));
      expect([p.phase, p.strategy]).toEqual([phase, 'cross-signed']);
      planned = { order: rollOrder(p), from: fake.restarts.length };
    });
    if (!planned) throw new Error(`expected the run to pass through ${phase}, found it never did`);
    expect(fake.restarts.slice(planned.from)).toEqual(planned.order);
  });
});
