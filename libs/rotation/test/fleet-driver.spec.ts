// The fleet driver (docs/multicluster.md, issue 17) against linked fake clusters on one clock: a
// primary whose cert-manager prepares B, members without a prepared Certificate. The ground truth is
// the fakes' own: each cluster's I1/I2, and cross-cluster I1 (every proxy of each cluster verifies
// every leaf of the others) after every tick. The control rotates cluster 1 alone with the
// single-cluster runner and records the cross-cluster break the fleet gates prevent.
import { parseState, runFleet, runRotation, type FleetClusterPorts, type FleetHandles, type FleetProgressEvent, type FleetRunResult, type RotationState, type RunOptions, type Strategy } from '../src/index.js';
import type { FakeCluster, FakeConfig } from './fake-cluster.js';
import { FakeFleet } from './fake-fleet.js';
import { expectCrossSigned, expectRotated, installedBeforePods, LEAF, RUN, STRATEGY_RUNS } from './harness.js';

const NAMES = ['east', 'west', 'north'];
const SMALL = { namespaces: 2, deploymentsPerNamespace: 2, leafLifetimeMs: LEAF } as const;
const OPTIONS: Partial<RunOptions> = { leafLifetimeMs: LEAF, clockSkewMs: 1000 };

function stateOf(fake: FakeCluster): RotationState {
  const parsed = parseState(fake.state?.data);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.state;
}

function fleetOf(names = NAMES.slice(0, 2), only: Readonly<Record<string, Partial<FakeConfig>>> = {}): FakeFleet {
  const fleet = new FakeFleet(names, SMALL, only);
  for (const c of fleet.clusters) installedBeforePods(c);
  return fleet;
}

/**
 * Runs the driver until it ends without a long gate; a run ending on one (`resumeAt`) is resumed by
 * the next scheduled run once the clock reaches it, as the CronJob does.
 */
async function runToEnd(fleet: FakeFleet, options: Partial<RunOptions>, progress?: (e: FleetProgressEvent) => void): Promise<{ result: FleetRunResult; runs: number }> {
  let runs = 0;
  for (;;) {
    runs++;
    const start = runs === 1 ? (options.start ?? RUN.start) : 'never';
    const result = await runFleet(fleet.handles(), { ...RUN, ...OPTIONS, ...options, start, holder: `fleet-${runs}` }, progress);
    if (result.resumeAt === undefined) return { result, runs };
    if (runs > 10) throw new Error(`expected the fleet rotation to finish within 10 scheduled runs, found: ${result.message}`);
    fleet.fastForward(Math.max(0, result.resumeAt - fleet.primary.clock) + 1000, 30_000);
  }
}

describe.each<Strategy>(['cross-signed', 'restart'])('fleet rotation, strategy %s', (strategy) => {
  it('rotates every cluster to the one B of the primary, with no cross-cluster rejection, and records the fleet', async () => {
    const fleet = fleetOf(NAMES);
    const [east, west, north] = fleet.clusters as [FakeCluster, FakeCluster, FakeCluster];
    const from = east.active?.fingerprint as string;
    expect([west.active?.fingerprint, north.active?.fingerprint]).toEqual([from, from]);
    const { result } = await runToEnd(fleet, { strategy });
    expect([result.outcome, result.message]).toEqual(['done', expect.stringContaining('done in every cluster')]);

    const expectEnd = strategy === 'cross-signed' ? expectCrossSigned : expectRotated;
    const to = expectEnd(east, from);
    expect([expectEnd(west, from), expectEnd(north, from)]).toEqual([to, to]);
    expect(fleet.crossViolations).toEqual([]);
    // B generated once, by the primary's cert-manager; each member got its certificate only, once.
    expect(east.calls.filter((c) => c.name === 'renewPreparedAnchor')).toHaveLength(1);
    expect([west.preparedCopies, north.preparedCopies]).toEqual([[to], [to]]);
    expect(west.calls.some((c) => c.name === 'renewPreparedAnchor')).toBe(false);
    if (strategy === 'cross-signed') {
      // X minted once, in the primary; every member carries that same X.
      expect([west.activeCrossSignature, north.activeCrossSignature]).toEqual([east.activeCrossSignature, east.activeCrossSignature]);
    }
    const record = stateOf(east).fleet;
    expect(record).toMatchObject({ role: 'primary', primary: 'east', rotation: { from, to, strategy, phase: 'Done' } });
    expect(Object.keys(record?.rotation?.clusters ?? {}).sort()).toEqual([...NAMES].sort());
    for (const name of NAMES) expect(record?.rotation?.clusters[name]).toEqual({ phase: 'Done', identityFreshAt: expect.any(String) });
    if (strategy === 'cross-signed') expect(record?.rotation?.crossSignature).toMatch(/^[0-9a-f]{64}$/);
    expect(stateOf(west).fleet).toEqual({ role: 'member', primary: 'east' });
  });

  it('retires A nowhere before every cluster passed Promote and one leaf lifetime passed since the last identity ran I_B', async () => {
    // west's controllers react minutes late, so its identity runs I_B well after east's; once east is
    // Done, an ordinary deploy there starts pods trusting only B, which must not meet west A-leaves.
    const fleet = fleetOf(NAMES.slice(0, 2), { west: { lagMs: [60_000, 120_000] } });
    const retired: { cluster: string; at: number }[] = [];
    const observe = (e: FleetProgressEvent) => {
      if (e.event.kind === 'action' && e.event.action.kind === 'write-previous-anchor' && e.event.action.purpose === 'retire') retired.push({ cluster: e.cluster, at: fleet.primary.clock });
      if (e.cluster === 'east' && e.event.kind === 'phase' && e.event.to === 'Done') fleet.primary.deploy('app-0', 'svc-0');
    };
    const { result } = await runToEnd(fleet, { strategy }, observe);
    expect([result.outcome, result.message]).toEqual(['done', expect.stringContaining('done in every cluster')]);
    const fresh = fleet.clusters.map((c) => Date.parse(stateOf(fleet.primary).fleet?.rotation?.clusters[c.config.name]?.identityFreshAt as string));
    expect(retired.map((r) => r.cluster).sort()).toEqual(['east', 'west']);
    expect(fleet.crossViolations).toEqual([]);
    for (const r of retired) expect(r.at).toBeGreaterThanOrEqual(Math.max(...fresh) + LEAF);
  });
});

