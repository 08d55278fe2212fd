// The fleet gates and the fleet anchor comparison (docs/multicluster.md, issue 17), over clusters
// built from real certificates made in the test: anchors A and B, per-cluster issuers under each, the
// cross-signature X (B's subject and key, signed by A), and leaves. The control: a cluster whose pods
// trust only {B} rejects another cluster's A-chained leaf (verified here with libs/x509), the
// single-cluster rules let that cluster retire A, and gate 3 is what refuses it.
import { crossSign, parseCertificate, parsePem, sha256Hex, verifyChain, type ParsedCertificate } from '@linkerd-rotator/x509';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import {
  checkActionSafety,
} from '../src/invariants.js';
import {
  compareFleetAnchors,
  decide,
  fleetMayPromote,
  fleetMayRetire,
  fleetTrustsNewAnchor,
  initialState,
  resolveOptions,
  type AnchorFacts,
  type BundleFacts,
  type ClusterSnapshot,
  type FleetCluster,
  type FleetRotation,
  type IdentityIssuerFacts,
  type MeshedPod,
  type ObservedCluster,
  type RotationRecord,
  type RotationState,
} from '../src/index.js';
import { pod } from './builders.js';

const HOUR = 3_600_000;
const LEAF = 24 * HOUR;
const SKEW = 20_000;
const options = resolveOptions({ leafLifetimeMs: LEAF, clockSkewMs: SKEW });
const NOW = Date.now();

let A: Credentials;
let B: Credentials;
/** Another new anchor: what a cluster's own cert-manager Certificate would prepare. */
let B2: Credentials;
let X: ParsedCertificate;
/** A second cross-signature of B by A: what a member minting its own X would carry. */
let X2: ParsedCertificate;
let I1A: Credentials;
let I2A: Credentials;
let I1B: Credentials;
let I2B: Credentials;
let leaf2A: Credentials;
let leaf1B: Credentials;

beforeAll(async () => {
  A = await fixtures.makeAnchor({ cn: 'root.linkerd.cluster.local' });
  B = await fixtures.makeAnchor({ cn: 'root.linkerd.cluster.local' });
  B2 = await fixtures.makeAnchor({ cn: 'root.linkerd.cluster.local' });
  const xPem = await crossSign({ subject: B.certPem, issuer: A.certPem, issuerKey: A.keyPem });
  X = parseCertificate((parsePem(xPem).blocks[0] as { der: Uint8Array }).der);
  const x2Pem = await crossSign({ subject: B.certPem, issuer: A.certPem, issuerKey: A.keyPem });
  X2 = parseCertificate((parsePem(x2Pem).blocks[0] as { der: Uint8Array }).der);
  I1A = await fixtures.makeIssuer(A, { cn: 'identity.cluster-1' });
  I2A = await fixtures.makeIssuer(A, { cn: 'identity.cluster-2' });
  I1B = await fixtures.makeIssuer(B, { cn: 'identity.cluster-1' });
  I2B = await fixtures.makeIssuer(B, { cn: 'identity.cluster-2' });
  leaf2A = await fixtures.makeLeaf(I2A);
  leaf1B = await fixtures.makeLeaf(I1B);
});

function anchorFacts(c: Credentials): AnchorFacts {
  return { fingerprint: c.fingerprint, publicKeyFingerprint: c.cert.spkiFingerprint, notBefore: c.cert.notBefore.getTime(), notAfter: c.cert.notAfter.getTime(), crossSignable: true };
}

function bundleFacts(namespace: string, anchors: readonly Credentials[]): BundleFacts {
  return { namespace, sha256: sha256Hex(fixtures.bundleOf(...anchors)), anchors: anchors.map((a) => a.fingerprint) };
}

/** The issuer Secret's facts: its anchor and, for an issuer under B in a cross-signed rotation, X by A. */
function issuerFacts(issuer: Credentials, anchor: Credentials, crossSigned = false): IdentityIssuerFacts {
  return {
    fingerprint: issuer.fingerprint,
    chainsTo: anchor.fingerprint,
    ...(crossSigned ? { chainVia: [{ anchor: A.fingerprint, notAfter: X.notAfter.getTime() }] } : {}),
    notBefore: issuer.cert.notBefore.getTime(),
    notAfter: issuer.cert.notAfter.getTime(),
    issuing: 'absent',
    revision: 2,
  };
}

