// Scenario 4 faults not covered in rotation.spec.ts, under live mTLS traffic: trust-manager stopped
// while a rotation (the default strategy, cross-signed) waits for the new bundle. The runner must
// wait on the observed bundle (never a timer), resume when trust-manager is back, park on the long
// gate, and the next run (as the CronJob's) finishes, with zero failed handshakes throughout.
import { waitFor } from '../cluster/src/index.js';
import { fingerprintOf, fingerprintsOf } from '../support/certs.js';
import { runRunnerAsChart } from '../support/chart.js';
import { useLocalTestCluster } from '../support/local-test-cluster.js';
import { useMeshedTraffic } from '../support/meshed-traffic.js';
import { anchorPem, trustRootsPem } from '../support/objects.js';
import { rotateToDone, type RotateRunReport } from '../support/rotate-to-done.js';

const testCluster = useLocalTestCluster();
const mesh = useMeshedTraffic(() => testCluster().cluster, {
  label: 'faults',
  mesh: { namespaces: 2, workloadsPerNamespace: 5 },
  concurrency: 3,
  warmup: { handshakes: 100, before: 'the fault' },
});

it('waits for the bundle while trust-manager is down, resumes when it is back, and finishes with zero mTLS failures', async () => {
  const { cluster, rotator, names } = testCluster();
  const { traffic } = mesh();
  const anchorIn = (secret: string) => anchorPem(cluster, names.trustNamespace, secret);
  // useMeshedTraffic's leaves live one minute: the runner is told, so the long gate is short.
  const leafLifetime = ['--leaf-lifetime', '1m'];
  const before = await anchorIn(names.activeAnchorSecret);
  await cluster.stopComponent('trust-manager');
  let output = '';
  const rotation = runRunnerAsChart(cluster, {
    kubeconfig: rotator.runnerKubeconfig,
    workload: 'rotate-cronjob',
    extraArgs: ['--force', ...leafLifetime, '--output', 'json'],
    timeoutMs: 900_000,
    onOutput: (chunk) => (output += chunk),
  });
  // The new anchor is prepared, but no bundle can carry it while trust-manager is down.
  await waitFor(
    async () => fingerprintOf(await anchorIn(names.preparedAnchorSecret)) !== fingerprintOf(before) && /"gate":"[^"]*bundle/i.test(output),
    { what: 'the runner to wait on the bundle gate with a new prepared anchor', timeoutMs: 300_000 },
  );
  expect(fingerprintsOf(await trustRootsPem(cluster))).toEqual([fingerprintOf(before)]);
  expect(traffic.failures).toEqual([]);
  expect(traffic.disagreements).toBe(0);

  await cluster.startComponent('trust-manager');
  const run = await rotation;
  if (run.code !== 0) throw new Error(`rotate exited ${run.code}:\n${run.stderr.slice(-3000)}${run.stdout.slice(-3000)}`);
  // Cross-signed parks on old-leaves-expired after promotion; the next run resumes it and retires A.
  expect((JSON.parse(run.stdout) as RotateRunReport).outcome).toBe('waiting');
  const resumed = await rotateToDone({
    run: (args) => runRunnerAsChart(cluster, { kubeconfig: rotator.runnerKubeconfig, workload: 'rotate-cronjob', extraArgs: [...leafLifetime, ...args], timeoutMs: 900_000 }),
    firstArgs: [],
    resumeArgs: [],
  });
  expect(resumed.at(-1)?.outcome).toBe('done');
  const after = await anchorIn(names.activeAnchorSecret);
  expect(fingerprintOf(after)).not.toBe(fingerprintOf(before));
  expect(fingerprintsOf(await trustRootsPem(cluster))).toEqual([fingerprintOf(after)]);
  expect(traffic.failures).toEqual([]);
  expect(traffic.disagreements).toBe(0);
}, 900_000);
