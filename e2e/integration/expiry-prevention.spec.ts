// Issue 15, "Anchor about to expire", on the local cluster: the scheduled run starts a rotation by
// itself because the active anchor ends within the expiry margin, asks cert-manager for the new
// anchor (none usable waits), and finishes before the old anchor's end, with 0 failed handshakes
// under live traffic, also after that end.
//
// Setup. The mesh runs on an anchor A made here (cert-manager issues nothing shorter than an hour),
// valid ANCHOR_LIFETIME_MS from setup, in all three anchor Secrets as the runner holds them after a
// bootstrap or a finished rotation (the prepared Secret holds the active anchor), with Linkerd's
// identity issuer issued under it by cert-manager (e2e/support/short-lived-anchor.ts, shared with
// recover-expiry.spec.ts), so the bundle is A alone. No usable prepared anchor waits: the prepared
// anchor is A itself (same key). A carries the key of the prepared anchor cert-manager issued at
// install, so cert-manager, running throughout, sees a Secret whose key matches its current
// CertificateRequest and does not re-issue it (SecretPublicKeyDiffersFromCurrentCertificateRequest);
// it would renew it on its own at two thirds of A's lifetime (renewBefore 8030h exceeds it: cert-manager
// takes a third of the lifetime), about 4 minutes in, which is why A is valid from only 10 s before
// setup: the run asks first (48 s in, in the measured run), and a renewal of cert-manager's own would
// fail the assertions below (prepared anchor waiting, no renewal request). 4 meshed workloads in 2 namespaces handshake
// through simulated proxies (1-minute leaves, rustls-webpki).
//
// The run: the chart's CronJob container (its args and env, as its ServiceAccount), with no start
// flag: `rotate --only-if-older-than 720h` and the chart's default strategy (cross-signed). Chart
// values: leafLifetime 1m (the stand-ins' issuanceLifetime), phaseTimeout 3m (every gate here opens
// within about a minute; a stuck run stops soon), so a rotation needs 5 x 3m + 1m + 20s = 16m20s and
// the expiry margin is the chart's default, twice that: 32m40s, no expiryMargin value set. A ends
// within it, so the run is due by the margin alone (A is seconds old: not by age), and since A ends
// sooner than one rotation needs, the engine picks strategy restart and says why (X could not
// outlive A). restartConcurrency 1 as in zero-downtime.spec.ts (kwok marks a restarted injector
// Ready before its process serves).
//
// Times. ANCHOR_LIFETIME_MS = 6 minutes, the least that leaves a loaded machine room: in a measured
// run (2-core machine, load average about 10) setup after A was made (issuer, Linkerd, the mesh,
// first leaves, warm-up) and the controls took 48 s, the rotation 197 s (3 restarts of identity, the
// control plane and 4 workloads, one patch at a time), and it ended 115 s before A (another run:
// 182 s, 146 s before). After A's end the
// traffic runs one more leaf lifetime (every proxy renews its leaf at least once with A dead) and at
// least 200 handshakes. The spec file took 8m25s and 8m26s; its dominant cost is A's lifetime, which cannot be
// shorter than setup plus the rotation.
//
// Controls. Cheap ones here, before the run: with a margin too small (--expiry-margin 1m) the same
// run does not start a rotation, and `check` (the chart's helm test) escalates the anchor ending
// within the margin. The outage this prevents is recover-expiry.spec.ts: the same short-lived anchor
// (e2e/support/short-lived-anchor.ts) under the same traffic and no rotation records failed
// handshakes once A ends. Repeating it here would add about 4 minutes of CI
// for the same observation.
import { X509Certificate } from 'node:crypto';
import { waitFor } from '../cluster/src/index.js';
import { expectMeshRotatedTo } from '../scenarios/rotated-mesh.js';
import { fingerprintOf, fingerprintsOf } from '../support/certs.js';
import { runRunnerAsChart, type RunnerRun } from '../support/chart.js';
import { useLocalTestCluster } from '../support/local-test-cluster.js';
import { useMeshedTraffic } from '../support/meshed-traffic.js';
import { anchorPem, secretData } from '../support/objects.js';
import { rotateToDone } from '../support/rotate-to-done.js';
import { activateAnchor, makeShortLivedAnchor, p256KeyPair, trustOnly, writePrepared } from '../support/short-lived-anchor.js';