/** A meshed pod whose proxy trusts exactly `anchors` (its literal trust-anchors env). */
function meshed(name: string, anchors: readonly Credentials[], o: { startedAt?: number; identity?: boolean } = {}): MeshedPod {
  const base = o.identity
    ? pod(name, { namespace: 'linkerd', owner: ['Deployment', 'linkerd-identity'], tier: 'control-plane', identity: true, startedAt: o.startedAt ?? NOW - 3 * LEAF })
    : pod(name, { owner: ['Deployment', name.replace(/-[^-]+$/, '')], startedAt: o.startedAt ?? NOW - 3 * LEAF });
  return { ...base, trustedAnchors: anchors.map((a) => a.fingerprint) };
}

interface ClusterSpec {
  phase: RotationState['phase'];
  record?: Partial<RotationRecord>;
  prepared?: Credentials;
  active: Credentials;
  previous: Credentials;
  bundle: readonly Credentials[];
  issuer: IdentityIssuerFacts;
  pods: readonly MeshedPod[];
  /** The cross-signature the active Secret's tls.crt holds (after a cross-signed promotion). */
  activeX?: ParsedCertificate;
}

function cluster(name: string, spec: ClusterSpec): ObservedCluster {
  const bundles = [bundleFacts('linkerd', spec.bundle), bundleFacts('linkerd-viz', spec.bundle)];
  const snapshot: ClusterSnapshot = {
    observedAt: NOW,
    prepared: { revision: 2, issuing: 'absent', ...(spec.prepared ? { anchor: anchorFacts(spec.prepared) } : {}) },
    active: { ...anchorFacts(spec.active), ...(spec.activeX ? { crossSignature: spec.activeX.fingerprint } : {}) },
    previous: anchorFacts(spec.previous),
    issuer: spec.issuer,
    bundles,
    injector: { trustRootSha256: bundles[0]?.sha256 as string },
    pods: [...spec.pods],
    workloads: [],
    identityEvents: [],
  };
  const rotation: RotationRecord | undefined =
    spec.phase === 'Idle' || spec.phase === 'Done'
      ? undefined
      : {
          id: 'fleet-rotation',
          strategy: 'cross-signed',
          from: { fingerprint: A.fingerprint, publicKeyFingerprint: A.cert.spkiFingerprint },
          to: { fingerprint: B.fingerprint, publicKeyFingerprint: B.cert.spkiFingerprint },
          startedAt: new Date(NOW - 4 * LEAF).toISOString(),
          phaseStartedAt: new Date(NOW - 4 * LEAF).toISOString(),
          preparedRevisionAtStart: 1,
          prepareRequests: 0,
          retargets: [],
          issuerRenewals: 0,
          ...spec.record,
        };
  const state: RotationState = { ...initialState(), phase: spec.phase, ...(rotation ? { rotation } : {}) };
  return { cluster: name, reachable: true, snapshot, state };
}

/** A cluster in TrustBoth of A -> B: the fleet's B written to its prepared Secret, bundles {A, B}. */
function trustingBoth(name: string, issuer: Credentials, pods: readonly MeshedPod[]): ObservedCluster {
  return cluster(name, { phase: 'TrustBoth', prepared: B, active: A, previous: A, bundle: [A, B], issuer: issuerFacts(issuer, A), pods });
}

/** A cluster that promoted B cross-signed (issuer under B carrying X), every identity replica on it since `freshAt`. */
function promoted(name: string, issuer: Credentials, pods: readonly MeshedPod[], freshAt: number, phase: 'Promote' | 'Retire' = 'Retire'): ObservedCluster {
  const at = (t: number) => new Date(t).toISOString();
  return cluster(name, {
    phase,
    record: { promotedAt: at(freshAt - HOUR), issuerUpdatedAt: at(freshAt - HOUR / 2), identityFreshAt: at(freshAt) },
    prepared: B,
    active: B,
    previous: A,
    bundle: [A, B],
    issuer: issuerFacts(issuer, B, true),
    pods,
  });
}

