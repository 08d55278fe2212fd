// Issue 15, `recover`: phase Recover against the fake cluster, whose proxies verify chains at the
// clock's time (an expired anchor breaks every handshake). The outage is checked first (the control),
// then recovery's order, its end state, and a kill -9 at each of its writes followed by a rerun.
import { diagnoseExpiry, plan, resolveOptions, runRotation, type ProgressEvent, type RunOptions } from '../src/index.js';
import { FakeCluster } from './fake-cluster.js';
import { RUN, runResuming, storedState } from './harness.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const RECOVER: Partial<RunOptions> = { start: 'never', recover: true };

/** Pairs of meshed pods whose handshake fails now: the server's leaf does not verify against the client's anchors. */
function failingHandshakes(fake: FakeCluster): string[] {
  const out: string[] = [];
  for (const client of fake.pods) {
    for (const server of fake.pods) {
      if (server.leaf && !fake.verifies(client.trust, server.leaf.issuer)) out.push(`${client.namespace}/${client.name} -> ${server.namespace}/${server.name}`);
    }
  }
  return out;
}

/** A mesh whose anchor (valid one day, as cert-manager issued it) expired an hour ago; the issuer is still valid. */
function expiredAnchor(): FakeCluster {
  const fake = new FakeCluster({ anchorLifetimeMs: DAY, leafLifetimeMs: 2 * HOUR });
  fake.anchorsEnd = true;
  fake.fastForward(DAY + HOUR, 60_000);
  return fake;
}

/** A mesh whose identity issuer expired an hour ago under a valid anchor. */
function expiredIssuer(): FakeCluster {
  const fake = new FakeCluster({ leafLifetimeMs: 2 * HOUR });
  fake.issuerRenewalStopped = true;
  fake.anchorsEnd = true;
  // the issuer every identity replica and leaf refers to (one object) ends in an hour
  Object.assign(fake.issuer, { notAfter: fake.clock + HOUR });
  fake.fastForward(2 * HOUR + 1000, 60_000);
  return fake;
}