const ANCHOR_LIFETIME_MS = 6 * 60_000;
/** useMeshedTraffic's leaf lifetime (Linkerd's issuanceLifetime on the stand-ins). */
const LEAF_LIFETIME_MS = 60_000;
/** The chart's default margin for these values: 2 x (5 x phaseTimeout + leafLifetime + 20 s). */
const EXPECTED_MARGIN = '32m40s';

const testCluster = useLocalTestCluster({
  values: ['--set', 'runner.rotation.leafLifetime=1m', '--set', 'runner.rotation.phaseTimeout=3m', '--set', 'runner.rotation.restartConcurrency=1'],
});
let expiring: { anchorPem: string; fingerprint: string; notAfter: number } | undefined;

// Registered between the chart's beforeAll and useMeshedTraffic's, so the mesh starts on A.
beforeAll(async () => {
  const { cluster, names } = testCluster();
  const prepared = await secretData(cluster, names.trustNamespace, names.preparedAnchorSecret);
  const anchor = await makeShortLivedAnchor(ANCHOR_LIFETIME_MS, { keys: await p256KeyPair(prepared['tls.key'] ?? ''), validBeforeMs: 10_000 });
  expiring = { anchorPem: anchor.certPem, fingerprint: anchor.fingerprint, notAfter: anchor.cert.notAfter.getTime() };
  await activateAnchor(testCluster(), anchor);
  await writePrepared(testCluster(), anchor);
  await trustOnly(testCluster(), anchor);
}, 300_000);

const mesh = useMeshedTraffic(() => testCluster().cluster, {
  label: 'expiry-prevention',
  mesh: { namespaces: 2, workloadsPerNamespace: 2 },
  concurrency: 4,
  warmup: { handshakes: 100, before: 'the scheduled run' },
});

function runAsCronJob(args: string[], output?: string[]): Promise<RunnerRun> {
  const { cluster, rotator } = testCluster();
  return runRunnerAsChart(cluster, { kubeconfig: rotator.runnerKubeconfig, workload: 'rotate-cronjob', extraArgs: args, timeoutMs: 900_000 }).then((run) => {
    output?.push(run.stdout, run.stderr);
    return run;
  });
}

const publicKeyOf = (pem: string) => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }).toString('hex');