const rotation = (strategy: FleetRotation['strategy'] = 'cross-signed'): FleetRotation => ({ from: A.fingerprint, to: B.fingerprint, strategy });
const short = (c: { readonly fingerprint: string }) => c.fingerprint.slice(0, 16);

describe('gate 1: no cluster promotes B until every cluster can verify B-chained leaves', () => {
  it('cross-signed: opens once every bundle holds {A, B} and every pod trusts A or B (pods trusting only A verify through X)', () => {
    const fleet = [
      trustingBoth('c1', I1A, [meshed('identity-1', [A], { identity: true }), meshed('web-1', [A])]),
      trustingBoth('c2', I2A, [meshed('api-1', [A, B])]),
    ];
    expect(fleetTrustsNewAnchor(fleet, rotation(), options)).toBeUndefined();
  });

  it('restart: holds while a pod trusts only A, naming its cluster and pod', () => {
    const fleet = [trustingBoth('c1', I1A, [meshed('web-1', [A, B])]), trustingBoth('c2', I2A, [meshed('api-1', [A])])];
    const gate = fleetTrustsNewAnchor(fleet, rotation('restart'), options);
    expect(gate).toMatchObject({ name: 'fleet-trusts-new-anchor', clusters: ['c2'] });
    expect(gate?.missing).toEqual([expect.stringMatching(new RegExp(`^c2: I1 app/api-1: expected .*\\{${short(B)}\\}.*found trusts \\{${short(A)}\\}`))]);
  });

  it("holds while a member's bundles lack B (the driver has not written B to its prepared Secret), naming the member", () => {
    const lagging = cluster('c2', { phase: 'TrustBoth', active: A, previous: A, prepared: A, bundle: [A], issuer: issuerFacts(I2A, A), pods: [meshed('api-1', [A])] });
    const gate = fleetTrustsNewAnchor([trustingBoth('c1', I1A, [meshed('web-1', [A])]), lagging], rotation(), options);
    expect(gate?.clusters).toEqual(['c2']);
    expect(gate?.missing[0]).toMatch(new RegExp(`^c2: bundles-synced: waiting for the anchor Secrets to hold .*${short(B)}`));
  });

  it('holds while a cluster cannot be read, naming it and the error', () => {
    const fleet: FleetCluster[] = [trustingBoth('c1', I1A, [meshed('web-1', [A])]), { cluster: 'c2', reachable: false, error: 'connect ECONNREFUSED 10.0.0.2:6443' }];
    expect(fleetTrustsNewAnchor(fleet, rotation(), options)).toMatchObject({ clusters: ['c2'], missing: [expect.stringMatching(/^c2: unreachable \(connect ECONNREFUSED 10\.0\.0\.2:6443\)/)] });
  });

  it('holds a cluster whose pods trust only B while leaves elsewhere still chain to A (I1 over the fleet)', () => {
    const fleet = [trustingBoth('c1', I1A, [meshed('web-1', [B])]), trustingBoth('c2', I2A, [meshed('api-1', [A, B])])];
    expect(fleetTrustsNewAnchor(fleet, rotation(), options)?.missing).toEqual([expect.stringMatching(new RegExp(`^c1: I1 app/web-1: .*\\{${short(A)}\\}.*found trusts \\{${short(B)}\\}`))]);
  });
});