describe('control: without the fleet gates', () => {
  it('cluster 1 rotated alone retires A while cluster 2 still issues A-chained leaves: cross-cluster rejections', async () => {
    const fleet = fleetOf();
    const east = fleet.primary;
    const result = await runRotation(east.ports(), { ...RUN, ...OPTIONS, ...STRATEGY_RUNS.restart.options, holder: 'single' });
    expect(result.outcome).toBe('done');
    fleet.tick();
    expect(east.violations).toEqual([]); // the single-cluster run is clean in its own cluster
    expect(fleet.crossViolations.length).toBeGreaterThan(0);
    // Point 3 of "Why single-cluster rotation breaks a fleet": east's pods trust only its new anchor and
    // reject west's A-chained leaves (and west's pods reject east's new leaves).
    const details = fleet.crossViolations.map((v) => v.detail);
    expect(details.filter((d) => /^east:.* trusts \{[0-9a-f]{8}\} but west:.* presents a leaf from .*chained to A/.test(d)).length).toBeGreaterThan(0);
    expect(details.filter((d) => /^west:.* trusts \{A\} but east:/.test(d)).length).toBeGreaterThan(0);
  });
});

describe('an unreachable member mid-rotation', () => {
  it('stops the fleet safe naming the member, again while it is down, and resumes to Done once it answers', async () => {
    const fleet = fleetOf();
    const [east, west] = fleet.clusters as [FakeCluster, FakeCluster];
    const from = east.active?.fingerprint as string;
    const cut = (e: FleetProgressEvent) => {
      if (e.cluster === 'west' && e.event.kind === 'phase' && e.event.to === 'Promote') west.unreachable = 'dial tcp 10.0.0.2:6443: connect: connection refused';
    };
    const first = await runFleet(fleet.handles(), { ...RUN, ...OPTIONS, strategy: 'restart', holder: 'fleet-1' }, cut);
    expect(first).toMatchObject({ outcome: 'stopped', reason: 'cluster-unreachable', cluster: 'west' });
    expect(first.message).toMatch(/^west: .*connection refused/);
    expect(stateOf(east).fleet?.rotation?.stopped).toMatchObject({ reason: 'cluster-unreachable', cluster: 'west' });
    // Safe: nothing retired, A still trusted everywhere.
    expect([east.previous?.fingerprint, stateOf(east).phase]).not.toContain('Done');
    expect(east.previous?.fingerprint).toBe(from);

    fleet.advance(RUN.leaseDurationMs + 1000);
    const again = await runFleet(fleet.handles(), { ...RUN, ...OPTIONS, strategy: 'restart', start: 'never', holder: 'fleet-2' });
    expect([again.outcome, again.cluster]).toEqual(['stopped', 'west']);
    expect(east.previous?.fingerprint).toBe(from);

    west.unreachable = undefined;
    fleet.advance(RUN.leaseDurationMs + 1000);
    const { result } = await runToEnd(fleet, { strategy: 'restart', start: 'never' });
    expect(result.outcome).toBe('done');
    const to = expectRotated(east, from);
    expect(expectRotated(west, from)).toBe(to);
    expect(stateOf(east).fleet?.rotation?.stopped).toBeUndefined();
    expect(fleet.crossViolations).toEqual([]);
  });
});

