// `rotator check --fleet` against two real local clusters (issue 17, docs/multicluster.md): each with
// cert-manager, trust-manager and the chart. The primary (east) bootstraps its anchor A from its own
// prepared Certificate; the member (west) has no prepared Certificate (pki.trustAnchor.enabled=false,
// the design's member) and gets A's Secrets as the design's table says a member holds them (see
// writeMemberAnchor for who writes which). Then: both trust bundles
// hold A (exit 0), and each cluster's exporter labels its series cluster="<fleet.clusterName>"; west's
// Secrets hold another anchor C (exit 1, naming west); west's API server stopped (exit 4, naming west).
// The runner and the exporter run from source with the chart's env, as the other specs do.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { repoRoot, startCluster, stopCluster, type Cluster } from '../cluster/src/index.js';
import { run, type RunResult } from '../cluster/src/kubectl.js';
import { makeCa } from '../cluster/src/pki.js';
import { fingerprintOf } from '../support/certs.js';
import { installChartForRunner, serviceAccountKubeconfig, startChartExporter, waitForTrustRoots, type RunnerOnlyRelease } from '../support/chart.js';
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

type KubeconfigFile = { clusters: Array<{ name: string; cluster: unknown }>; users: Array<{ name: string; user: unknown }> };

/** One kubeconfig with a context per cluster (east, west), each as that cluster's runner ServiceAccount. */
function writeFleetKubeconfig(files: Record<'east' | 'west', string>): string {
  const entries = Object.entries(files).map(([context, file]) => {
    const kc = parseYaml(readFileSync(file, 'utf8')) as KubeconfigFile;
    return { context, cluster: kc.clusters[0]!.cluster, user: kc.users[0]!.user };
  });
  const file = path.join(dir, 'fleet-kubeconfig');
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: entries.map((e) => ({ name: e.context, cluster: e.cluster })),
      users: entries.map((e) => ({ name: e.context, user: e.user })),
      contexts: entries.map((e) => ({ name: e.context, context: { cluster: e.context, user: e.context } })),
      'current-context': 'east',
    }),
    { mode: 0o600 },
  );
  return file;
}

const secret = (name: string, type: string, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: TRUST_NS },
  type,
  stringData: data,
});

/**
 * The member's anchor Secrets as docs/multicluster.md's table has them while no rotation is under way:
 * prepared and previous the anchor's certificate only, active the anchor with its key. Active and
 * previous are written as the member's runner ServiceAccount (the anchor guard admits only it); the
 * prepared one with the cluster's admin kubeconfig, because the runner guard lets the runner create
 * only those two, and the chart's member role, which would let the fleet driver write it, is not built.
 */
async function writeMemberAnchor(cluster: Cluster, runnerKubeconfig: string, anchor: { certPem: string; keyPem: string }, verb: 'create' | 'replace'): Promise<void> {
  const list = (...items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
  await cluster.kubectl([verb, '-f', '-'], { input: list(secret(objectNames.preparedAnchorSecret, 'Opaque', { 'tls.crt': anchor.certPem })) });
  await cluster.kubectl([`--kubeconfig=${runnerKubeconfig}`, verb, '-f', '-'], {
    input: list(
      secret(objectNames.activeAnchorSecret, 'kubernetes.io/tls', { 'tls.crt': anchor.certPem, 'tls.key': anchor.keyPem, 'anchor.crt': anchor.certPem }),
      secret(objectNames.previousAnchorSecret, 'Opaque', { 'tls.crt': anchor.certPem }),
    ),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-check-'));
  [east, west] = await Promise.all([startCluster({ name: names[0] }), startCluster({ name: names[1] })]);
  [eastRelease, westRelease] = await Promise.all([
    installChartForRunner(east, { timeoutSeconds: 120, values: ['fleet.clusterName=east'] }),
    installChartForRunner(west, { timeoutSeconds: 120, values: ['fleet.clusterName=west', 'pki.trustAnchor.enabled=false'] }),
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
  fleetKubeconfig = writeFleetKubeconfig({
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
