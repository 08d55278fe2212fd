// The end-to-end proof (issue 6, scenarios 1 and 3): with the chart installed by helm, Linkerd's
// identity and injector running, 32 meshed workloads in 4 namespaces and mTLS handshakes between
// random pairs of simulated proxies throughout, a full anchor rotation by the runner (run as its
// CronJob would, as the chart's ServiceAccount) causes zero handshake failures; so does
// cert-manager renewing the anchor on its own, after which the runner completes the rotation.
import path from 'node:path';
import { repoRoot, waitFor } from '../cluster/src/index.js';
import { run } from '../cluster/src/kubectl.js';
import { expectMeshRotatedTo } from '../scenarios/rotated-mesh.js';
import { fingerprintOf, fingerprintsOf } from '../support/certs.js';
import { runRunnerAsChart } from '../support/chart.js';
import { cmctlRenew } from '../support/common-recipe.js';
import { useLocalTestCluster } from '../support/local-test-cluster.js';
import { useMeshedTraffic } from '../support/meshed-traffic.js';
import { secretData, trustRootsPem } from '../support/objects.js';

const testCluster = useLocalTestCluster();
const mesh = useMeshedTraffic(() => testCluster().cluster, {
  label: 'zero-downtime',
  mesh: { namespaces: 4, workloadsPerNamespace: 8 },
  concurrency: 4,
  warmup: { handshakes: 200, before: 'any rotation' },
});

async function rotate(extraArgs: string[] = []) {
  const { cluster, rotator } = testCluster();
  const run = await runRunnerAsChart(cluster, { kubeconfig: rotator.runnerKubeconfig, workload: 'rotate-cronjob', extraArgs, timeoutMs: 900_000 });
  if (run.code !== 0) throw new Error(`rotate exited ${run.code}:\n${run.stderr.slice(-4000)}${run.stdout.slice(-4000)}`);
  return run;
}

/** Final state of a rotation: one anchor everywhere, the issuer under it, every meshed pod fresh. */
async function expectRotatedTo(anchorPem: string, rotationStartedAt: Date) {
  await expectMeshRotatedTo(testCluster(), { anchorPem, rotationStartedAt, dataPlaneNamespaces: mesh().workloads.map((w) => w.namespace) });
}

async function activeAnchorPem(): Promise<string> {
  const { names } = testCluster();
  return (await secretData(testCluster(), names.trustNamespace, names.activeAnchorSecret))['tls.crt']!;
}

it('rotates the trust anchor with zero mTLS handshake failures (scenario 1)', async () => {
  const { traffic } = mesh();
  const before = await activeAnchorPem();
  const handshakesBefore = traffic.handshakes;
  const startedAt = new Date();
  await rotate(['--force']);
  const after = await activeAnchorPem();
  expect(fingerprintOf(after)).not.toBe(fingerprintOf(before));
  await expectRotatedTo(after, startedAt);
  expect(traffic.handshakes - handshakesBefore).toBeGreaterThan(100);
  expect(traffic.failures).toEqual([]);
  expect(traffic.disagreements).toBe(0);
}, 900_000);

it('survives cert-manager renewing the anchor on its own, and the runner then completes it (scenario 3)', async () => {
  const { traffic } = mesh();
  const { cluster, names } = testCluster();
  const active = await activeAnchorPem();
  await cmctlRenew(cluster, names.trustNamespace, names.preparedAnchorCertificate);
  const prepared = await waitFor(
    async () => {
      const pem = (await secretData(cluster, names.trustNamespace, names.preparedAnchorSecret))['tls.crt'];
      return pem && fingerprintOf(pem) !== fingerprintOf(active) ? pem : undefined;
    },
    { what: 'cert-manager to write a new prepared anchor', timeoutMs: 120_000 },
  );
  // trust-manager publishes {active, prepared}; nothing signs with the prepared anchor yet.
  await waitFor(async () => fingerprintsOf(await trustRootsPem(cluster)).length === 2, { what: 'the bundle to hold both anchors', timeoutMs: 120_000 });
  // No runner has run: `status` reports the prepared anchor waiting for promotion.
  expect(await runRunnerStatus()).toContain(fingerprintOf(prepared).slice(0, 16));
  expect(traffic.failures).toEqual([]);
  expect(traffic.disagreements).toBe(0);

  const startedAt = new Date();
  await rotate(['--force']);
  await expectRotatedTo(prepared, startedAt);
  expect(traffic.failures).toEqual([]);
  expect(traffic.disagreements).toBe(0);
}, 900_000);

async function runRunnerStatus(): Promise<string> {
  const { rotator, release } = testCluster();
  const res = await run(path.join(repoRoot, 'node_modules/.bin/tsx'), ['--tsconfig', path.join(repoRoot, 'tsconfig.base.json'), path.join(repoRoot, 'apps/rotation-runner/src/main.ts'), 'status', '--output', 'json'], {
    env: { ...process.env, KUBECONFIG: rotator.runnerKubeconfig, STATE_NAMESPACE: release.namespace },
    allowFailure: true,
  });
  return res.stdout;
}
