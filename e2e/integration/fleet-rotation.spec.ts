// Rotation of a fleet's shared anchor under cross-cluster traffic (issue 17, docs/multicluster.md
// "Proof"). Two local clusters side by side, east and west, each with cert-manager, trust-manager, the
// chart (webhook, exporter, runner as in the single-cluster specs), Linkerd's stand-ins and meshed
// workloads. The simulated data plane spans both: east's proxies get leaves from east's identity,
// west's from west's, and one driver makes handshakes between random pairs of all proxies, in-cluster
// and cross-cluster, each side judging the other's chain with rustls-webpki against its own roots.
//
// The control: the fleet rotated cluster by cluster with today's single-cluster runner breaks
// cross-cluster mTLS by "Why single-cluster rotation breaks a fleet", point 3. The fleet rotation
// (the fleet driver) is fleet-driver.spec.ts, on the same harness and observations
// (e2e/support/fleet.ts: useFleet, deployAfterRetire), expecting none.
import { X509Certificate } from 'node:crypto';
import { waitFor, type Cluster } from '../cluster/src/index.js';
import { fingerprintOf } from '../support/certs.js';
import { runRunnerAsChart } from '../support/chart.js';
import { type HandshakeFailure } from '../support/dataplane.js';
import {
  activeAnchor,
  deployAfterRetire,
  everyRouteHandshakes,
  expectInClusterClean,
  FLEET_MEMBERS as MEMBERS,
  handshakesByRoute,
  issuerChain,
  LEAF_LIFETIME,
  PER_ROUTE,
  short,
  useFleet,
} from '../support/fleet.js';
import { installLocalTestCluster, type LocalTestCluster } from '../support/local-test-cluster.js';
import { getJson } from '../support/objects.js';
import { objectNames } from '../support/release.js';
import { rotateToDone, type RotateRunReport } from '../support/rotate-to-done.js';

const specStartedAt = Date.now();

/**
 * The anchor east's cert-manager issued, copied into west's prepared Secret before west's chart is
 * installed (Linkerd's multicluster docs give every cluster the same anchor): west's cert-manager finds
 * a valid Secret for its Certificate and keeps it, and west's bootstrap adopts it. Then each cluster
 * holds A with a prepared Certificate of its own, as users running the product per cluster would.
 */
async function copyPreparedAnchor(from: LocalTestCluster, to: Cluster): Promise<void> {
  const { trustNamespace, preparedAnchorSecret } = objectNames;
  const secret = await getJson<{ type: string; data: Record<string, string>; metadata: { annotations?: Record<string, string>; labels?: Record<string, string> } }>(from, [
    '-n', trustNamespace, 'get', 'secret', preparedAnchorSecret,
  ]);
  const copy = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: secret.type,
    metadata: { name: preparedAnchorSecret, namespace: trustNamespace, annotations: secret.metadata.annotations ?? {}, labels: secret.metadata.labels ?? {} },
    data: secret.data,
  };
  await to.kubectl(['create', '-f', '-'], { input: JSON.stringify(copy) });
}

/** `rotate --force` on one cluster, as its CronJob runs it, then the next run after the long gate, until done. */
function rotate(member: LocalTestCluster): Promise<RotateRunReport[]> {
  return rotateToDone({
    run: (args) => runRunnerAsChart(member.cluster, { kubeconfig: member.rotator.runnerKubeconfig, workload: 'rotate-cronjob', extraArgs: [...LEAF_LIFETIME, ...args], timeoutMs: 600_000 }),
    firstArgs: ['--force'],
    resumeArgs: [],
  });
}

/**
 * webpki's refusal when the refusing pod's anchor has the refused chain's issuer name but not its key:
 * every Linkerd anchor is named root.linkerd.cluster.local (A, B1, B2 alike), so webpki takes B1 for
 * the issuer of a chain to A or B2 and its signature check fails (webpki.spec.ts, "same anchor names").
 */
const REFUSAL = 'InvalidSignatureForPublicKey';

/** The side that refused and the side whose chain it refused. */
function sides(failure: HandshakeFailure) {
  return failure.refusedBy === 'client' ? { refusing: failure.client, presenting: failure.server } : { refusing: failure.server, presenting: failure.client };
}

