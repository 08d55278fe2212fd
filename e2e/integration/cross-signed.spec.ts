// The proof of issue 13 on the local cluster: under live mTLS traffic between 24 meshed workloads,
// every verdict rustls-webpki's with node:tls beside it, the default (cross-signed) rotation creates
// no data-plane pod; A -> B -> C restarts a workload untouched since A once, in C's TrustBoth; pods
// relying on X are restarted before it ends and no other; and without X the same rotation breaks mTLS.
import { X509Certificate } from 'node:crypto';
import { waitFor } from '../cluster/src/index.js';
import { expectMeshCrossSignedTo } from '../scenarios/rotated-mesh.js';
import { certificatePems, fingerprintOf } from '../support/certs.js';
import { kubectlAs, runRunnerAsChart } from '../support/chart.js';
import { cmctlRenew } from '../support/common-recipe.js';
import { useLocalTestCluster } from '../support/local-test-cluster.js';
import { useMeshedTraffic } from '../support/meshed-traffic.js';
import { anchorPem, getJson, secretData } from '../support/objects.js';
import { proxyContainer, type PodInfo } from '../support/pods.js';
import { rotateToDone, type RotateRunReport } from '../support/rotate-to-done.js';
import { watchPhases, watchPodStarts, type CreatedPod } from '../support/rotation-watch.js';

const testCluster = useLocalTestCluster();
const mesh = useMeshedTraffic(() => testCluster().cluster, {
  label: 'cross-signed',
  mesh: { namespaces: 4, workloadsPerNamespace: 6 },
  concurrency: 3,
  warmup: { handshakes: 200, before: 'the first rotation' },
});

/** Linkerd's issuanceLifetime in useMeshedTraffic: old-leaves-expired opens one leaf lifetime and the skew (20 s) after identity came back. */
const RUNNER_ARGS = ['--leaf-lifetime', '1m', '--max-concurrent-rollouts', '5'];
/** The workload no one restarts between the first two rotations (c). */
const UNTOUCHED = { namespace: 'app-ns-0', app: 'app-0' };
const idOf = (pod: Pick<CreatedPod, 'namespace' | 'app'>) => `${pod.namespace}/${pod.app ?? '?'}`;

function runOnce(args: string[]) {
  const { cluster, rotator } = testCluster();
  return runRunnerAsChart(cluster, { kubeconfig: rotator.runnerKubeconfig, workload: 'rotate-cronjob', extraArgs: [...RUNNER_ARGS, ...args], timeoutMs: 900_000 });
}

/** A rotation as the CronJob makes it: `rotate --force`, then the next run after the long gate. */
function rotate(extra: { firstArgs?: string[]; onWaiting?: (report: RotateRunReport) => Promise<void> } = {}): Promise<RotateRunReport[]> {
  return rotateToDone({ run: runOnce, firstArgs: ['--force', ...(extra.firstArgs ?? [])], resumeArgs: [], ...(extra.onWaiting ? { onWaiting: extra.onWaiting } : {}) });
}

const activeAnchor = () => anchorPem(testCluster(), testCluster().names.trustNamespace, testCluster().names.activeAnchorSecret);
const dataPlaneNamespaces = () => new Set(mesh().workloads.map((w) => w.namespace));

async function lastStrategy(): Promise<string | undefined> {
  const { cluster, release, names } = testCluster();
  const text = (await cluster.kubectl(['-n', release.namespace, 'get', 'configmap', names.stateConfigMap, '-o', 'jsonpath={.data.state\\.json}'])).stdout;
  return (JSON.parse(text) as { last?: { strategy?: string } }).last?.strategy;
}


/** expectMeshCrossSignedTo with this file's mesh, judged by its data plane; the pods relying on X. */
function expectCrossSignedTo(anchor: string, previousAnchor: string): Promise<string[]> {
  const { workloads, plane } = mesh();
  return expectMeshCrossSignedTo(testCluster(), {
    anchorPem: anchor,
    previousAnchorPem: previousAnchor,
    dataPlaneNamespaces: workloads.map((w) => w.namespace),
    proxyVerdict: (pod) => plane.leafVerdict(pod),
  });
}