describe('gate 2: promotion cluster by cluster, in any order', () => {
  it('lets either cluster promote first, and the second after the first', () => {
    const before = [trustingBoth('c1', I1A, [meshed('web-1', [A])]), trustingBoth('c2', I2A, [meshed('api-1', [A])])];
    expect(fleetMayPromote(before, 'c1', rotation(), options)).toBeUndefined();
    expect(fleetMayPromote(before, 'c2', rotation(), options)).toBeUndefined();
    const c2First = [trustingBoth('c1', I1A, [meshed('web-1', [A])]), promoted('c2', I2B, [meshed('api-1', [A])], NOW - HOUR, 'Promote')];
    expect(fleetMayPromote(c2First, 'c1', rotation(), options)).toBeUndefined();
  });

  it('holds a cluster whose prepared anchor is not the fleet B (its own cert-manager prepared another one)', () => {
    const own = cluster('c2', { phase: 'TrustBoth', prepared: B2, active: A, previous: A, bundle: [A, B2], issuer: issuerFacts(I2A, A), pods: [meshed('api-1', [A])] });
    const gate = fleetMayPromote([trustingBoth('c1', I1A, [meshed('web-1', [A])]), own], 'c2', rotation(), options);
    expect(gate).toMatchObject({ name: 'fleet-may-promote', clusters: ['c2'], missing: [expect.stringMatching(new RegExp(`^c2: its prepared anchor is ${short(B2)}, not the fleet's new anchor ${short(B)}`))] });
  });

  it('holds every cluster while gate 1 holds, with gate 1 as the reason', () => {
    const fleet: FleetCluster[] = [trustingBoth('c1', I1A, [meshed('web-1', [A])]), { cluster: 'c2', reachable: false, error: 'timeout' }];
    expect(fleetMayPromote(fleet, 'c1', rotation(), options)).toMatchObject({ name: 'fleet-trusts-new-anchor', clusters: ['c2'] });
    expect(fleetMayPromote(fleet, 'c9', rotation(), options)).toMatchObject({ name: 'fleet-may-promote', missing: [expect.stringMatching(/^c9: is not in the fleet \(c1, c2\)/)] });
  });
});

