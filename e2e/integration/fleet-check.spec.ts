// `rotator check --fleet` against two real local clusters (issue 17, docs/multicluster.md): each with
// cert-manager, trust-manager and the chart. The primary (east, fleet.role=primary) bootstraps its
// anchor A from its own prepared Certificate; the member (west, fleet.role=member,
// pki.trustAnchor.enabled=false: no prepared Certificate) gets A's Secrets as the design's table says a
// member holds them, written as west's runner ServiceAccount as the fleet driver writes them; west's
// guards refuse that ServiceAccount a prepared Secret with a key, and anyone else any write of it.
// Then: both trust bundles
// hold A (exit 0), and each cluster's exporter labels its series cluster="<fleet.clusterName>"; west's
// Secrets hold another anchor C (exit 1, naming west); west's API server stopped (exit 4, naming west).
// The runner and the exporter run from source with the chart's env, as the other specs do.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, startCluster, stopCluster, type Cluster } from '../cluster/src/index.js';
import { run, type RunResult } from '../cluster/src/kubectl.js';
import { makeCa } from '../cluster/src/pki.js';
import { fingerprintOf } from '../support/certs.js';
import { installChartForRunner, serviceAccountKubeconfig, startChartExporter, waitForTrustRoots, type RunnerOnlyRelease } from '../support/chart.js';
import { anchorSecret, list, writeFleetKubeconfig, writeMemberAnchor } from '../support/fleet.js';
import { anchorPem, secretData } from '../support/objects.js';
import { objectNames, releaseObjects } from '../support/release.js';

const { trustNamespace: TRUST_NS } = objectNames;
const names = [`t-fleet-east-${process.pid}`, `t-fleet-west-${process.pid}`] as const;
let east: Cluster;
let west: Cluster;
let eastRelease: RunnerOnlyRelease;
let westRelease: RunnerOnlyRelease;
let dir: string;
let fleetKubeconfig: string;
let anchorA: string;

interface FleetJson {
  agree: boolean;
  reference?: string;
  clusters: Array<{ cluster: string; reachable: boolean; active?: string; error?: string }>;
  disagreements: Array<{ cluster: string; subject: string; message: string }>;
}

/** `rotator <args>` from source with the chart's env (both releases render the same), as the runner's pods run it. */
function rotator(args: string[], kubeconfig: string): Promise<RunResult> {
  const tsx = path.join(repoRoot, 'node_modules/.bin/tsx');
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], ...eastRelease.chartEnv, LOG_FORMAT: 'json', KUBECONFIG: kubeconfig };
  return run(tsx, ['--tsconfig', path.join(repoRoot, 'tsconfig.base.json'), path.join(repoRoot, 'apps/rotation-runner/src/main.ts'), ...args], { env, allowFailure: true, timeoutMs: 90_000 });
}

async function checkFleet(extraArgs: string[] = []): Promise<{ result: RunResult; report: FleetJson }> {
  const result = await rotator(['check', '--fleet', '--primary', 'east', '--member', 'west', '--kubeconfig', fleetKubeconfig, '--output', 'json', ...extraArgs], fleetKubeconfig);
  let report: FleetJson;
  try {
    report = JSON.parse(result.stdout) as FleetJson;
  } catch {
    throw new Error(`check --fleet exited ${result.code} without a JSON report:\n${result.stdout}${result.stderr.slice(-3000)}`);
  }
  return { result, report };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-check-'));
  [east, west] = await Promise.all([startCluster({ name: names[0] }), startCluster({ name: names[1] })]);
  [eastRelease, westRelease] = await Promise.all([
    installChartForRunner(east, { timeoutSeconds: 120, values: ['fleet.clusterName=east', 'fleet.role=primary'] }),
    installChartForRunner(west, { timeoutSeconds: 120, values: ['fleet.clusterName=west', 'fleet.role=member', 'pki.trustAnchor.enabled=false'] }),
  ]);
  // The primary adopts its prepared anchor A; the member gets A as the fleet driver would write it.
  const boot = await rotator(['bootstrap'], eastRelease.runnerKubeconfig);
  if (boot.code !== 0) throw new Error(`rotator bootstrap on east exited ${boot.code}:\n${boot.stderr.slice(-3000)}`);
  const active = await secretData(east, TRUST_NS, objectNames.activeAnchorSecret);
  anchorA = await anchorPem(east, TRUST_NS, objectNames.activeAnchorSecret);
  await writeMemberAnchor(west, westRelease.runnerKubeconfig, { certPem: anchorA, keyPem: active['tls.key']! }, 'create');
  await Promise.all([
    waitForTrustRoots(east, [anchorA], 'trust-manager to publish A to east'),
    waitForTrustRoots(west, [anchorA], 'trust-manager to publish A to west'),
  ]);
  fleetKubeconfig = writeFleetKubeconfig(dir, {
    east: await serviceAccountKubeconfig(east, releaseObjects.runnerServiceAccount),
    west: await serviceAccountKubeconfig(west, releaseObjects.runnerServiceAccount),
  });
}, 300_000);