/** The pod's proxy reads its trust anchors from the trust-roots ConfigMap (configMapKeyRef), not a literal. */
async function readsBundleThroughConfigMap(pod: CreatedPod): Promise<boolean> {
  const info = await getJson<PodInfo>(testCluster(), ['-n', pod.namespace, 'get', 'pod', pod.name]);
  const anchors = proxyContainer(info)?.env?.find((e) => e.name === 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS');
  return (anchors?.valueFrom as { configMapKeyRef?: unknown } | undefined)?.configMapKeyRef !== undefined;
}

function expectNoFailures() {
  const { traffic } = mesh();
  expect(traffic.failures).toEqual([]);
  expect(traffic.disagreements).toBe(0);
  expect(mesh().plane.events.filter((e) => e.event.startsWith('leaf refused'))).toEqual([]);
}

/** Every meshed workload has a ready proxy again (after restarts the test made itself). */
async function proxiesReady(what: string) {
  const { plane, workloads } = mesh();
  await waitFor(() => plane.ready().length === workloads.length, { what: `${workloads.length} simulated proxies ready ${what}`, timeoutMs: 180_000, diagnose: () => plane.describeReadiness() });
}

let anchorA = '';
let anchorB = '';
let anchorC = '';

it('rotates A -> B under the default strategy: no data-plane pod created, identity restarted only, 0 failed handshakes (a)', async () => {
  const { cluster } = testCluster();
  const { traffic, workloads } = mesh();
  anchorA = await activeAnchor();
  const handshakesBefore = traffic.handshakes;
  const startedAt = Date.now();
  const starts = watchPodStarts(cluster, startedAt);
  const phases = watchPhases(cluster);
  const reports = await rotate({
    onWaiting: async (report) => {
      // Parked on the long gate after promotion, as the next CronJob run will find it.
      expect(report.phase).toBe('Promote');
      expect(fingerprintOf(await activeAnchor())).not.toBe(fingerprintOf(anchorA));
    },
  });
  await starts.stop();
  await phases.stop();
  anchorB = await activeAnchor();
  expect(reports.map((r) => r.outcome)).toEqual(['waiting', 'done']);
  expect(await lastStrategy()).toBe('cross-signed');
  expect(fingerprintOf(anchorB)).not.toBe(fingerprintOf(anchorA));

  expect(starts.count({ namespaces: dataPlaneNamespaces(), inside: true })).toBe(0);
  const controlPlane = starts.created.filter((p) => !dataPlaneNamespaces().has(p.namespace));
  expect(controlPlane.filter((p) => p.component === 'identity').length).toBeGreaterThanOrEqual(1);
  // The first rotation of an install: the runner first records the trust-roots bundle when it starts
  // (state knownBundles), so Linkerd's control-plane pods that read it through configMapKeyRef and
  // started before have unknown trust, and TrustBoth restarts them (trustEitherFreshness). Only
  // those, only then: from the second rotation on, identity alone is restarted (c).
  const unknownTrust = controlPlane.filter((p) => p.component !== 'identity');
  expect(await Promise.all(unknownTrust.map((p) => readsBundleThroughConfigMap(p)))).toEqual(unknownTrust.map(() => true));
  const promotedSeenAt = phases.phases.find((p) => p.phase === 'Promote')?.at ?? Number.POSITIVE_INFINITY;
  expect(unknownTrust.filter((p) => p.createdAt >= promotedSeenAt).map((p) => p.name)).toEqual([]);

  expect(traffic.handshakes - handshakesBefore).toBeGreaterThan(100);
  expectNoFailures();
  const relying = await expectCrossSignedTo(anchorB, anchorA);
  // Every data-plane pod started on {A} before the rotation and still runs: each relies on X.
  expect(relying.length).toBe(workloads.length);
  process.stderr.write(
    `cross-signed A -> B: ${((Date.now() - startedAt) / 1000).toFixed(0)} s over ${reports.length} runs, ${traffic.handshakes - handshakesBefore} handshakes, ` +
      `0 data-plane pods created, ${controlPlane.length - unknownTrust.length} identity and ${unknownTrust.length} other control-plane (${unknownTrust.map((p) => p.component).join(', ')}) pods created, ${relying.length} pods relying on X\n`,
  );
}, 900_000);

it('A -> B -> C: a workload never restarted since A is restarted exactly once, in C TrustBoth before C is promoted; the rest are not (c)', async () => {
  const { cluster } = testCluster();
  const { workloads } = mesh();
  // Ordinary deploys between the rotations: every workload but one restarts onto the bundle {B}.
  for (const namespace of dataPlaneNamespaces()) {
    const names = workloads.filter((w) => w.namespace === namespace && !(namespace === UNTOUCHED.namespace && w.name === UNTOUCHED.app)).map((w) => `deployment/${w.name}`);
    await cluster.kubectl(['-n', namespace, 'rollout', 'restart', ...names]);
    for (const name of names) await cluster.kubectl(['-n', namespace, 'rollout', 'status', name, '--timeout=180s']);
  }
  await proxiesReady('after the deploys between the rotations');

  const startedAt = Date.now();
  const starts = watchPodStarts(cluster, startedAt);
  const phases = watchPhases(cluster);
  const reports = await rotate();
  await starts.stop();
  await phases.stop();
  anchorC = await activeAnchor();
  expect(reports.map((r) => r.outcome)).toEqual(['waiting', 'done']);
  expect(fingerprintOf(anchorC)).not.toBe(fingerprintOf(anchorB));

  const dataPlane = starts.created.filter((p) => dataPlaneNamespaces().has(p.namespace));
  expect(dataPlane.map(idOf)).toEqual([idOf(UNTOUCHED)]);
  // Identity, and no other control-plane pod: the runner has known the bundle since the first rotation.
  const controlPlane = starts.created.filter((p) => !dataPlaneNamespaces().has(p.namespace));
  expect(controlPlane.length).toBeGreaterThanOrEqual(1);
  expect(controlPlane.filter((p) => p.component !== 'identity').map((p) => `${p.namespace}/${p.name}`)).toEqual([]);
  const promotedSeenAt = phases.phases.find((p) => p.phase === 'Promote')?.at;
  const trustBothSeenAt = phases.phases.find((p) => p.phase === 'TrustBoth')?.at;
  expect(promotedSeenAt).toBeDefined();
  // creationTimestamp has whole seconds: created in the second TrustBoth was seen or later, before Promote was.
  expect(dataPlane[0]!.createdAt).toBeGreaterThanOrEqual(Math.floor(trustBothSeenAt! / 1000) * 1000);
  expect(dataPlane[0]!.createdAt).toBeLessThan(promotedSeenAt!);
  expectNoFailures();
  const relying = await expectCrossSignedTo(anchorC, anchorB);
  // The deployed workloads trust only B and reach C's issuer through X; the untouched one trusts B and C.
  expect(relying.length).toBe(workloads.length - 1);
}, 900_000);

it('restarts exactly the pods relying on X once the margin before its end is reached, and no other pod (d)', async () => {
  const { cluster } = testCluster();
  // A pod's Deployment, as namespace/name (the pods here are all Deployments').
  const ownerOf = (pod: string) => pod.replace(/-[a-z0-9]+-[a-z0-9]+$/, '');
  const relying = (await expectCrossSignedTo(anchorC, anchorB)).map(ownerOf);
  const crossSignature = certificatePems((await secretData(cluster, testCluster().names.linkerdNamespace, testCluster().names.issuerSecret))['tls.crt']!).slice(1).map((pem) => new X509Certificate(pem));
  expect(crossSignature).toHaveLength(1);
  const endsAt = new Date(crossSignature[0]!.validTo).getTime();

  // A run with the default margin (7 days) before X's end restarts nothing.
  const quietStarts = watchPodStarts(cluster, Date.now());
  const quiet = await runOnce(['--output', 'json']);
  await quietStarts.stop();
  expect(quiet.code).toBe(0);
  expect(quietStarts.created).toEqual([]);

  // The runner's own account of who relies on X (`check`, as helm test runs it): the data plane's
  // pods above, and the control-plane pods whose proxies started on {B} (configMapKeyRef, resolved at
  // start) and that no rotation since restarted; they rely on X just the same and are restarted too.
  const check = await runRunnerAsChart(cluster, { kubeconfig: testCluster().rotator.runnerKubeconfig, workload: 'helm-test', extraArgs: ['--output', 'json'] });
  const listed = (JSON.parse(check.stdout) as { pods: { relyingOnCrossSignature: Array<{ pod: string }> } }).pods.relyingOnCrossSignature.map((r) => r.pod);
  const inDataPlane = (pod: string) => dataPlaneNamespaces().has(pod.split('/')[0]!);
  expect(listed.filter(inDataPlane).map(ownerOf).sort()).toEqual([...relying].sort());
  const controlPlaneRelying = listed.filter((pod) => !inDataPlane(pod)).map(ownerOf).sort();
  for (const pod of controlPlaneRelying) expect(pod.startsWith(`${testCluster().names.linkerdNamespace}/`)).toBe(true);

  // A margin longer than X has left: the window before X's end is open now, as it will be on the
  // scheduled run that falls inside it; that run restarts the pods relying on X, before X ends.
  const marginHours = Math.ceil((endsAt - Date.now()) / 3_600_000) + 24;
  const startedAt = Date.now();
  const starts = watchPodStarts(cluster, startedAt);
  // A phase timeout well inside the test's: a gate that never opens stops the run, and the error
  // below shows the runner's own account of it instead of a test timeout.
  const due = await runOnce(['--cross-sign-margin', `${marginHours}h`, '--phase-timeout', '8m', '--output', 'json']);
  await starts.stop();
  if (due.code !== 0) throw new Error(`rotate exited ${due.code}:\n${due.stderr.slice(-4000)}${due.stdout.slice(-2000)}`);
  const restarted = starts.created.filter((p) => dataPlaneNamespaces().has(p.namespace)).map(idOf).sort();
  expect(restarted).toEqual(relying.sort());
  expect(starts.created.filter((p) => !dataPlaneNamespaces().has(p.namespace)).map((p) => ownerOf(`${p.namespace}/${p.name}`)).sort()).toEqual(controlPlaneRelying);
  expect(Date.now()).toBeLessThan(endsAt);
  await proxiesReady('after the restarts of pods relying on X');

  // Nobody relies on X now; the same run again restarts nothing.
  const none = await expectCrossSignedTo(anchorC, anchorB);
  expect(none).toEqual([]);
  const againStarts = watchPodStarts(cluster, Date.now());
  const again = await runOnce(['--cross-sign-margin', `${marginHours}h`, '--output', 'json']);
  await againStarts.stop();
  expect(again.code).toBe(0);
  expect(againStarts.created).toEqual([]);
  expectNoFailures();
}, 900_000);

it('control: the same rotation with X left out of the issuer chain and no restarts breaks mTLS, by webpki (b)', async () => {
  const { cluster, names, rotator } = testCluster();
  const { traffic, plane, workloads } = mesh();
  const failuresBefore = traffic.failures.length;
  // Run C -> D until it parks on old-leaves-expired: D is promoted, the issuer chain is [I_D, X].
  const first = await runOnce(['--force', '--output', 'json']);
  const report = JSON.parse(first.stdout) as RotateRunReport;
  expect(report).toMatchObject({ outcome: 'waiting', phase: 'Promote' });
  expectNoFailures();

  // An ordinary deploy: one workload restarts onto the bundle {C, D} and accepts leaves under D alone.
  const deployed = workloads.find((w) => w.namespace !== UNTOUCHED.namespace)!;
  await cluster.kubectl(['-n', deployed.namespace, 'rollout', 'restart', `deployment/${deployed.name}`]);
  await cluster.kubectl(['-n', deployed.namespace, 'rollout', 'status', `deployment/${deployed.name}`, '--timeout=180s']);
  await proxiesReady('after the deploy during the control');

  // Leave X out: the active Secret's tls.crt becomes D alone (its key and anchor.crt kept), and the
  // identity issuer is renewed from it, as `cmctl renew` would. Nothing is restarted.
  const eventsBefore = plane.events.length;
  const active = await secretData(cluster, names.trustNamespace, names.activeAnchorSecret);
  const anchorD = await activeAnchor();
  expect(certificatePems(active['tls.crt']!).map(fingerprintOf)).not.toEqual([fingerprintOf(anchorD)]);
  // As the runner: the chart's anchor guard refuses anyone else's write to the active Secret.
  const patched = await kubectlAs(cluster, rotator.runnerKubeconfig)(['-n', names.trustNamespace, 'patch', 'secret', names.activeAnchorSecret, '--type=merge', '-p', JSON.stringify({ data: { 'tls.crt': Buffer.from(anchorD).toString('base64') } })]);
  expect(patched.stderr).toBe('');
  const issuerBefore = (await secretData(cluster, names.linkerdNamespace, names.issuerSecret))['tls.crt']!;
  await cmctlRenew(cluster, names.linkerdNamespace, names.issuerCertificate);
  await waitFor(
    async () => {
      const chain = (await secretData(cluster, names.linkerdNamespace, names.issuerSecret))['tls.crt']!;
      return chain !== issuerBefore && certificatePems(chain).length === 1;
    },
    { what: 'cert-manager to renew the identity issuer without X in its chain', timeoutMs: 120_000 },
  );

  // Proxies renew their 1-minute leaves within ~42 s: those trusting only C refuse the new leaves and
  // refuse the deployed pod's chain; webpki says why.
  const refusals = new Set(['UnknownIssuer', 'InvalidSignatureForPublicKey']);
  const refusedLeaf = /^leaf refused: webpki (UnknownIssuer|InvalidSignatureForPublicKey)/;
  await waitFor(() => traffic.failures.slice(failuresBefore).some((f) => refusals.has(f.webpkiError ?? '')) && plane.events.slice(eventsBefore).some((e) => refusedLeaf.test(e.event)), {
    what: 'a handshake and a renewed leaf refused by webpki (UnknownIssuer or InvalidSignatureForPublicKey) without X',
    timeoutMs: 240_000,
  });
  const failures = traffic.failures.slice(failuresBefore);
  const byWebpki = failures.filter((f) => refusals.has(f.webpkiError ?? ''));
  const leafRefusals = plane.events.slice(eventsBefore).filter((e) => refusedLeaf.test(e.event));
  expect(byWebpki.length).toBeGreaterThan(0);
  expect(leafRefusals.length).toBeGreaterThan(0);
  expect(traffic.disagreements).toBe(0);
  const pods = await getJson<{ items: unknown[] }>(cluster, ['get', 'pods', '-A', '-l', `linkerd.io/control-plane-ns=${names.linkerdNamespace}`]);
  process.stderr.write(
    `control without X: ${failures.length} failed handshakes (${byWebpki.length} refused by webpki: ${[...new Set(byWebpki.map((f) => f.webpkiError))].join(', ')}), ` +
      `${leafRefusals.length} leaves refused, ${pods.items.length} meshed pods, 0 restarted by the control\n`,
  );
}, 900_000);