describe('control: each cluster rotated on its own by the single-cluster runner (docs/multicluster.md "Why single-cluster rotation breaks a fleet", point 3)', () => {
  const fleet = useFleet('fleet-rotation', async (clusters) => {
    // Both clusters run today's chart with a prepared Certificate each: east first, then west with east's anchor.
    const east = await installLocalTestCluster(clusters.east);
    await copyPreparedAnchor(east, clusters.west);
    const west = await installLocalTestCluster(clusters.west);
    if (fingerprintOf(west.rotator.anchorPem) !== fingerprintOf(east.rotator.anchorPem)) {
      throw new Error(`expected west to bootstrap east's anchor ${short(east.rotator.anchorPem)} copied into its prepared Secret, found ${short(west.rotator.anchorPem)}; west's cert-manager re-issued the copied Secret`);
    }
    return { east, west };
  });
  const { mesh } = fleet;
  let anchorA = '';
  let westIssuerA = '';
  let restartedEastPod = '';
  let anchorB1 = '';

  it('the harness: every route, in-cluster and cross-cluster, handshakes with 0 failures before any rotation; each cluster leaves from its own identity under the one anchor A', async () => {
    const { traffic, clusters } = mesh();
    await everyRouteHandshakes(mesh, {}, PER_ROUTE, 'before any rotation');
    anchorA = await activeAnchor(fleet.member('east'));
    expect(fingerprintOf(await activeAnchor(fleet.member('west')))).toBe(fingerprintOf(anchorA));
    const issuers = await Promise.all(MEMBERS.map(async (name) => (await issuerChain(fleet.member(name)))[0]!));
    westIssuerA = issuers[1]!;
    // Each cluster's own issuer, both signed by A; each plane's proxies hold leaves from its own.
    expect(new Set(issuers.map(fingerprintOf)).size).toBe(2);
    for (const issuer of issuers) expect(new X509Certificate(issuer).verify(new X509Certificate(anchorA).publicKey)).toBe(true);
    MEMBERS.forEach((name, i) => {
      expect(new Set(clusters[name].plane.ready().map((p) => p.leafIssuerFingerprint))).toEqual(new Set([fingerprintOf(issuers[i]!)]));
    });
    expect(traffic.failures).toEqual([]);
    expect(traffic.disagreements).toBe(0);
  }, 300_000);

  it("east rotated alone (cross-signed, its own B1): no failure while it rotates; then a pod restarted in east trusts only {B1} and refuses west's leaves, which chain to A; in-cluster traffic stays clean", async () => {
    const { traffic } = mesh();
    const startedAt = Date.now();
    expect((await rotate(fleet.member('east'))).map((r) => r.outcome)).toEqual(['waiting', 'done']);
    anchorB1 = await activeAnchor(fleet.member('east'));
    expect(fingerprintOf(anchorB1)).not.toBe(fingerprintOf(anchorA));
    // X1 (B1 signed by A) carries east's new leaves to west's pods, and nothing in east trusts only B1 yet.
    expect(traffic.failures).toEqual([]);
    const rotatedAt = Date.now();

    restartedEastPod = await deployAfterRetire(mesh, 'east', [anchorB1]);
    await waitFor(() => traffic.failures.length >= 10, { what: "10 handshakes refused once east's restarted pod trusts only {B1}", timeoutMs: 120_000 });
    const sinceRestart = handshakesByRoute(mesh());
    await everyRouteHandshakes(mesh, sinceRestart, PER_ROUTE, "after east's restarted pod joined");

    // Every failure is cross-cluster, and is the mechanism of point 3: east's restarted pod, trusting
    // only {B1}, refuses (REFUSAL) a west chain [leaf, west's issuer signed by A].
    const mechanism = (f: HandshakeFailure) => {
      const { refusing, presenting } = sides(f);
      return {
        refusing: `${refusing.cluster}/${refusing.namespace}/${refusing.pod}`,
        refusingRoots: f.refusedRoots,
        presenting: presenting.cluster,
        refusedChainTop: f.refusedChain?.slice(1),
        webpkiError: f.webpkiError,
      };
    };
    const failures = [...traffic.failures];
    expectInClusterClean(mesh());
    const seen = new Set(failures.map((f) => JSON.stringify(mechanism(f))));
    expect([...seen].map((m) => JSON.parse(m) as unknown)).toEqual([
      { refusing: `east/${mesh().clusters.east.workloads[0]!.namespace}/${restartedEastPod}`, refusingRoots: [short(anchorB1)], presenting: 'west', refusedChainTop: [short(westIssuerA)], webpkiError: REFUSAL },
    ]);
    // Both directions: the restarted pod refuses as a client and as a server.
    expect(new Set(failures.map((f) => f.refusedBy))).toEqual(new Set(['client', 'server']));
    expect(traffic.disagreements).toBe(0);
    process.stderr.write(
      `fleet control, east alone: rotation ${((rotatedAt - startedAt) / 1000).toFixed(0)} s with 0 failures; after one restart in east ${failures.length} cross-cluster refusals ` +
        `(${JSON.stringify(traffic.routes.get('east -> west'))} east -> west, ${JSON.stringify(traffic.routes.get('west -> east'))} west -> east)\n`,
    );
  }, 900_000);

  it("west rotated alone (its own B2): east's pod trusting only {B1} now refuses west's leaves chaining to B2 (through X2 to A); still only cross-cluster failures", async () => {
    const { traffic } = mesh();
    const failuresBefore = traffic.failures.length;
    const startedAt = Date.now();
    expect((await rotate(fleet.member('west'))).map((r) => r.outcome)).toEqual(['waiting', 'done']);
    const anchorB2 = await activeAnchor(fleet.member('west'));
    // Two different new anchors: each cluster's prepared Certificate made its own (point 1).
    expect(new Set([anchorA, anchorB1, anchorB2].map(fingerprintOf)).size).toBe(3);
    const [westIssuerB2, crossSignatureX2] = await issuerChain(fleet.member('west'));
    expect(new X509Certificate(crossSignatureX2!).verify(new X509Certificate(anchorA).publicKey)).toBe(true);
    const refusedAfterPromote = (f: HandshakeFailure) => JSON.stringify(f.refusedChain?.slice(1)) === JSON.stringify([short(westIssuerB2!), short(crossSignatureX2!)]);
    await waitFor(() => traffic.failures.slice(failuresBefore).filter(refusedAfterPromote).length >= 10, { what: "10 refusals of west's chains under B2", timeoutMs: 120_000 });

    const failures = traffic.failures.slice(failuresBefore);
    expectInClusterClean(mesh());
    const eastPod = `east/${mesh().clusters.east.workloads[0]!.namespace}/${restartedEastPod}`;
    const mechanisms = new Set(
      failures.map((f) => {
        const { refusing, presenting } = sides(f);
        const top = JSON.stringify(f.refusedChain?.slice(1));
        const chainsTo = top === JSON.stringify([short(westIssuerA)]) ? 'A' : refusedAfterPromote(f) ? 'B2 and, through X2, A' : `an unknown top ${top}`;
        return `${refusing.cluster}/${refusing.namespace}/${refusing.pod} trusting ${JSON.stringify(f.refusedRoots)} refused a ${presenting.cluster} chain to ${chainsTo}: ${f.webpkiError}`;
      }),
    );
    // West's leaves chained to A until its promotion, to B2 after it: the pod trusting {B1} refuses both, and nothing else fails.
    const trusting = `${eastPod} trusting ["${short(anchorB1)}"]`;
    expect([...mechanisms].sort()).toEqual([`${trusting} refused a west chain to A: ${REFUSAL}`, `${trusting} refused a west chain to B2 and, through X2, A: ${REFUSAL}`]);
    expect(traffic.disagreements).toBe(0);
    process.stderr.write(
      `fleet control, west alone: rotation ${((Date.now() - startedAt) / 1000).toFixed(0)} s; ${failures.length} more cross-cluster refusals; spec so far ${((Date.now() - specStartedAt) / 1000).toFixed(0)} s\n`,
    );
  }, 900_000);
});