describe('gate 3: no cluster retires A until every cluster leaves chain to B (control)', () => {
  it("the break is real: pods trusting only {B} reject cluster 2's A-chained leaf, and accept it while they trust {A, B}", async () => {
    const onlyB = await verifyChain(leaf2A.cert, { anchors: [B.cert], intermediates: [I2A.cert, X] });
    expect(onlyB.ok).toBe(false);
    const both = await verifyChain(leaf2A.cert, { anchors: [A.cert, B.cert], intermediates: [I2A.cert] });
    expect(both).toMatchObject({ ok: true, anchor: { fingerprint: A.fingerprint } });
    // Cluster 1's B-chained leaf verifies for a pod trusting only A, through X (why gate 2 allows any order).
    const throughX = await verifyChain(leaf1B.cert, { anchors: [A.cert], intermediates: [I1B.cert, X] });
    expect(throughX).toMatchObject({ ok: true, anchor: { fingerprint: A.fingerprint } });
  });

  it('the single-cluster rules let cluster 1 retire A; gate 3 refuses it while cluster 2 has not promoted, naming cluster 2', () => {
    const c1 = promoted('c1', I1B, [meshed('identity-1', [A, B], { identity: true, startedAt: NOW - 2 * LEAF + HOUR }), meshed('web-1', [A, B])], NOW - 2 * LEAF);
    const c2 = trustingBoth('c2', I2A, [meshed('api-1', [A, B])]);
    // Cluster 1 alone: its engine would write the previous anchor (retire A), and its retirement-safe check passes.
    const retire = { kind: 'write-previous-anchor', fingerprint: B.fingerprint, source: 'active', purpose: 'retire' } as const;
    expect(checkActionSafety(retire, { snapshot: c1.snapshot, state: c1.state, options })).toEqual([]);
    expect(decide(c1.snapshot, c1.state, options)).toMatchObject({ kind: 'action', action: retire });
    // The fleet: gate 3 holds, because cluster 2's leaves chain only to A.
    const gate = fleetMayRetire([c1, c2], rotation(), options, NOW);
    expect(gate).toMatchObject({ name: 'fleet-leaves-chain-to-new', clusters: ['c2'] });
    expect(gate?.missing).toEqual([
      expect.stringMatching(/^c2: its rotation is in phase TrustBoth: it has not passed its Promote gates/),
      expect.stringMatching(new RegExp(`^c2: its leaves may still chain only to \\{${short(A)}\\}: pods elsewhere that trust only ${short(B)} would reject them`)),
    ]);
  });

  it('refuses while a cluster already trusts only {B} and another cluster still issues A-chained leaves', () => {
    const retired = cluster('c1', {
      phase: 'Retire',
      record: { promotedAt: new Date(NOW - 3 * LEAF).toISOString(), identityFreshAt: new Date(NOW - 2 * LEAF).toISOString() },
      prepared: B,
      active: B,
      previous: B,
      bundle: [B],
      issuer: issuerFacts(I1B, B, true),
      pods: [meshed('web-1', [B], { startedAt: NOW - HOUR })],
    });
    const gate = fleetMayRetire([retired, trustingBoth('c2', I2A, [meshed('api-1', [A, B])])], rotation(), options, NOW);
    expect(gate?.clusters).toEqual(['c2']);
    expect(gate?.missing.join('\n')).toMatch(new RegExp(`c2: its leaves may still chain only to \\{${short(A)}\\}`));
  });

  it('waits one leaf lifetime plus the clock skew from the LAST cluster whose identity ran I_B, then opens', () => {
    const c1Fresh = NOW - 3 * LEAF;
    const c2Fresh = NOW - HOUR;
    const c1 = promoted('c1', I1B, [meshed('web-1', [A, B])], c1Fresh);
    // Cluster 2 restarted every pod after its identity ran I_B: by its own rules its leaves are renewed.
    const c2 = promoted('c2', I2B, [meshed('api-1', [A, B], { startedAt: c2Fresh + 2 * SKEW })], c2Fresh);
    const until = Math.ceil(c2Fresh / 1000) * 1000 + LEAF + SKEW;
    const gate = fleetMayRetire([c1, c2], rotation(), options, NOW);
    expect(gate).toMatchObject({ name: 'fleet-leaves-chain-to-new', clusters: ['c2'], notBefore: until });
    expect(gate?.missing).toEqual([expect.stringMatching(new RegExp(`^c2: its identity ran the issuer under ${short(B)} last in the fleet .* until ${new Date(until).toISOString()}`))]);
    expect(fleetMayRetire([c1, c2], rotation(), options, until - 1)).toBeDefined();
    expect(fleetMayRetire([c1, c2], rotation(), options, until)).toBeUndefined();
  });

  it('holds while a cluster cannot be read, whatever the others', () => {
    const c1 = promoted('c1', I1B, [meshed('web-1', [A, B])], NOW - 3 * LEAF);
    const gate = fleetMayRetire([c1, { cluster: 'c2', reachable: false, error: 'Unauthorized' }], rotation(), options, NOW);
    expect(gate).toMatchObject({ clusters: ['c2'], missing: [expect.stringMatching(/^c2: unreachable \(Unauthorized\)/)] });
    expect(fleetMayRetire([c1], rotation(), options, NOW)).toBeUndefined();
  });

  it('never opens a gate for an empty fleet', () => {
    expect(fleetMayRetire([], rotation(), options, NOW)?.missing).toEqual(['(fleet): no cluster given: a fleet gate never opens without clusters to judge']);
    expect(fleetTrustsNewAnchor([], rotation(), options)?.clusters).toEqual(['(fleet)']);
  });
});

