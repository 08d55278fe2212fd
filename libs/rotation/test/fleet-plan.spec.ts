// `fleet plan` and `fleet status`'s next move (libs/rotation fleet-plan.ts) on linked fake clusters:
// the plan is the driver's own next move, run dry: it writes nothing to any cluster, and a real
// `runFleet` from the same clusters does first what the plan said (an action, or a wait on a fleet
// gate naming the cluster that holds it). Each cluster's course is the engine's `plan` with the
// fleet's steps: a member's copies of B, the fleet gates, and the restarts in order.
import { planFleet, runFleet, type FleetProgressEvent, type FleetRead, type FleetReadCluster, type RunOptions, type Strategy } from '../src/index.js';
import type { FakeCluster } from './fake-cluster.js';
import { FakeFleet } from './fake-fleet.js';
import { installedBeforePods, LEAF, RUN } from './harness.js';

const SMALL = { namespaces: 2, deploymentsPerNamespace: 2, leafLifetimeMs: LEAF } as const;
const OPTIONS: RunOptions = { ...RUN, leafLifetimeMs: LEAF, clockSkewMs: 1000 };

function fleetOf(only: ConstructorParameters<typeof FakeFleet>[2] = {}): FakeFleet {
  const fleet = new FakeFleet(['east', 'west'], SMALL, only);
  for (const c of fleet.clusters) installedBeforePods(c);
  return fleet;
}

/** Each cluster as `fleet plan` reads it: its snapshot and stored state, or the error of the read. */
function readOf(fleet: FakeFleet): FleetRead {
  const one = (c: FakeCluster): FleetReadCluster => {
    if (c.unreachable !== undefined) return { name: c.config.name, reachable: false, error: c.unreachable };
    return { name: c.config.name, reachable: true, snapshot: c.snapshot(), ...(c.state ? { stored: { data: { ...c.state.data }, resourceVersion: c.state.resourceVersion } } : {}) };
  };
  const [primary, ...members] = fleet.clusters.map(one);
  return { primary: primary as FleetReadCluster, members };
}

/** What the fakes hold that a run could change: mutating calls and the stored states. */
function footprint(fleet: FakeFleet): string {
  return JSON.stringify(fleet.clusters.map((c) => [c.mutatingCalls(), c.state]));
}

/** The first thing a real run does: its first action, or the first gate it waits on. */
async function firstMoveOfRun(fleet: FakeFleet, options: RunOptions): Promise<{ cluster: string; kind: string }> {
  let first: { cluster: string; kind: string } | undefined;
  const observe = (e: FleetProgressEvent) => {
    if (first) return;
    if (e.event.kind === 'action') first = { cluster: e.cluster, kind: e.event.action.kind };
    else if (e.event.kind === 'waiting') first = { cluster: e.cluster, kind: e.event.gate.name };
    if (first) fleet.killAll();
  };
  await runFleet(fleet.handles(), { ...options, holder: 'real-run' }, observe);
  fleet.reviveAll();
  if (!first) throw new Error('expected the run to act or wait');
  return first;
}