afterAll(async () => {
  await Promise.all(names.map((name) => stopCluster(name)));
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('check --fleet on two local clusters', () => {
  it('agrees when both clusters hold the same anchor in their Secrets and trust bundles (exit 0)', async () => {
    const { result, report } = await checkFleet();
    expect(report.disagreements).toEqual([]);
    expect(report.clusters.map((c) => [c.cluster, c.reachable, c.active])).toEqual([
      ['east', true, fingerprintOf(anchorA)],
      ['west', true, fingerprintOf(anchorA)],
    ]);
    expect(result.code).toBe(0);
  });

  it("lets the member's runner ServiceAccount write its prepared Secret only without a private key, and no one else write it (the member role's anchor guard)", async () => {
    const keyPem = (await secretData(east, TRUST_NS, objectNames.activeAnchorSecret))['tls.key']!;
    // Opaque as created: a Secret's type cannot change, and the API server would refuse that before admission.
    const prepared = (data: Record<string, string>) => ({ input: list(anchorSecret(objectNames.preparedAnchorSecret, 'Opaque', data)), allowFailure: true });
    const asRunner = (data: Record<string, string>) => west.kubectl([`--kubeconfig=${westRelease.runnerKubeconfig}`, 'replace', '-f', '-'], prepared(data));
    const withKey = await asRunner({ 'tls.crt': anchorA, 'anchor.crt': anchorA, 'tls.key': keyPem });
    expect(withKey.code).not.toBe(0);
    expect(withKey.stderr).toContain('of a fleet member holds the fleet\'s prepared anchor as its certificate only');
    const otherEntry = await asRunner({ 'tls.crt': anchorA, 'anchor.crt': anchorA, 'key.pem': keyPem });
    expect(otherEntry.code).not.toBe(0);
    expect(otherEntry.stderr).toContain('the key stays in the primary');
    const asAdmin = await west.kubectl(['replace', '-f', '-'], prepared({ 'tls.crt': anchorA, 'anchor.crt': anchorA }));
    expect(asAdmin.code).not.toBe(0);
    expect(asAdmin.stderr).toContain('is written only by the rotation runner');
    // What the fleet driver writes (libs/kube anchors.ts writePreparedCertificate) is admitted: the certificate alone.
    expect((await asRunner({ 'tls.crt': anchorA, 'anchor.crt': anchorA })).code).toBe(0);
    expect(await anchorPem(west, TRUST_NS, objectNames.preparedAnchorSecret)).toBe(anchorA);
  });

  it("labels every series of each cluster's exporter, run as the chart's Deployment, with its fleet.clusterName; both export the same active anchor", async () => {
    const activeAnchorSeries = new Map<string, string[]>();
    for (const [name, cluster] of [['east', east], ['west', west]] as const) {
      const exporter = await startChartExporter(cluster, { kubeconfig: await serviceAccountKubeconfig(cluster, releaseObjects.exporterServiceAccount) });
      try {
        const samples = (await exporter.metrics()).split('\n').filter((line) => line !== '' && !line.startsWith('#'));
        expect(samples.length).toBeGreaterThan(20);
        expect(samples.filter((line) => !line.includes(`cluster="${name}"`))).toEqual([]);
        activeAnchorSeries.set(
          name,
          samples.filter((line) => line.startsWith('linkerd_rotator_certificate_not_after_timestamp_seconds{') && line.includes('role="active-anchor"')).map((line) => line.replace(`cluster="${name}"`, '')),
        );
      } finally {
        await exporter.stop();
      }
    }
    expect(activeAnchorSeries.get('east')).toHaveLength(1);
    expect(activeAnchorSeries.get('west')).toEqual(activeAnchorSeries.get('east'));
  });

  it('names the member whose Secrets and bundle hold another anchor (exit 1)', async () => {
    const other = await makeCa('root.linkerd.cluster.local');
    await writeMemberAnchor(west, westRelease.runnerKubeconfig, other, 'replace');
    await waitForTrustRoots(west, [other.certPem], 'trust-manager to publish C to west');
    const { result, report } = await checkFleet();
    expect(report.reference).toBe('east');
    expect(new Set(report.disagreements.map((d) => d.cluster))).toEqual(new Set(['west']));
    expect(report.disagreements.map((d) => d.subject)).toEqual(expect.arrayContaining(['active', 'bundle']));
    expect(report.clusters.find((c) => c.cluster === 'west')?.active).toBe(fingerprintOf(other.certPem));
    expect(result.code).toBe(1);
    // Never a key or a whole PEM in what it prints.
    expect(result.stdout + result.stderr).not.toMatch(/BEGIN|PRIVATE KEY/);
  });

  it('names the member whose API server is stopped as unreadable (exit 4), and still reads the primary', async () => {
    await west.stopComponent('kube-apiserver');
    // The runner retries an unreachable API server for --api-timeout (2m by default) before it gives up on it.
    const started = Date.now();
    const { result, report } = await checkFleet(['--api-timeout', '10s']);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(report.clusters.map((c) => [c.cluster, c.reachable])).toEqual([
      ['east', true],
      ['west', false],
    ]);
    expect(report.disagreements).toEqual([expect.objectContaining({ cluster: 'west', subject: 'reachable' })]);
    expect(report.clusters[1]).toMatchObject({ error: expect.stringMatching(/API server/) });
    expect(result.code).toBe(4);
  });
});