describe("an unreachable member whose Lease adapter reports the Lease gone (libs/kube's LeaseLock, when the API stays unreachable until it expires)", () => {
  it('stops the fleet as cluster-unreachable naming the member, not lease-lost', async () => {
    const fleet = fleetOf();
    const [east, west] = fleet.clusters as [FakeCluster, FakeCluster];
    const from = east.active?.fingerprint as string;
    const handles = fleet.handles();
    const member = handles.members[0]!;
    const lease = member.ports.lease;
    // The kube adapter answers a renewal it could not make before the Lease expired with "not held", no holder.
    const adapterLease: typeof lease = { ...lease, renew: async (holder, durationMs) => (west.unreachable ? { held: false } : lease.renew(holder, durationMs)) };
    const withAdapterLease = { ...handles, members: [{ ...member, ports: { ...member.ports, lease: adapterLease } }] };
    const cut = (e: FleetProgressEvent) => {
      if (e.cluster === 'west' && e.event.kind === 'phase' && e.event.to === 'Promote') west.unreachable = 'dial tcp 10.0.0.2:6443: connect: connection refused';
    };
    const first = await runFleet(withAdapterLease, { ...RUN, ...OPTIONS, strategy: 'restart', holder: 'fleet-1' }, cut);
    expect(first).toMatchObject({ outcome: 'stopped', reason: 'cluster-unreachable', cluster: 'west' });
    expect(first.message).toMatch(/^west: .*connection refused/);
    expect(stateOf(east).fleet?.rotation?.stopped).toMatchObject({ reason: 'cluster-unreachable', cluster: 'west' });
    expect(east.previous?.fingerprint).toBe(from);
  });
});

describe('a deadline', () => {
  it("stops the fleet naming the member and its stuck workload, no cluster promoted; fixed, a run resumes to Done", async () => {
    const fleet = fleetOf();
    const [east, west] = fleet.clusters as [FakeCluster, FakeCluster];
    const from = east.active?.fingerprint as string;
    west.workload('app-1', 'svc-0').stuck = true;
    const stopped = await runFleet(fleet.handles(), { ...RUN, ...OPTIONS, strategy: 'restart', gateTimeoutMs: 60_000, holder: 'fleet-1' });
    expect(stopped).toMatchObject({ outcome: 'stopped', reason: 'deadline', cluster: 'west' });
    expect(stopped.message).toMatch(/^west: expected gate pods-trust-both to open before the deadline.*app-1\/svc-0/);
    expect(stateOf(west)).toMatchObject({ phase: 'Stopped', stopped: { reason: 'deadline', phase: 'TrustBoth', gate: 'pods-trust-both' } });
    expect(stateOf(east).fleet?.rotation?.stopped).toMatchObject({ reason: 'deadline', cluster: 'west' });
    expect([east.active?.fingerprint, west.active?.fingerprint]).toEqual([from, from]);

    west.workload('app-1', 'svc-0').stuck = false;
    for (const p of west.pods) if (p.readyAt === Number.POSITIVE_INFINITY) p.readyAt = west.clock;
    fleet.advance(61_000);
    const { result } = await runToEnd(fleet, { strategy: 'restart', start: 'never' });
    expect(result.outcome).toBe('done');
    expect(expectRotated(west, from)).toBe(expectRotated(east, from));
    expect(fleet.crossViolations).toEqual([]);
  });
});

/**
 * The fake's ports with every method moved onto a class prototype (no own properties), as libs/kube's
 * adapter builds them (its Lease is a LeaseLock instance, ...), each method run on the fake's object.
 */
