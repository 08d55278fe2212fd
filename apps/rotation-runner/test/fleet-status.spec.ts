// `fleet plan` and `fleet status` (issue 17): their flags and usage errors (exit 2), clusters whose API
// does not answer named with exit 4, and the reports over a fleet made of real anchors and issuers
// made in the test, mid-rotation (strategy restart): east's Promote held by fleet gate 1, which west
// holds (its workload app/svc-0 restarted, the new pod not Ready, and its stop on the deadline naming
// it), and west unreachable while east is still read. The next move comes from the driver run dry
// (libs/rotation planFleet, tested on linked fake clusters there); each cluster's part is `plan`'s and
// `status`'s own report.
import { DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
import { sha256Hex } from '@linkerd-rotator/x509';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { nextFleetStep, parseState, planFleet, serializeState, type AnchorFacts, type ClusterSnapshot, type FleetRead, type MeshedPod, type RotationState, type RunOptions } from '@linkerd-rotator/rotation';
import { buildFleetStatus, fleetPlanExitCode, fleetPlanJson, fleetStatusExitCode, formatFleetPlan, formatFleetStatus } from '../src/fleet-status.js';
import { buildReport, DEFAULT_THRESHOLDS } from '../src/status-report.js';
import { cli, refusingKubeconfigForSpec } from './refusing-kubeconfig.js';

const refusing = refusingKubeconfigForSpec('fleet-status-');

describe.each(['plan', 'status'])('fleet %s flags', (command) => {
  it.each([
    [['--member', 'west'], new RegExp(`fleet ${command} needs --primary <context>`)],
    [['--primary', 'east'], new RegExp(`fleet ${command} needs at least one --member <context>`)],
    [['--primary', 'east', '--member', 'south'], /expected context south in the kubeconfig .*, found only east, west/],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const result = await cli(['fleet', command, '--kubeconfig', refusing.path(), ...args]);
    expect([result.code, result.out]).toEqual([2, '']);
    expect(result.err).toMatch(message);
  });

  it('names every cluster whose API does not answer, and exits 4', async () => {
    const result = await cli(['fleet', command, '--kubeconfig', refusing.path(), '--api-timeout', '1s', '--log-format', 'json', '--primary', 'east', '--member', 'west']);
    expect(result.code).toBe(4);
    if (command === 'status') {
      expect(result.out).toMatch(/^ {2}east \(primary\) {2}UNREACHABLE \(expected the Kubernetes API server to answer .*ECONNREFUSED/m);
      expect(result.out).toMatch(/^ {2}west {12}UNREACHABLE \(/m);
    } else {
      expect(result.out).toMatch(/^== east \(primary\)\n {4}UNREACHABLE: expected the Kubernetes API server to answer/m);
      expect(result.out).toMatch(/^== west \(member\)\n {4}UNREACHABLE: /m);
    }
    expect(result.out).toMatch(/stop {3}east: cluster-unreachable: east: expected to acquire its rotation Lease|stop {3}east: cluster-unreachable: east: /);
    expect(result.err).toMatch(/"context":"west"/);
  }, 30_000);
});

const HOUR = 3_600_000;
const NOW = Date.parse('2026-12-06T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const BASELINE = NOW - 2 * HOUR;
const OPTIONS: RunOptions = { holder: 'test', names, gateTimeoutMs: 30 * 60_000, leaseDurationMs: 60_000, strategy: 'restart', leafLifetimeMs: 24 * HOUR, clockSkewMs: 1000 };

let A: Credentials;
let B: Credentials;
let issuers: Record<string, Credentials>;

beforeAll(async () => {
  A = await fixtures.makeAnchor({ cn: 'root.linkerd.cluster.local' });
  B = await fixtures.makeAnchor({ cn: 'root.linkerd.cluster.local' });
  issuers = { east: await fixtures.makeIssuer(A, { cn: 'identity.east' }), west: await fixtures.makeIssuer(A, { cn: 'identity.west' }) };
});

const facts = (c: Credentials): AnchorFacts => ({ fingerprint: c.fingerprint, publicKeyFingerprint: c.cert.spkiFingerprint, notBefore: c.cert.notBefore.getTime(), notAfter: c.cert.notAfter.getTime(), crossSignable: true });
const short = (c: Credentials) => c.fingerprint.slice(0, 16);

function meshed(namespace: string, name: string, owner: string, trusts: readonly Credentials[], o: { startedAt: number; ready?: boolean; identity?: boolean }): MeshedPod {
  return {
    namespace,
    name,
    owner: { kind: 'Deployment', name: owner },
    tier: namespace === 'linkerd' ? 'control-plane' : 'data-plane',
    identityController: o.identity === true,
    trustFromConfigMap: false,
    trustedAnchors: trusts.map((t) => t.fingerprint),
    trustRootSha256: sha256Hex(fixtures.bundleOf(...trusts)),
    startedAt: o.startedAt,
    ready: o.ready ?? true,
  };
}

/** A cluster in TrustBoth of A -> B: B in its prepared Secret and every bundle, pods as given. */
function snapshotOf(cluster: string, pods: MeshedPod[], svcReady: boolean): ClusterSnapshot {
  const text = fixtures.bundleOf(A, B);
  const bundles = ['linkerd', 'app'].map((namespace) => ({ namespace, sha256: sha256Hex(text), anchors: [A.fingerprint, B.fingerprint] }));
  const issuer = issuers[cluster] as Credentials;
  const deployment = (namespace: string, name: string, ready: boolean) => ({
    kind: 'Deployment' as const,
    namespace,
    name,
    tier: namespace === 'linkerd' ? ('control-plane' as const) : ('data-plane' as const),
    replicas: 1,
    readyReplicas: ready ? 1 : 0,
    updatedReplicas: 1,
    generation: 2,
    observedGeneration: 2,
    restartedAt: BASELINE + 60_000,
  });
  return {
    observedAt: NOW,
    prepared: { revision: 2, issuing: 'absent', anchor: facts(B) },
    active: facts(A),
    previous: facts(A),
    issuer: { fingerprint: issuer.fingerprint, chainsTo: A.fingerprint, notBefore: issuer.cert.notBefore.getTime(), notAfter: issuer.cert.notAfter.getTime(), issuing: 'absent', revision: 1 },
    bundles,
    injector: { trustRootSha256: sha256Hex(text) },
    pods,
    workloads: [deployment('linkerd', 'linkerd-identity', true), deployment('app', 'svc-0', svcReady)],
    identityEvents: [],
  };
}

function stateOf(cluster: string, extra: Partial<RotationState> = {}): RotationState {
  const text = fixtures.bundleOf(A, B);
  return {
    version: 1,
    phase: 'TrustBoth',
    knownBundles: { [sha256Hex(text)]: { anchors: [A.fingerprint, B.fingerprint].sort(), firstSeenAt: iso(BASELINE - HOUR), syncedAt: iso(BASELINE - HOUR) } },
    rotation: {
      id: 'rotation-2026-12-06T09:00:00.000Z',
      strategy: 'restart',
      from: { fingerprint: A.fingerprint, publicKeyFingerprint: A.cert.spkiFingerprint },
      to: { fingerprint: B.fingerprint, publicKeyFingerprint: B.cert.spkiFingerprint },
      startedAt: iso(NOW - 3 * HOUR),
      phaseStartedAt: iso(BASELINE),
      preparedRevisionAtStart: 1,
      prepareRequests: cluster === 'east' ? 1 : 0,
      retargets: [],
      rollBaseline: iso(BASELINE),
      rollBundle: sha256Hex(text),
      issuerRenewals: 0,
    },
    ...extra,
  };
}

const DEADLINE = 'expected gate pods-trust-both within the phase timeout, found: 1 of 2 meshed pods do not trust both anchors or are not Ready (app/svc-0-new: not Ready)';

/** east and west mid-rotation; west's new svc-0 pod never becomes Ready and its deadline stopped the fleet. */
function fleetRead(westReachable = true): FleetRead {
  const record = {
    id: 'rotation-2026-12-06T09:00:00.000Z',
    strategy: 'restart' as const,
    from: A.fingerprint,
    to: B.fingerprint,
    phase: 'TrustBoth' as const,
    startedAt: iso(NOW - 3 * HOUR),
    clusters: { east: { phase: 'TrustBoth' as const }, west: { phase: 'TrustBoth' as const } },
    stopped: { reason: 'deadline' as const, cluster: 'west', message: DEADLINE, at: iso(NOW - 10 * 60_000) },
  };
  const east = stateOf('east', { fleet: { role: 'primary', primary: 'east', rotation: record } });
  const west = stateOf('west', {
    phase: 'Stopped',
    stopped: { reason: 'deadline', phase: 'TrustBoth', message: DEADLINE, at: iso(NOW - 10 * 60_000), gate: 'pods-trust-both' },
    fleet: { role: 'member', primary: 'east' },
  });
  const fresh = { startedAt: BASELINE + 2 * 60_000 };
  const eastPods = [meshed('linkerd', 'linkerd-identity-1', 'linkerd-identity', [A, B], { ...fresh, identity: true }), meshed('app', 'svc-0-new', 'svc-0', [A, B], fresh)];
  const westPods = [
    meshed('linkerd', 'linkerd-identity-1', 'linkerd-identity', [A, B], { ...fresh, identity: true }),
    meshed('app', 'svc-0-old', 'svc-0', [A], { startedAt: NOW - 48 * HOUR }),
    meshed('app', 'svc-0-new', 'svc-0', [A, B], { ...fresh, ready: false }),
  ];
  const stored = (s: RotationState) => ({ data: serializeState(s), resourceVersion: '7' });
  return {
    primary: { name: 'east', reachable: true, snapshot: snapshotOf('east', eastPods, true), stored: stored(east) },
    members: [westReachable ? { name: 'west', reachable: true, snapshot: snapshotOf('west', westPods, false), stored: stored(west) } : { name: 'west', reachable: false, error: 'connect ECONNREFUSED 10.0.0.2:6443' }],
  };
}

function statusOf(read: FleetRead) {
  const clusters = [read.primary, ...read.members];
  return clusters.map((c) => {
    if (!c.reachable) return { cluster: c.name, error: c.error };
    const state = stateFrom(c.stored?.data ?? {});
    return { cluster: c.name, report: buildReport({ snapshot: c.snapshot, ...(state ? { state } : {}), injector: { namespace: 'app' }, names, thresholds: DEFAULT_THRESHOLDS }) };
  });
}

function stateFrom(data: Record<string, string>): RotationState | undefined {
  const parsed = parseState(data);
  return parsed.ok ? parsed.state : undefined;
}

describe('fleet status report', () => {
  it('gives the fleet record, each cluster phase, the stop naming west and its workload, and what the fleet waits on', async () => {
    const read = fleetRead();
    const next = await nextFleetStep(read, OPTIONS, NOW);
    // The run would resume west (a phase change, state only) and then wait: west on its own gate, east on gate 1 that west holds.
    expect(next.outcome).toBe('wait');
    expect(next.transitions.map((t) => `${t.cluster} ${t.from} -> ${t.to}`)).toEqual(['west Stopped -> TrustBoth']);
    expect(next.waits.map((w) => `${w.cluster} ${w.gate} held by ${w.blockedBy.join(',')}`)).toEqual(['east fleet-trusts-new-anchor held by west', 'west pods-trust-both held by west']);
    const record = stateFrom(read.primary.reachable ? (read.primary.stored?.data as Record<string, string>) : {})?.fleet?.rotation;
    const status = buildFleetStatus({ primary: 'east', members: ['west'] }, statusOf(read), record, next);
    const text = formatFleetStatus(status, false);
    expect(fleetStatusExitCode(status)).toBe(0);
    expect(text).toMatch(new RegExp(`^Rotation: {3}rotation-2026-12-06T09:00:00.000Z: ${short(A)} -> ${short(B)} \\(strategy restart\\), fleet phase TrustBoth`, 'm'));
    expect(text).toMatch(/^ {2}east \(primary\) {2}phase TrustBoth$/m);
    expect(text).toMatch(/^ {2}west {12}phase TrustBoth, stopped \(deadline\)$/m);
    expect(text).toMatch(/^Stopped: {4}west: deadline at 2026-12-06T11:50:00.000Z: .*app\/svc-0-new: not Ready/m);
    expect(text).toMatch(/^ {2}wait {3}east \(TrustBoth\) at fleet-trusts-new-anchor, held by west: /m);
    expect(JSON.parse(JSON.stringify(status))).toMatchObject({ primary: 'east', rotation: { stopped: { cluster: 'west', reason: 'deadline' } }, clusters: [{ cluster: 'east', phase: 'TrustBoth' }, { cluster: 'west', phase: 'TrustBoth' }] });
  });

  it('shows a cluster that does not answer as unreachable, still reading the others; exit 4', async () => {
    const read = fleetRead(false);
    const next = await nextFleetStep(read, OPTIONS, NOW);
    const record = stateFrom(read.primary.reachable ? (read.primary.stored?.data as Record<string, string>) : {})?.fleet?.rotation;
    const status = buildFleetStatus({ primary: 'east', members: ['west'] }, statusOf(read), record, next);
    expect(fleetStatusExitCode(status)).toBe(4);
    const text = formatFleetStatus(status, false);
    expect(text).toMatch(/^ {2}west {12}UNREACHABLE \(connect ECONNREFUSED 10.0.0.2:6443\)$/m);
    expect(text).toMatch(/^ {2}east \(primary\) {2}phase TrustBoth$/m);
    expect(text).toMatch(/^== east \(primary\)\n {4}/m);
    expect(text).toMatch(/stop {3}west: cluster-unreachable: west: .*connect ECONNREFUSED 10\.0\.0\.2:6443/);
  });
});

describe('fleet plan report', () => {
  it('gives the next move, each cluster plan with its restarts in order, and the total', async () => {
    const p = await planFleet(fleetRead(), OPTIONS, NOW);
    const text = formatFleetPlan(p, false);
    expect(fleetPlanExitCode(p)).toBe(0);
    expect(text).toMatch(/^== east \(primary\)\n {4}Plan: resume in TrustBoth/m);
    expect(text).toMatch(/^== west \(member\)\n {4}Plan: resume in TrustBoth/m);
    expect(text).toMatch(/^ {4}Promote:\n {6}- fleet gates 1 and 2: wait until every cluster's bundles hold both anchors/m);
    expect(text).toMatch(/^Total: {6}\d+ workload restart\(s\) in 2 cluster\(s\)/m);
    const json = JSON.parse(JSON.stringify(fleetPlanJson(p))) as { clusters: { cluster: string; plan: { steps: { kind: string }[] } }[] };
    expect(json.clusters.map((c) => c.cluster)).toEqual(['east', 'west']);
    expect(fleetPlanExitCode(await planFleet(fleetRead(false), OPTIONS, NOW))).toBe(4);
  });
});