describe.each<Strategy>(['restart', 'cross-signed'])('fleet plan, strategy %s', (strategy) => {
  const options: RunOptions = { ...OPTIONS, strategy };

  it("says the primary starts and renews its prepared anchor, each cluster's course with the fleet's steps, and writes nothing", async () => {
    const fleet = fleetOf();
    const before = footprint(fleet);
    const p = await planFleet(readOf(fleet), options, fleet.primary.clock);
    expect(footprint(fleet)).toBe(before);

    expect(p.next).toMatchObject({ outcome: 'act', transitions: [{ cluster: 'east', from: 'Idle', to: 'Prepare' }], action: { cluster: 'east', kind: 'renew-prepared-anchor' } });
    expect(await firstMoveOfRun(fleet, options)).toEqual({ cluster: 'east', kind: 'renew-prepared-anchor' });

    const [east, west] = p.clusters;
    expect([east?.role, west?.role]).toEqual(['primary', 'member']);
    for (const c of p.clusters) {
      expect(c.plan).toMatchObject({ rotates: true, strategy });
      const descriptions = c.plan?.steps.map((s) => `${s.phase} ${s.description}`) ?? [];
      expect(descriptions).toContainEqual(expect.stringMatching(/^Promote fleet gates 1 and 2: wait until every cluster's bundles hold both anchors/));
      expect(descriptions).toContainEqual(expect.stringMatching(/^Retire fleet gate 3: wait until every cluster passed Promote and one leaf lifetime passed since the last cluster's identity/));
    }
    // A member has no prepared Certificate and no key: B and the active Secret come from the primary.
    expect(east?.plan?.steps.find((s) => s.kind === 'renew-prepared-anchor')?.description).toMatch(/^renew Certificate .*linkerd-trust-anchor/);
    expect(west?.plan?.steps.find((s) => s.kind === 'renew-prepared-anchor')?.description).toBe("wait for east's cert-manager to issue the fleet's new anchor, then write its certificate alone into the prepared Secret");
    expect(west?.plan?.steps.find((s) => s.kind === 'write-active-anchor')?.description).toMatch(/^wait for east to promote the fleet's new anchor, then copy east's active Secret/);

    const rolls = p.clusters.map((c) => c.plan?.rolls.total ?? 0);
    expect(p.total.rolls).toBe(rolls[0]! + rolls[1]!);
    const dataPlane = p.clusters.flatMap((c) => c.plan?.steps.filter((s) => s.kind === 'roll' && s.tier === 'data-plane') ?? []);
    if (strategy === 'restart') {
      // Every data-plane workload of each cluster, in its restart order, in TrustBoth, Promote and Retire.
      expect(p.total.byTier['data-plane']).toBe(2 * 3 * 4);
      const westTrustBoth = west?.plan?.steps.filter((s) => s.phase === 'TrustBoth' && s.kind === 'roll' && s.tier === 'data-plane').flatMap((s) => s.workloads ?? []);
      expect(westTrustBoth?.map((w) => `${w.namespace}/${w.name}`).sort()).toEqual(fleet.cluster('west').snapshot().workloads.filter((w) => w.tier === 'data-plane').map((w) => `${w.namespace}/${w.name}`).sort());
    } else {
      expect([p.total.byTier['data-plane'], dataPlane]).toEqual([0, []]);
    }
  });
});

describe('fleet plan mid-rotation', () => {
  it('names the fleet gate a run waits at and the cluster that holds it, as a real run then waits', async () => {
    // west's controllers are minutes late: east reaches the end of TrustBoth first and gate 1 holds it for west.
    const fleet = fleetOf({ west: { lagMs: [60_000, 120_000] } });
    const options: RunOptions = { ...OPTIONS, strategy: 'restart' };
    let held: string | undefined;
    await runFleet(fleet.handles(), { ...options, holder: 'first' }, (e) => {
      if (!held && e.event.kind === 'waiting' && e.event.gate.name === 'fleet-trusts-new-anchor') {
        held = `${e.cluster} ${e.event.gate.name}`;
        fleet.killAll();
      }
    });
    fleet.reviveAll();
    fleet.advance(RUN.leaseDurationMs + 1000);
    expect(held).toBe('east fleet-trusts-new-anchor');

    const before = footprint(fleet);
    const p = await planFleet(readOf(fleet), options, fleet.primary.clock);
    expect(footprint(fleet)).toBe(before);
    expect(p.rotation).toMatchObject({ strategy: 'restart', phase: 'TrustBoth' });
    const real = await firstMoveOfRun(fleet, options);
    expect(p.next.outcome).toBe('wait');
    expect(p.next.waits.map((w) => ({ cluster: w.cluster, kind: w.gate }))).toContainEqual(real);
    // east is held by gate 1, and west (its pods not trusting both anchors yet) holds it.
    const gate1 = p.next.waits.find((w) => w.cluster === 'east' && w.gate === 'fleet-trusts-new-anchor');
    expect(gate1?.blockedBy).toEqual(['west']);
    expect(gate1?.missing.length).toBeGreaterThan(0);
    for (const m of gate1?.missing ?? []) expect(m).toMatch(/^west: /);
  });
});

describe('fleet plan with a cluster that does not answer', () => {
  it('says a run would stop naming it, and still plans the others', async () => {
    const fleet = fleetOf();
    fleet.cluster('west').unreachable = 'dial tcp 10.0.0.2:6443: connect: connection refused';
    const p = await planFleet(readOf(fleet), { ...OPTIONS, strategy: 'restart' }, fleet.primary.clock);
    expect(p.next).toMatchObject({ outcome: 'stopped', stop: { reason: 'cluster-unreachable', cluster: 'west' } });
    expect(p.next.message).toMatch(/^west: .*connection refused/);
    expect(p.clusters.map((c) => [c.cluster, c.reachable])).toEqual([
      ['east', true],
      ['west', false],
    ]);
    expect(p.clusters[0]?.plan?.rotates).toBe(true);
  });
});