describe('compareFleetAnchors (check --fleet)', () => {
  const idle = (name: string, o: Partial<ClusterSpec> = {}) => cluster(name, { phase: 'Idle', prepared: A, active: A, previous: A, bundle: [A], issuer: issuerFacts(I1A, A), pods: [], ...o });

  it('finds a fleet on one anchor in agreement, members without a prepared Secret included', () => {
    const result = compareFleetAnchors([idle('c1'), idle('c2'), idle('c3', { prepared: undefined })]);
    expect(result).toMatchObject({ reference: 'c1', disagreements: [] });
    expect(result.clusters.map((c) => [c.cluster, c.active])).toEqual([
      ['c1', A.fingerprint],
      ['c2', A.fingerprint],
      ['c3', A.fingerprint],
    ]);
  });

  it('names every cluster that disagrees: another active anchor, a bundle, another prepared B, no prepared B, unreachable', () => {
    const waiting = idle('c1', { prepared: B, bundle: [A, B] });
    const result = compareFleetAnchors([
      waiting,
      idle('c2', { active: B2, previous: B2, prepared: B, bundle: [A, B] }),
      idle('c3', { prepared: B, bundle: [A] }),
      idle('c4', { prepared: B2, bundle: [A, B] }),
      idle('c5', { prepared: undefined, bundle: [A, B] }),
      { cluster: 'c6', reachable: false, error: 'context deadline exceeded' },
      idle('c7', { prepared: B, bundle: [A, B] }),
    ]);
    expect(result.disagreements.map((d) => [d.cluster, d.subject])).toEqual([
      ['c6', 'reachable'],
      ['c2', 'active'],
      ['c3', 'bundle'],
      ['c3', 'bundle'],
      ['c4', 'prepared'],
      ['c5', 'prepared'],
    ]);
    const messages = result.disagreements.map((d) => d.message);
    expect(messages).toContain(`c2: active anchor ${short(B2)}, but c1 (the reference) is on ${short(A)}`);
    expect(messages).toContain(`c3: bundle in namespace linkerd holds {${short(A)}}, but c1 (the reference) holds {${[short(A), short(B)].sort().join(', ')}}`);
    expect(messages).toContain(`c4: prepared anchor ${short(B2)}, but c1 (the reference) prepares ${short(B)}: the clusters would promote different new anchors`);
    expect(messages).toContain('c6: could not be read (context deadline exceeded); its anchors are unknown');
  });

  it('names a cluster whose active Secret carries another cross-signature X than the reference, or X where the reference has none', () => {
    const promoted = (name: string, activeX?: ParsedCertificate) => idle(name, { prepared: B, active: B, previous: A, bundle: [A, B], issuer: issuerFacts(I1B, B, true), ...(activeX ? { activeX } : {}) });
    const agree = compareFleetAnchors([promoted('c1', X), promoted('c2', X)]);
    expect(agree.disagreements).toEqual([]);
    expect(agree.clusters.map((c) => c.crossSignature)).toEqual([X.fingerprint, X.fingerprint]);
    const result = compareFleetAnchors([promoted('c1', X), promoted('c2', X2), promoted('c3'), promoted('c4', X)]);
    expect(result.disagreements.map((d) => [d.cluster, d.subject])).toEqual([
      ['c2', 'cross-signature'],
      ['c3', 'cross-signature'],
    ]);
    expect(result.disagreements.map((d) => d.message)).toEqual([
      `c2: active Secret carries the cross-signature X ${short(X2)}, but c1 (the reference) carries ${short(X)}: every cluster must carry the one X minted in the primary`,
      `c3: active Secret carries no cross-signature, but c1 (the reference) carries X ${short(X)}: every cluster must carry the one X minted in the primary`,
    ]);
    const extra = compareFleetAnchors([promoted('c1'), promoted('c2', X)]);
    expect(extra.disagreements.map((d) => d.message)).toEqual([`c2: active Secret carries the cross-signature X ${short(X)}, but c1 (the reference) carries none: every cluster must carry the one X minted in the primary`]);
  });

  it('compares with the first reachable cluster when the primary cannot be read, and names a bundle without the active anchor', () => {
    const result = compareFleetAnchors([{ cluster: 'c1', reachable: false, error: 'refused' }, idle('c2', { bundle: [B] }), idle('c3', { bundle: [B] })]);
    expect(result.reference).toBe('c2');
    expect(result.disagreements.map((d) => d.message)).toEqual([
      'c1: could not be read (refused); its anchors are unknown',
      `c2: bundle in namespace linkerd holds {${short(B)}}, without the active anchor ${short(A)}`,
      `c2: bundle in namespace linkerd-viz holds {${short(B)}}, without the active anchor ${short(A)}`,
      `c3: bundle in namespace linkerd holds {${short(B)}}, without the active anchor ${short(A)}`,
      `c3: bundle in namespace linkerd-viz holds {${short(B)}}, without the active anchor ${short(A)}`,
    ]);
  });
});