describe('recover: an expired anchor', () => {
  it('control: the outage is real, and a scheduled run (no recover) does not get out of it', async () => {
    const fake = expiredAnchor();
    expect(diagnoseExpiry(fake.snapshot(), resolveOptions({})).case).toBe('anchor-expired');
    expect(failingHandshakes(fake).length).toBeGreaterThan(0);
    await runRotation(fake.ports(), { ...RUN, start: 'never' });
    expect(storedState(fake).phase).not.toBe('Recover');
    expect(failingHandshakes(fake).length).toBeGreaterThan(0);
  });

  it('replaces the anchor, renews the issuer, restarts identity first, then the control plane, extensions and data plane; every pod trusts only the new anchor', async () => {
    const fake = expiredAnchor();
    const from = fake.active?.fingerprint as string;
    const phases: string[] = [];
    const result = await runRotation(fake.ports(), { ...RUN, ...RECOVER }, (e: ProgressEvent) => void (e.kind === 'phase' && phases.push(`${e.from}->${e.to}`)));
    expect([result.outcome, result.message]).toEqual(['done', expect.stringMatching(/^recovery \(anchor-expired\) done: [0-9a-f]{16} replaced [0-9a-f]{16}/)]);
    const to = fake.active?.fingerprint as string;
    expect(to).not.toBe(from);
    expect(phases[0]).toBe('Idle->Recover');
    expect(phases.at(-1)).toBe('Recover->Done');
    expect(storedState(fake)).toMatchObject({ phase: 'Done', last: { from, to, strategy: 'restart' } });
    expect(storedState(fake).rotation).toBeUndefined();
    // the bundle is exactly the new anchor; the issuer chains to it
    expect([...(fake.bundleSet() ?? [])]).toEqual([to]);
    expect(fake.previous?.fingerprint).toBe(to);
    expect(fake.issuer.chainsTo).toBe(to);
    // identity first, then the rest of the control plane, then extensions, then the data plane
    const tierOf = (key: string) => (key === 'linkerd/linkerd-identity' ? 0 : key.startsWith('linkerd/') ? 1 : key.startsWith('linkerd-viz/') ? 2 : 3);
    const order = fake.restarts.map(tierOf);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(order[0]).toBe(0);
    expect(new Set(fake.restarts).size).toBe(fake.workloads.length);
    expect(fake.unsettledPods(new Set([to]), to)).toEqual([]);
    expect(failingHandshakes(fake)).toEqual([]);
    // rerunning changes nothing (I4), and the mesh is healthy again
    const calls = fake.calls.length;
    expect((await runRotation(fake.ports(), { ...RUN, ...RECOVER })).outcome).toBe('done');
    expect(fake.calls.slice(calls).filter((c) => c.mutating && c.name !== 'acquireLease').map((c) => c.name)).toEqual([]);
    expect(diagnoseExpiry(fake.snapshot(), resolveOptions({})).case).toBe('healthy');
  });

  it('asks cert-manager for a new anchor only when the prepared one is not valid with a new key', async () => {
    const fake = expiredAnchor();
    await runRotation(fake.ports(), { ...RUN, ...RECOVER });
    expect(fake.calls.filter((c) => c.name === 'renewPreparedAnchor')).toHaveLength(1);
    const waiting = expiredAnchor();
    waiting.renewPreparedExternally();
    waiting.advance(5000);
    const before = waiting.prepared.anchor?.fingerprint;
    await runRotation(waiting.ports(), { ...RUN, ...RECOVER });
    expect(waiting.calls.filter((c) => c.name === 'renewPreparedAnchor')).toHaveLength(0);
    expect(waiting.active?.fingerprint).toBe(before);
  });

  it('discards the issuer request cert-manager signed with the dead anchor (the webhook refuses to store it, so Issuing=True never ends), once the new anchor is active', async () => {
    // As on the local cluster (e2e/integration/recover-expiry.spec.ts): cert-manager renewed the
    // ended issuer with the only CA it had, the expired anchor, before recover ran.
    const fake = expiredAnchor();
    const dead = fake.active?.fingerprint as string;
    fake.issuerIssuing = true;
    fake.issuerRequest = { name: 'linkerd-identity-issuer-2', signedBy: dead };
    fake.fastForward(10 * 60_000, 60_000);
    expect([fake.issuerIssuing, fake.issuer.chainsTo]).toEqual([true, dead]);
    const result = await runRotation(fake.ports(), { ...RUN, ...RECOVER });
    expect([result.outcome, result.message]).toEqual(['done', expect.stringMatching(/^recovery \(anchor-expired\) done/)]);
    const to = fake.active?.fingerprint as string;
    expect(fake.calls.filter((c) => c.name === 'discardIssuerRequest')).toHaveLength(1);
    expect(fake.calls.findIndex((c) => c.name === 'discardIssuerRequest')).toBeGreaterThan(fake.calls.findIndex((c) => c.name === 'writeActiveFromPrepared'));
    expect(fake.issuer.chainsTo).toBe(to);
    expect(failingHandshakes(fake)).toEqual([]);
  });

  it('after kill -9 at each of its writes, a rerun completes the recovery', async () => {
    const total = (() => {
      const fake = expiredAnchor();
      return runRotation(fake.ports(), { ...RUN, ...RECOVER }).then(() => fake.mutatingCalls());
    })();
    const failures: string[] = [];
    const count = await total;
    for (let k = 1; k <= count; k++) {
      const fake = expiredAnchor();
      fake.killAt(k, 'after');
      try {
        const { result, runs } = await runResuming(fake, RECOVER);
        expect([runs, result.outcome]).toEqual([2, 'done']);
        const to = fake.active?.fingerprint as string;
        expect(fake.unsettledPods(new Set([to]), to)).toEqual([]);
        expect(failingHandshakes(fake)).toEqual([]);
      } catch (error) {
        failures.push(`kill at ${k} (${fake.calls.filter((c) => c.mutating)[k - 1]?.name}): ${(error as Error).message.slice(0, 300)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(count).toBeGreaterThan(10);
  });
});

describe('recover: the active anchor gone', () => {
  it('recovers to the prepared anchor when the active Secret is gone and the issuer chains to no anchor bootstrap could adopt', async () => {
    const fake = new FakeCluster({ leafLifetimeMs: 2 * HOUR });
    fake.anchorsEnd = true;
    const activeNow = () => fake.active?.fingerprint;
    const from = activeNow() as string;
    fake.renewPreparedExternally();
    fake.advance(5000);
    const prepared = fake.prepared.anchor?.fingerprint as string;
    expect(prepared).not.toBe(from);
    fake.active = undefined;
    expect(diagnoseExpiry(fake.snapshot(), resolveOptions({})).case).toBe('active-anchor-missing');
    const result = await runRotation(fake.ports(), { ...RUN, ...RECOVER });
    expect([result.outcome, result.message]).toEqual(['done', expect.stringMatching(/^recovery \(active-anchor-missing\) done/)]);
    expect(activeNow()).toBe(prepared);
    expect(storedState(fake).last).toMatchObject({ from, to: prepared });
    expect(fake.unsettledPods(new Set([prepared]), prepared)).toEqual([]);
    expect(failingHandshakes(fake)).toEqual([]);
  });
});

describe('recover: an expired issuer', () => {
  it('control: proxies cannot renew their leaves while the issuer is expired', () => {
    const fake = expiredIssuer();
    expect(diagnoseExpiry(fake.snapshot(), resolveOptions({})).case).toBe('issuer-expired');
    expect(fake.verifies(new Set([fake.active?.fingerprint as string]), fake.issuer)).toBe(false);
    expect(failingHandshakes(fake).length).toBeGreaterThan(0);
  });

  it('renews the issuer and restarts only identity when every proxy renews its leaf on its own', async () => {
    const fake = expiredIssuer();
    const result = await runRotation(fake.ports(), { ...RUN, ...RECOVER });
    expect([result.outcome, result.message]).toEqual(['done', expect.stringMatching(/^recovery \(issuer-expired\) done/)]);
    expect(fake.calls.filter((c) => c.name === 'renewIdentityIssuer')).toHaveLength(1);
    expect([...new Set(fake.restarts)]).toEqual(['linkerd/linkerd-identity']);
    expect(fake.issuer.notAfter).toBeGreaterThan(fake.clock);
    expect(storedState(fake).phase).toBe('Done');
    fake.advance(60_000);
    expect(failingHandshakes(fake)).toEqual([]);
  });

  it('does not restart a pod that is not Ready at first but recovers within the grace period', async () => {
    const fake = expiredIssuer();
    const slow = fake.pods.filter((p) => p.namespace === 'app-1' && p.owner?.name === 'svc-0');
    for (const pod of slow) pod.readyAt = fake.clock + 15 * 60_000;
    const result = await runRotation(fake.ports(), { ...RUN, ...RECOVER, recoverLeafGraceMs: 30 * 60_000 });
    expect(result.outcome).toBe('done');
    expect(slow.length).toBeGreaterThan(0);
    expect([...new Set(fake.restarts)]).toEqual(['linkerd/linkerd-identity']);
  });

  it('restarts the workloads whose pods are still not Ready after the grace period, and no other', async () => {
    const fake = expiredIssuer();
    for (const pod of fake.pods.filter((p) => p.namespace === 'app-0' && p.owner?.name === 'svc-0')) pod.readyAt = Number.POSITIVE_INFINITY;
    await runRotation(fake.ports(), { ...RUN, ...RECOVER });
    expect([...new Set(fake.restarts)]).toEqual(['linkerd/linkerd-identity', 'app-0/svc-0']);
    expect(storedState(fake).phase).toBe('Done');
  });
});

describe('recover: kill -9 during an issuer recovery', () => {
  it('a rerun completes it after a kill at each of its writes', async () => {
    const whole = expiredIssuer();
    await runRotation(whole.ports(), { ...RUN, ...RECOVER });
    const count = whole.mutatingCalls();
    const failures: string[] = [];
    for (let k = 1; k <= count; k++) {
      const fake = expiredIssuer();
      fake.killAt(k, 'after');
      try {
        const { result, runs } = await runResuming(fake, RECOVER);
        expect([runs, result.outcome, storedState(fake).phase]).toEqual([2, 'done', 'Done']);
        expect([...new Set(fake.restarts)]).toEqual(['linkerd/linkerd-identity']);
        fake.advance(60_000);
        expect(failingHandshakes(fake)).toEqual([]);
      } catch (error) {
        failures.push(`kill at ${k} (${fake.calls.filter((c) => c.mutating)[k - 1]?.name}): ${(error as Error).message.slice(0, 300)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(count).toBeGreaterThan(5);
  });
});

describe('plan during a recovery', () => {
  it('says a recovery is under way and what it does next, instead of planning a rotation', async () => {
    const fake = expiredAnchor();
    fake.killAt(4, 'after');
    await runRotation(fake.ports(), { ...RUN, ...RECOVER }).catch(() => undefined);
    fake.revive();
    const p = plan(fake.snapshot(), storedState(fake), resolveOptions({}));
    expect(storedState(fake).phase).toBe('Recover');
    expect(p).toMatchObject({ rotates: false, phase: 'Recover', summary: expect.stringMatching(/^a recovery \(anchor-expired\) is under way; `recover --yes` or `rotate` resumes it: /) });
  });
});

describe('recover on a healthy mesh', () => {
  it('starts nothing', async () => {
    const fake = new FakeCluster();
    const result = await runRotation(fake.ports(), { ...RUN, ...RECOVER });
    expect(result.outcome).toBe('done');
    expect(fake.restarts).toEqual([]);
    expect(storedState(fake).phase).not.toBe('Recover');
  });
});
