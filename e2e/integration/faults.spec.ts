// Scenario 4 faults not covered in rotation.spec.ts, under live mTLS traffic: trust-manager stopped
// while a rotation waits for the new bundle. The runner must wait on the observed bundle (never a
// timer), resume when trust-manager is back, and finish with zero failed handshakes.
import { createHash, X509Certificate } from 'node:crypto';
import { installLinkerd } from '../cluster/src/linkerd/install.js';
import { waitFor } from '../cluster/src/index.js';
import { installRotator, names, runRunnerAsChart, secretData, trustRootsPem, type RotatorRelease } from '../support/chart.js';
import { useCluster } from '../support/cluster.js';
import { DataPlane, TrafficDriver } from '../support/dataplane.js';
import { createMeshedWorkloads } from '../support/mesh.js';

const testCluster = useCluster();
let rotator: RotatorRelease;
let plane: DataPlane;
let traffic: TrafficDriver;

const pemBlocks = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
const fp = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');

beforeAll(async () => {
  const cluster = testCluster();
  rotator = await installRotator(cluster);
  const linkerd = await installLinkerd(cluster, { issuanceLifetime: '1m0s' });
  const workloads = await createMeshedWorkloads(cluster, { namespaces: 2, workloadsPerNamespace: 5 });
  plane = new DataPlane(cluster.kubeConfig(), linkerd.identityAddr);
  await plane.start();
  await waitFor(() => plane.ready().length === workloads.length, { what: `${workloads.length} simulated proxies with leaves`, timeoutMs: 180_000 });
  traffic = new TrafficDriver(plane, { concurrency: 3 });
  traffic.start();
  await waitFor(() => traffic.handshakes >= 100, { what: '100 handshakes before the fault', timeoutMs: 120_000 });
}, 900_000);

afterAll(async () => {
  const result = await traffic?.stop();
  await plane?.stop();
  if (result) process.stderr.write(`faults: ${result.handshakes} handshakes, ${result.failures.length} failures, ${result.timeouts.length} timeouts (overload, not rejections)\n`);
});

it('waits for the bundle while trust-manager is down, resumes when it is back, and finishes with zero mTLS failures', async () => {
  const cluster = testCluster();
  const before = (await secretData(cluster, names.trustNs, names.active))['tls.crt']!;
  await cluster.stopComponent('trust-manager');
  let output = '';
  const rotation = runRunnerAsChart(cluster, {
    kubeconfig: rotator.runnerKubeconfig,
    workload: 'rotate-cronjob',
    extraArgs: ['--force'],
    timeoutMs: 900_000,
    onOutput: (chunk) => (output += chunk),
  });
  // The new anchor is prepared, but no bundle can carry it while trust-manager is down.
  await waitFor(
    async () => {
      const prepared = (await secretData(cluster, names.trustNs, names.prepared))['tls.crt']!;
      return fp(prepared) !== fp(before) && /"gate":"[^"]*bundle/i.test(output);
    },
    { what: 'the runner to wait on the bundle gate with a new prepared anchor', timeoutMs: 300_000 },
  );
  expect(pemBlocks(await trustRootsPem(cluster)).map(fp)).toEqual([fp(before)]);
  expect(traffic.failures).toEqual([]);

  await cluster.startComponent('trust-manager');
  const run = await rotation;
  if (run.code !== 0) throw new Error(`rotate exited ${run.code}:\n${run.stderr.slice(-3000)}${run.stdout.slice(-3000)}`);
  const after = (await secretData(cluster, names.trustNs, names.active))['tls.crt']!;
  expect(fp(after)).not.toBe(fp(before));
  expect(pemBlocks(await trustRootsPem(cluster)).map(fp)).toEqual([fp(after)]);
  expect(traffic.failures).toEqual([]);
}, 900_000);