function withPrototypeMethods(handles: FleetHandles): FleetHandles {
  const instance = <T extends object>(port: T): T => {
    class Port {}
    for (const [key, value] of Object.entries(port)) {
      Object.defineProperty(Port.prototype, key, { value: typeof value === 'function' ? (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(port, args) : value });
    }
    return new Port() as T;
  };
  const ports = (p: FleetClusterPorts): FleetClusterPorts =>
    Object.fromEntries(Object.entries(p).map(([key, port]) => [key, key === 'clock' ? port : instance(port as object)])) as unknown as FleetClusterPorts;
  return { primary: { name: handles.primary.name, ports: ports(handles.primary.ports) }, members: handles.members.map((m) => ({ name: m.name, ports: ports(m.ports) })) };
}

describe('ports implemented as class instances', () => {
  it('rotates to Done when every port method is inherited from a prototype, as the kube adapter has them', async () => {
    const fleet = fleetOf();
    const from = fleet.primary.active?.fingerprint as string;
    const run = (holder: string, start: RunOptions['start']) => runFleet(withPrototypeMethods(fleet.handles()), { ...RUN, ...OPTIONS, start, holder });
    let result = await run('fleet-1', RUN.start);
    for (let runs = 1; result.resumeAt !== undefined && runs < 10; runs++) {
      fleet.fastForward(Math.max(0, result.resumeAt - fleet.primary.clock) + 1000, 30_000);
      result = await run(`fleet-${runs + 1}`, 'never');
    }
    expect([result.outcome, result.message]).toEqual(['done', expect.stringContaining('done in every cluster')]);
    expect(expectCrossSigned(fleet.clusters[1] as FakeCluster, from)).toBe(expectCrossSigned(fleet.primary, from));
  });
});

describe('kill -9 of the driver', () => {
  it.each<Strategy>(['cross-signed', 'restart'])('%s: killed while a fleet gate holds, a new run resumes from the fleet record to Done', async (strategy) => {
    const fleet = fleetOf();
    const from = fleet.primary.active?.fingerprint as string;
    let killedAt: string | undefined;
    const kill = (e: FleetProgressEvent) => {
      if (killedAt === undefined && e.event.kind === 'waiting' && e.event.gate.name.startsWith('fleet-')) {
        killedAt = e.event.gate.name;
        fleet.killAll();
      }
    };
    const first = await runFleet(fleet.handles(), { ...RUN, ...OPTIONS, strategy, holder: 'fleet-1' }, kill);
    expect([first.outcome, killedAt]).toEqual(['stopped', expect.stringMatching(/^fleet-/)]);
    fleet.reviveAll();
    fleet.advance(RUN.leaseDurationMs + 1000);
    const { result } = await runToEnd(fleet, { strategy, start: 'never' });
    expect(result.outcome).toBe('done');
    const expectEnd = strategy === 'cross-signed' ? expectCrossSigned : expectRotated;
    const to = expectEnd(fleet.primary, from);
    expect(expectEnd(fleet.clusters[1] as FakeCluster, from)).toBe(to);
    expect(fleet.crossViolations).toEqual([]);
  });
});

describe('refusals', () => {
  it("the single-cluster runner refuses a fleet's cluster, writing nothing", async () => {
    const fleet = fleetOf();
    await runToEnd(fleet, { strategy: 'restart' });
    const west = fleet.clusters[1] as FakeCluster;
    const before = west.state?.resourceVersion;
    const result = await runRotation(west.ports(), { ...RUN, holder: 'single' });
    expect([result.outcome, result.reason]).toEqual(['stopped', 'state-invalid']);
    expect(result.message).toContain('rotator fleet run --primary east');
    expect(west.state?.resourceVersion).toBe(before);
  });

  it('refuses to start while a member disagrees on the active anchor, naming it', async () => {
    const fleet = new FakeFleet(['east', 'west'], SMALL);
    const west = fleet.clusters[1] as FakeCluster;
    west.active = { ...(west.active as NonNullable<FakeCluster['active']>), fingerprint: 'f'.repeat(64) };
    const result = await runFleet(fleet.handles(), { ...RUN, ...OPTIONS, holder: 'fleet-1' });
    expect([result.outcome, result.reason, result.cluster]).toEqual(['stopped', 'fleet-mismatch', 'west']);
    expect(result.message).toMatch(/west: active anchor/);
    expect(fleet.primary.calls.some((c) => c.name === 'renewPreparedAnchor')).toBe(false);
  });

  it('refuses a rotation under way resumed with other clusters', async () => {
    const fleet = fleetOf(NAMES);
    const stopAt = (e: FleetProgressEvent) => {
      if (e.event.kind === 'phase' && e.event.to === 'TrustBoth' && e.cluster === 'north') fleet.cluster('north').unreachable = 'timeout';
    };
    await runFleet(fleet.handles(), { ...RUN, ...OPTIONS, holder: 'fleet-1' }, stopAt);
    fleet.advance(RUN.leaseDurationMs + 1000);
    const handles = fleet.handles();
    const result = await runFleet({ primary: handles.primary, members: handles.members.slice(0, 1) }, { ...RUN, ...OPTIONS, start: 'never', holder: 'fleet-2' });
    expect([result.outcome, result.reason, result.cluster]).toEqual(['stopped', 'fleet-mismatch', 'east']);
    expect(result.message).toContain('east, north, west');
  });

  it('rejects a fleet without members or with a name twice', async () => {
    const fleet = fleetOf();
    const { primary } = fleet.handles();
    await expect(runFleet({ primary, members: [] }, { ...RUN, holder: 'x' })).rejects.toThrow(/at least one --member/);
    await expect(runFleet({ primary, members: [primary] }, { ...RUN, holder: 'x' })).rejects.toThrow(/"east" twice/);
  });
});
