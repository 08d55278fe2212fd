// The end-to-end proof (issue 6, scenarios 1 and 3): with the chart installed by helm, Linkerd's
// identity and injector running, 32 meshed workloads in 4 namespaces and mTLS handshakes between
// random pairs of simulated proxies throughout, a full anchor rotation by the runner (run as its
// CronJob would, as the chart's ServiceAccount) causes zero handshake failures; so does
// cert-manager renewing the anchor on its own, after which the runner completes the rotation.
import { createHash, X509Certificate } from 'node:crypto';
import { installLinkerd } from '../cluster/src/linkerd/install.js';
import { waitFor } from '../cluster/src/index.js';
import { installRotator, names, runRunnerAsChart, secretData, trustRootsPem, type RotatorRelease } from '../support/chart.js';
import { useCluster } from '../support/cluster.js';
import { cmctlRenew } from '../support/common-recipe.js';
import { DataPlane, TrafficDriver } from '../support/dataplane.js';
import { createMeshedWorkloads, type MeshedWorkload } from '../support/mesh.js';

const testCluster = useCluster();
let rotator: RotatorRelease;
let plane: DataPlane;
let traffic: TrafficDriver;
let workloads: MeshedWorkload[];

const pemBlocks = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
const fp = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');

beforeAll(async () => {
  const cluster = testCluster();
  rotator = await installRotator(cluster);
  const linkerd = await installLinkerd(cluster, { issuanceLifetime: '1m0s' });
  workloads = await createMeshedWorkloads(cluster, { namespaces: 4, workloadsPerNamespace: 8 });
  plane = new DataPlane(cluster.kubeConfig(), linkerd.identityAddr);
  await plane.start();
  await waitFor(() => plane.ready().length === workloads.length, { what: `${workloads.length} simulated proxies with leaves`, timeoutMs: 180_000 });
  traffic = new TrafficDriver(plane, { concurrency: 4 });
  traffic.start();
  await waitFor(() => traffic.handshakes >= 200, { what: '200 handshakes before any rotation', timeoutMs: 120_000 });
}, 900_000);

afterAll(async () => {
  const result = await traffic?.stop();
  await plane?.stop();
  if (result) process.stderr.write(`zero-downtime: ${result.handshakes} handshakes, ${result.failures.length} failures, ${result.timeouts.length} timeouts (overload, not rejections)\n`);
});

async function rotate(extraArgs: string[] = []) {
  const run = await runRunnerAsChart(testCluster(), { kubeconfig: rotator.runnerKubeconfig, workload: 'rotate-cronjob', extraArgs, timeoutMs: 900_000 });
  if (run.code !== 0) throw new Error(`rotate exited ${run.code}:\n${run.stderr.slice(-4000)}${run.stdout.slice(-4000)}`);
  return run;
}

/** Final state of a rotation: one anchor everywhere, the issuer under it, every meshed pod fresh. */
async function expectRotatedTo(anchorPem: string, rotationStartedAt: Date) {
  const cluster = testCluster();
  const bundle = await trustRootsPem(cluster);
  expect(pemBlocks(bundle).map(fp)).toEqual([fp(anchorPem)]);
  const issuer = await secretData(cluster, names.linkerdNs, names.issuer);
  expect(new X509Certificate(issuer['tls.crt']!).verify(new X509Certificate(anchorPem).publicKey)).toBe(true);
  const hash = createHash('sha256').update(bundle).digest('hex');
  const pods = JSON.parse((await cluster.kubectl(['get', 'pods', '-A', '-l', 'linkerd.io/control-plane-ns=linkerd', '-o', 'json'])).stdout) as {
    items: { metadata: { namespace: string; name: string; creationTimestamp: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string } }[];
  };
  const live = pods.items.filter((p) => !p.metadata.deletionTimestamp);
  const id = (p: (typeof live)[number]) => `${p.metadata.namespace}/${p.metadata.name}`;
  // Control-plane pods read the bundle through configMapKeyRef (their annotation hashes the empty
  // chart value under externalCA): fresh means started during this rotation.
  const controlPlane = live.filter((p) => p.metadata.labels?.['linkerd.io/control-plane-component']);
  const dataPlane = live.filter((p) => !p.metadata.labels?.['linkerd.io/control-plane-component']);
  expect(dataPlane.length).toBe(workloads.length);
  expect(dataPlane.filter((p) => p.metadata.annotations?.['linkerd.io/trust-root-sha256'] !== hash).map(id)).toEqual([]);
  expect(controlPlane.length).toBeGreaterThanOrEqual(3);
  expect(controlPlane.filter((p) => new Date(p.metadata.creationTimestamp).getTime() < Math.floor(rotationStartedAt.getTime() / 1000) * 1000).map(id)).toEqual([]);
}

it('rotates the trust anchor with zero mTLS handshake failures (scenario 1)', async () => {
  const cluster = testCluster();
  const before = (await secretData(cluster, names.trustNs, names.active))['tls.crt']!;
  const handshakesBefore = traffic.handshakes;
  const startedAt = new Date();
  await rotate(['--force']);
  const after = (await secretData(cluster, names.trustNs, names.active))['tls.crt']!;
  expect(fp(after)).not.toBe(fp(before));
  await expectRotatedTo(after, startedAt);
  expect(traffic.handshakes - handshakesBefore).toBeGreaterThan(100);
  expect(traffic.failures).toEqual([]);
}, 900_000);

it('survives cert-manager renewing the anchor on its own, and the runner then completes it (scenario 3)', async () => {
  const cluster = testCluster();
  const active = (await secretData(cluster, names.trustNs, names.active))['tls.crt']!;
  await cmctlRenew(cluster, names.trustNs, 'linkerd-trust-anchor');
  const prepared = await waitFor(
    async () => {
      const pem = (await secretData(cluster, names.trustNs, 'linkerd-trust-anchor'))['tls.crt'];
      return pem && fp(pem) !== fp(active) ? pem : undefined;
    },
    { what: 'cert-manager to write a new prepared anchor', timeoutMs: 120_000 },
  );
  // trust-manager publishes {active, prepared}; nothing signs with the prepared anchor yet.
  await waitFor(async () => pemBlocks(await trustRootsPem(cluster)).length === 2, { what: 'the bundle to hold both anchors', timeoutMs: 120_000 });
  // No runner has run: `status` reports the prepared anchor waiting for promotion.
  expect(await runRunnerStatus()).toContain(fp(prepared).slice(0, 16));
  expect(traffic.failures).toEqual([]);

  const startedAt = new Date();
  await rotate(['--force']);
  await expectRotatedTo(prepared, startedAt);
  expect(traffic.failures).toEqual([]);
}, 900_000);

async function runRunnerStatus(): Promise<string> {
  const { run } = await import('../cluster/src/kubectl.js');
  const { repoRoot } = await import('../cluster/src/index.js');
  const path = await import('node:path');
  const res = await run(path.join(repoRoot, 'node_modules/.bin/tsx'), ['--tsconfig', path.join(repoRoot, 'tsconfig.base.json'), path.join(repoRoot, 'apps/rotation-runner/src/main.ts'), 'status', '--output', 'json'], {
    env: { ...process.env, KUBECONFIG: rotator.runnerKubeconfig, STATE_NAMESPACE: 'linkerd-rotator' },
    allowFailure: true,
  });
  return res.stdout;
}