it('a scheduled run starts a rotation of an anchor ending within the expiry margin, gets the new anchor from cert-manager, and finishes before the old one ends, with 0 failed handshakes also after it', async () => {
  const { cluster, names } = testCluster();
  const { plane, traffic, workloads } = mesh();
  const { anchorPem: oldPem, fingerprint: old, notAfter } = expiring!;
  const seen = () => [plane.describeReadiness(), `Traffic: ${traffic.handshakes} handshakes, ${traffic.failures.length} failures; last: ${JSON.stringify(traffic.failures.at(-1) ?? null)}.`].join('\n');
  expect(Date.now()).toBeLessThan(notAfter);
  // No usable prepared anchor waits: the prepared Secret holds A.
  expect(fingerprintOf(await anchorPem(cluster, names.trustNamespace, names.preparedAnchorSecret))).toBe(old);

  // Controls: a margin too small, and the run starts nothing; `check` (the chart's helm test) escalates.
  const tooSmall = await runAsCronJob(['--expiry-margin', '1m', '--output', 'json']);
  expect(tooSmall.code).toBe(0);
  expect(JSON.parse(tooSmall.stdout)).toMatchObject({ outcome: 'not-due', message: expect.stringMatching(/no rotation due \(start policy if-due/) });
  const check = await runRunnerAsChart(cluster, { kubeconfig: testCluster().rotator.runnerKubeconfig, workload: 'helm-test', extraArgs: ['--output', 'json'] });
  expect(check.code).toBe(1);
  expect(check.stdout).toMatch(new RegExp(`active anchor ${old.slice(0, 16)} expires [^"]* within the ${EXPECTED_MARGIN} a rotation needs \\(--expiry-margin\\): the next scheduled run starts a rotation`));
  expect(fingerprintOf(await anchorPem(cluster, names.trustNamespace, names.activeAnchorSecret))).toBe(old);

  // The scheduled run, as the CronJob runs it.
  const output: string[] = [];
  const startedAt = new Date();
  const reports = await rotateToDone({ run: (args) => runAsCronJob(args, output), firstArgs: [], resumeArgs: [] });
  const finishedAt = Date.now();
  const log = output.join('\n');
  expect(reports.map((r) => r.outcome)).toEqual(['done']);
  expect(log).toMatch(new RegExp(`rotation of anchor ${old.slice(0, 16)} started \\(strategy restart\\): active anchor ${old.slice(0, 16)} ends [^ ]+, within the expiry margin ${EXPECTED_MARGIN} a rotation needs \\(--expiry-margin\\); cannot cross-sign`));
  expect(log).not.toMatch(/prepared anchor [0-9a-f]+ with a new key is waiting/);
  expect(log).toContain('renew prepared anchor (revision');
  expect(finishedAt).toBeLessThan(notAfter);

  // Done, on cert-manager's new anchor, every pod trusting only it, before A's end.
  const state = JSON.parse((await cluster.kubectl(['-n', testCluster().release.namespace, 'get', 'configmap', names.stateConfigMap, '-o', 'jsonpath={.data.state\\.json}'])).stdout) as { phase: string; last?: { from: string; to: string; strategy?: string } };
  const active = await anchorPem(cluster, names.trustNamespace, names.activeAnchorSecret);
  const renewed = await anchorPem(cluster, names.trustNamespace, names.preparedAnchorSecret);
  expect(fingerprintOf(active)).toBe(fingerprintOf(renewed));
  expect(publicKeyOf(active)).not.toBe(publicKeyOf(oldPem));
  expect(state).toMatchObject({ phase: 'Done', last: { from: old, to: fingerprintOf(active), strategy: 'restart' } });
  await expectMeshRotatedTo(testCluster(), { anchorPem: active, rotationStartedAt: startedAt, dataPlaneNamespaces: workloads.map((w) => w.namespace) });
  expect(plane.ready().map((p) => fingerprintsOf(p.roots.join('')))).toEqual(workloads.map(() => [fingerprintOf(active)]));
  expect(Date.now()).toBeLessThan(notAfter);
  const leftMs = notAfter - finishedAt;

  // After A's end: one more leaf lifetime and 200 handshakes, and no failure over the whole run.
  await waitFor(() => Date.now() >= notAfter + LEAF_LIFETIME_MS, { what: `one leaf lifetime after A's end (${new Date(notAfter).toISOString()})`, timeoutMs: notAfter + LEAF_LIFETIME_MS - Date.now() + 30_000, intervalMs: 1_000 });
  const after = traffic.handshakes;
  await waitFor(() => traffic.handshakes >= after + 200, { what: "200 more handshakes after A's end", timeoutMs: 120_000, diagnose: seen });
  expect(traffic.failures).toEqual([]);
  expect(traffic.disagreements).toBe(0);
  process.stderr.write(
    `expiry-prevention: the scheduled run rotated ${old.slice(0, 16)} -> ${fingerprintOf(active).slice(0, 16)} (strategy restart, ${workloads.length} meshed workloads and the control plane) in ${((finishedAt - startedAt.getTime()) / 1000).toFixed(1)} s, ` +
      `${(leftMs / 1000).toFixed(0)} s before the old anchor's end; ${traffic.handshakes} handshakes, ${traffic.failures.length} failed, the last ${traffic.handshakes - after}+ after a leaf lifetime past its end\n`,
  );
}, 900_000);
