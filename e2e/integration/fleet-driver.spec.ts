// The fleet driver on two real local clusters (issue 17, docs/multicluster.md "Proof"): east the
// primary, west a member, each with cert-manager, trust-manager, the chart as a fleet installs it
// (`fleet.role` primary / member; the member given the fleet's anchor Secrets), Linkerd's stand-ins
// and meshed workloads, the simulated data plane spanning both (e2e/support/fleet.ts, the harness of
// fleet-rotation.spec.ts, whose control shows the break this rotation must not make).
//
// `rotator fleet run --primary east --member west` runs as a user runs it: the bundled runner (plain
// node, as its image ships it) on one kubeconfig with a context per cluster, each as that cluster's
// runner ServiceAccount, the default strategy (cross-signed). Within that one rotation: the driver's
// process group is SIGKILLed while it waits at a fleet gate, and a rerun resumes the same rotation;
// then west's kube-apiserver is stopped mid-rotation: the driver stops safe naming west, nothing is
// retired, and once west answers a rerun resumes and finishes. Traffic runs throughout, expecting no
// failure on any route, one new anchor B in both clusters, and no data-plane pod restarted.
import { X509Certificate } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, waitFor, type Cluster } from '../cluster/src/index.js';
import { fingerprintOf, fingerprintsOf } from '../support/certs.js';
import {
  activeAnchor,
  deployAfterRetire,
  everyRouteHandshakes,
  expectInClusterClean,
  FLEET_MEMBERS,
  handshakesByRoute,
  installFleetMember,
  issuerChain,
  PER_ROUTE,
  useFleet,
  writeFleetKubeconfig,
  type FleetMember,
} from '../support/fleet.js';
import { installLocalTestCluster } from '../support/local-test-cluster.js';
import { anchorPem, getJson, trustRootsPem } from '../support/objects.js';
import { objectNames, release } from '../support/release.js';
import { watchPodStarts, type PodStarts } from '../support/rotation-watch.js';
import { bundleRunner, startBundledRunner, type BundledRunnerResult, type RunnerLogRecord } from '../support/runner-bundle.js';

const specStartedAt = Date.now();
/** Inside the repository, so the bundle resolves its external packages from node_modules. */
const workDir = path.join(repoRoot, 'tmp', `fleet-driver-e2e-${process.pid}`);
const runnerJs = path.join(workDir, 'main.mjs');
/**
 * Linkerd's issuanceLifetime here, and the runner's --leaf-lifetime: 2 minutes, not the 1 of the other
 * local specs. West's proxies renew their leaves through west's API (TokenRequest, then identity's
 * TokenReview) at 70% of a leaf's life, so a leaf outlives a failed renewal by 30% of its life: 18 s
 * with 1-minute leaves, less than west's API outage below (about 30 s measured: the driver noticing it,
 * then the API server's restart), and a west leaf expired (7 CertExpired refusals in that run). With
 * 2-minute leaves, 36 s. Linkerd's default is 24 hours.
 */
const LEAF = { linkerd: '2m0s', runner: ['--leaf-lifetime', '2m'] };
/**
 * Every run's flags besides `--force` on the first. One holder across runs, as a CI job or a CronJob
 * names itself: a rerun after kill -9 takes its own Lease back at once. A 15 s Lease (renewed every 5
 * s) and a 5 s API timeout: an unreachable cluster is noticed in seconds.
 */
const RUN_ARGS = ['fleet', 'run', '--primary', 'east', '--member', 'west', ...LEAF.runner, '--holder', 'fleet-driver-e2e', '--lease-duration', '15s', '--api-timeout', '5s', '--phase-timeout', '5m', '--output', 'json'];

const fleet = useFleet('fleet-driver', async (clusters) => {
  const east = await installLocalTestCluster(clusters.east, ['--set', 'fleet.role=primary', '--set', 'fleet.clusterName=east']);
  const west = await installFleetMember(clusters.west, east, 'west');
  return { east, west };
}, { leafLifetime: LEAF.linkerd });
const { mesh } = fleet;
let fleetKubeconfig = '';

beforeAll(async () => {
  mkdirSync(workDir, { recursive: true });
  await bundleRunner(runnerJs);
  fleetKubeconfig = writeFleetKubeconfig(workDir, { east: fleet.member('east').rotator.runnerKubeconfig, west: fleet.member('west').rotator.runnerKubeconfig });
}, 120_000);
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** The runner's JSON log records (the driver's carry `context`, and `phase`/`gate` while it waits). */
type LogRecord = RunnerLogRecord & { context?: string; phase?: string; gate?: string };

/** What the e2e tier reads of `fleet run --output json` (libs/rotation FleetRunResult). */
interface FleetRunReport {
  outcome: 'done' | 'stopped' | 'refused';
  reason?: string;
  cluster?: string;
  message: string;
  resumeAt?: number;
  phases: Record<string, string>;
  rolls: number;
  rotation?: { id: string; strategy: string; from: string; to?: string; crossSignature?: string; phase: string; stopped?: { reason: string; cluster: string } };
}

interface DriverRun extends BundledRunnerResult {
  report?: FleetRunReport;
}

/**
 * `rotator fleet run` as its image runs it (node on the bundle), in a process group of its own so a
 * test can SIGKILL the whole group; KUBECONFIG is the fleet's, nothing of the chart's env (a user's
 * laptop or CI has none: the defaults are the chart's names). `onLog` sees each JSON log record.
 */
const driverEnv = () => ({ PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', KUBECONFIG: fleetKubeconfig, LOG_FORMAT: 'json' });

function startDriver(extraArgs: string[], onLog: (rec: LogRecord, pid: number) => void = () => {}): { pid: number; done: Promise<DriverRun> } {
  const { child, done } = startBundledRunner(runnerJs, [...RUN_ARGS, ...extraArgs], { env: driverEnv(), detached: true, onLog: (rec, c) => onLog(rec as LogRecord, c.pid!) });
  return {
    pid: child.pid!,
    done: done.then((run) => {
      try {
        return run.stdout.trim() ? { ...run, report: JSON.parse(run.stdout) as FleetRunReport } : run;
      } catch {
        return run;
      }
    }),
  };
}

function reportOf(run: DriverRun, what: string): FleetRunReport {
  if (!run.report) throw new Error(`expected ${what} to print its FleetRunReport, found exit ${run.code} (signal ${run.signal}); stdout ${JSON.stringify(run.stdout.slice(0, 400))}, stderr:\n${run.stderr.slice(-4000)}`);
  expect(run.stdout + run.stderr).not.toMatch(/BEGIN|PRIVATE KEY/);
  return run.report;
}

/** Reruns until the fleet is done, resuming a run parked on the long gate once the clock reached its resumeAt. */
async function runToDone(first: DriverRun, what: string): Promise<DriverRun[]> {
  const runs = [first];
  for (let i = 0; i < 3; i++) {
    const last = runs.at(-1)!;
    const report = reportOf(last, what);
    if (last.code !== 0) throw new Error(`expected ${what} to exit 0, found ${last.code}: ${report.message}\n${last.stderr.slice(-3000)}`);
    if (report.outcome === 'done' && report.resumeAt === undefined) return runs;
    const resumeAt = report.resumeAt!;
    await waitFor(() => Date.now() >= resumeAt, { what: `the clock to reach ${new Date(resumeAt).toISOString()}, when the parked fleet rotation resumes (${report.message})`, timeoutMs: Math.max(0, resumeAt - Date.now()) + 60_000, intervalMs: 1_000 });
    runs.push(await startDriver([]).done);
  }
  throw new Error(`expected the fleet rotation done within 4 runs, found: ${runs.map((r) => r.report?.message ?? r.code).join('; ')}`);
}

interface StoredState {
  phase: string;
  rotation?: { id: string };
  last?: { from: string; to: string; strategy?: string };
  fleet?: { role: string; primary: string; rotation?: FleetRunReport['rotation'] };
}

async function stateOf(cluster: Cluster): Promise<StoredState> {
  const cm = await getJson<{ data?: Record<string, string> }>(cluster, ['-n', release.namespace, 'get', 'configmap', objectNames.stateConfigMap]);
  return JSON.parse(cm.data?.['state.json'] ?? '{}') as StoredState;
}

/** resourceVersion of each anchor Secret (prepared, active, previous): any write changes one. */
async function anchorSecretVersions(cluster: Cluster): Promise<Record<string, string>> {
  const names = [objectNames.preparedAnchorSecret, objectNames.activeAnchorSecret, objectNames.previousAnchorSecret];
  const list = await getJson<{ items: Array<{ metadata: { name: string; resourceVersion: string } }> }>(cluster, ['-n', objectNames.trustNamespace, 'get', 'secret', ...names]);
  return Object.fromEntries(list.items.map((s) => [s.metadata.name, s.metadata.resourceVersion]));
}

/** Meshed pods of the data-plane namespaces, by namespace/name -> uid. */
async function dataPlanePods(name: FleetMember): Promise<Record<string, string>> {
  const { cluster, workloads } = mesh().clusters[name];
  const namespaces = new Set(workloads.map((w) => w.namespace));
  const pods = await getJson<{ items: Array<{ metadata: { namespace: string; name: string; uid: string } }> }>(cluster, ['get', 'pods', '-A', '-l', 'linkerd.io/control-plane-ns']);
  return Object.fromEntries(pods.items.filter((p) => namespaces.has(p.metadata.namespace)).map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p.metadata.uid]));
}

const bundleFingerprints = async (cluster: Cluster) => fingerprintsOf(await trustRootsPem(cluster)).sort();
const clusterOf = (name: FleetMember) => fleet.member(name).cluster;
const seconds = (ms: number) => `${(ms / 1000).toFixed(0)} s`;

let anchorA = '';
let rotationId = '';
let startedAt = 0;
const podsBefore: Partial<Record<FleetMember, Record<string, string>>> = {};
const starts: Partial<Record<FleetMember, PodStarts>> = {};
const handshakesBefore: Record<string, number> = {};
const durations: Record<string, number> = {};
/** The resumed run, left running by the kill test for the API-server test to stop. */
let rerunning: ReturnType<typeof startDriver> | undefined;

it('before: both clusters on one anchor A, the member holding it as the fleet gave it; every route handshakes with 0 failures', async () => {
  await everyRouteHandshakes(mesh, {}, PER_ROUTE, 'before the fleet rotation');
  anchorA = await activeAnchor(fleet.member('east'));
  expect(fingerprintOf(await activeAnchor(fleet.member('west')))).toBe(fingerprintOf(anchorA));
  for (const name of FLEET_MEMBERS) expect(await bundleFingerprints(clusterOf(name))).toEqual([fingerprintOf(anchorA)]);
  // West has no prepared Certificate (fleet.role=member): its prepared Secret is the copy, certificate only.
  const westPrepared = await clusterOf('west').kubectl(['-n', objectNames.trustNamespace, 'get', 'certificate', objectNames.preparedAnchorCertificate], { allowFailure: true });
  expect(westPrepared.code).not.toBe(0);
  expect(fingerprintOf(await anchorPem(fleet.member('west'), objectNames.trustNamespace, objectNames.preparedAnchorSecret))).toBe(fingerprintOf(anchorA));
  const { traffic } = mesh();
  expect(traffic.failures).toEqual([]);
  expect(traffic.disagreements).toBe(0);
}, 300_000);

it("fleet run --force held at gate 1 by west's bundle (its trust-manager stopped), its process group SIGKILLed there: east has not promoted; a rerun resumes the same rotation", async () => {
  for (const name of FLEET_MEMBERS) podsBefore[name] = await dataPlanePods(name);
  Object.assign(handshakesBefore, handshakesByRoute(mesh()));
  startedAt = Date.now();
  for (const name of FLEET_MEMBERS) starts[name] = watchPodStarts(clusterOf(name), startedAt);

  // Left alone, both clusters' bundles hold {A, B} within seconds of the copy, and every fleet gate
  // past Prepare is open by the time a cluster's own gates are (measured: a whole first run without
  // one fleet-gate wait). West's trust-manager stopped, west's bundle keeps {A} after B is copied in,
  // so gate 1 holds east in TrustBoth, naming west. The driver is killed at the first such wait it logs.
  const west = clusterOf('west');
  await west.stopComponent('trust-manager');
  let killedAt: LogRecord | undefined;
  const first = startDriver(['--force'], (rec, pid) => {
    if (killedAt || rec.gate !== 'fleet-trusts-new-anchor') return;
    killedAt = rec;
    process.kill(-pid, 'SIGKILL');
  });
  const killed = await first.done;
  if (!killedAt) {
    const gates = killed.logs.filter((r) => r.gate).map((r) => `${r.context}/${r.phase}/${r.gate}`);
    throw new Error(`expected the driver to wait at gate fleet-trusts-new-anchor, found it exited ${killed.code} after waiting on ${gates.join(', ')}; its report: ${killed.stdout.slice(0, 2000)}\n${killed.stderr.slice(-3000)}`);
  }
  expect(killed.signal).toBe('SIGKILL');
  durations['first run, until killed at gate 1'] = Date.now() - startedAt;
  const gate = killedAt as LogRecord;
  expect(gate).toMatchObject({ context: 'east', phase: 'TrustBoth' });
  expect(gate.msg).toMatch(/west/);
  // The state the killed run left: the primary's fleet record names the rotation under way and B;
  // east has not promoted (A still active) while west's bundle lacks B.
  const primaryState = await stateOf(clusterOf('east'));
  rotationId = primaryState.fleet?.rotation?.id ?? '';
  expect(rotationId).not.toBe('');
  expect(primaryState.fleet?.rotation).toMatchObject({ from: fingerprintOf(anchorA), strategy: 'cross-signed', to: expect.any(String) });
  expect(fingerprintOf(await activeAnchor(fleet.member('east')))).toBe(fingerprintOf(anchorA));
  expect(await bundleFingerprints(west)).toEqual([fingerprintOf(anchorA)]);
  expect((await stateOf(west)).fleet).toEqual({ role: 'member', primary: 'east' });
  process.stderr.write(`fleet driver: SIGKILL at ${gate.context}: gate ${gate.gate} (phase ${gate.phase}): ${gate.msg}; fleet record phase ${primaryState.fleet?.rotation?.phase}\n`);
  await west.startComponent('trust-manager');

  // The rerun (no --force: a rotation is under way) resumes it: same id, and past the gate it was killed at.
  const resumedAt = Date.now();
  let resumedPast = false;
  let ended: DriverRun | undefined;
  const rerun = startDriver([], (rec) => {
    if (rec.context === 'east' && rec.phase === 'Promote' && rec.gate) resumedPast = true;
  });
  void rerun.done.then((r) => (ended = r));
  await waitFor(() => resumedPast || ended, { what: "the rerun to reach east's Promote gates (east promoted B)", timeoutMs: 300_000, intervalMs: 500 });
  if (!resumedPast) throw new Error(`expected the rerun to reach east's Promote gates, found it exited ${ended?.code}: ${ended?.stdout.slice(0, 2000)}\n${ended?.stderr.slice(-3000)}`);
  expect((await stateOf(clusterOf('east'))).fleet?.rotation?.id).toBe(rotationId);
  durations['rerun, until east promoted'] = Date.now() - resumedAt;
  rerunning = rerun;
}, 600_000);

it("west's kube-apiserver stopped mid-rotation: the driver stops safe naming west, retires nothing; west back, a rerun resumes the same rotation and finishes", async () => {
  const rerun = rerunning;
  if (!rerun) throw new Error('expected the resumed run of the previous test to be running, found none; see its error');
  const east = clusterOf('east');
  const west = clusterOf('west');
  const eastVersions = await anchorSecretVersions(east);
  const stoppedAt = Date.now();
  await west.stopComponent('kube-apiserver');
  const stopped = await rerun.done;
  const detectedIn = Date.now() - stoppedAt;
  const stopReport = reportOf(stopped, 'the run whose member went unreachable');
  // `fleet status` while west does not answer: exit 4, west unreachable, east read with the fleet
  // record and its stop naming west.
  const statusRun = await startBundledRunner(runnerJs, ['fleet', 'status', '--primary', 'east', '--member', 'west', ...LEAF.runner, '--api-timeout', '5s', '--output', 'json'], { env: driverEnv() }).done;
  const status = JSON.parse(statusRun.stdout) as { rotation?: { id: string; stopped?: { reason: string; cluster: string } }; clusters: { cluster: string; reachable: boolean; phase?: string }[] };
  expect(statusRun.code).toBe(4);
  expect(status.rotation).toMatchObject({ id: rotationId, stopped: { reason: 'cluster-unreachable', cluster: 'west' } });
  expect(status.clusters.map((c) => [c.cluster, c.reachable])).toEqual([['east', true], ['west', false]]);
  expect(statusRun.stdout + statusRun.stderr).not.toMatch(/BEGIN|PRIVATE KEY/);
  // West back: its proxies renew their leaves through its API.
  await west.startComponent('kube-apiserver');
  const outage = Date.now() - stoppedAt;
  durations['west API down'] = outage;
  expect(stopped.code).toBe(1);
  expect(stopReport).toMatchObject({ outcome: 'stopped', reason: 'cluster-unreachable', cluster: 'west' });
  expect(stopReport.message).toMatch(/^west: /);
  expect(stopReport.rotation?.id).toBe(rotationId);
  // Safe: nothing written to east's anchor Secrets since west went down, A retired nowhere.
  expect(await anchorSecretVersions(east)).toEqual(eastVersions);
  expect(fingerprintOf(await anchorPem(fleet.member('east'), objectNames.trustNamespace, objectNames.previousAnchorSecret))).toBe(fingerprintOf(anchorA));
  for (const name of FLEET_MEMBERS) expect(await bundleFingerprints(clusterOf(name))).toContain(fingerprintOf(anchorA));
  expect((await stateOf(east)).fleet?.rotation?.stopped).toMatchObject({ reason: 'cluster-unreachable', cluster: 'west' });
  process.stderr.write(`fleet driver: west's API stopped, the driver stopped naming west after ${seconds(detectedIn)} (API down ${seconds(outage)}): ${stopReport.message.slice(0, 300)}\n`);

  const resumedAt = Date.now();
  const runs = await runToDone(await startDriver([]).done, 'fleet run after west came back');
  durations['resume to done'] = Date.now() - resumedAt;
  const last = reportOf(runs.at(-1)!, 'the last fleet run');
  expect(last.rotation).toMatchObject({ id: rotationId, phase: 'Done', strategy: 'cross-signed', from: fingerprintOf(anchorA) });
  expect(last.phases).toEqual({ east: 'Done', west: 'Done' });
  durations['rotation'] = Date.now() - startedAt;
  for (const name of FLEET_MEMBERS) await starts[name]!.stop();
}, 900_000);

it('done: one new anchor B active in both clusters, both bundles exactly {B}, the same X in both issuers, no data-plane pod restarted, 0 failures on every route', async () => {
  const { traffic } = mesh();
  const anchorB = await activeAnchor(fleet.member('east'));
  const b = fingerprintOf(anchorB);
  expect(b).not.toBe(fingerprintOf(anchorA));
  expect(fingerprintOf(await activeAnchor(fleet.member('west')))).toBe(b);
  for (const name of FLEET_MEMBERS) {
    expect(await bundleFingerprints(clusterOf(name))).toEqual([b]);
    expect(await stateOf(clusterOf(name))).toMatchObject({ phase: 'Done', last: { from: fingerprintOf(anchorA), to: b, strategy: 'cross-signed' } });
  }
  // Each cluster's own issuer, under B, carrying the one X (B signed by A) minted once.
  const chains = await Promise.all(FLEET_MEMBERS.map((name) => issuerChain(fleet.member(name))));
  expect(new Set(chains.map((c) => fingerprintOf(c[0]!))).size).toBe(2);
  expect(new Set(chains.map((c) => fingerprintOf(c[1]!))).size).toBe(1);
  const x = new X509Certificate(chains[0]![1]!);
  expect(x.verify(new X509Certificate(anchorA).publicKey)).toBe(true);
  for (const chain of chains) expect(new X509Certificate(chain[0]!).verify(new X509Certificate(anchorB).publicKey)).toBe(true);

  // No data-plane pod restarted (same pod uids), in either cluster; the control plane's restarts, counted.
  const figures: string[] = [];
  for (const name of FLEET_MEMBERS) {
    expect(await dataPlanePods(name)).toEqual(podsBefore[name]);
    const namespaces = new Set(mesh().clusters[name].workloads.map((w) => w.namespace));
    expect(starts[name]!.count({ namespaces, inside: true })).toBe(0);
    const controlPlane = starts[name]!.created.filter((p) => !namespaces.has(p.namespace));
    expect(controlPlane.filter((p) => p.component === 'identity').length).toBeGreaterThanOrEqual(1);
    figures.push(`${name}: 0 of ${Object.keys(podsBefore[name]!).length} data-plane pods restarted, ${controlPlane.filter((p) => p.component === 'identity').length} identity and ${controlPlane.filter((p) => p.component !== 'identity').length} other control-plane pods created`);
  }
  expect(traffic.failures).toEqual([]);
  expect(traffic.disagreements).toBe(0);
  expectInClusterClean(mesh());

  // `fleet status` after it: both clusters answer, the fleet record Done from A to B, exit 0.
  const statusRun = await startBundledRunner(runnerJs, ['fleet', 'status', '--primary', 'east', '--member', 'west', ...LEAF.runner, '--output', 'json'], { env: driverEnv() }).done;
  const status = JSON.parse(statusRun.stdout) as { rotation?: { phase: string; from: string; to?: string }; clusters: { cluster: string; reachable: boolean; phase?: string }[] };
  expect(statusRun.code).toBe(0);
  expect(status.rotation).toMatchObject({ phase: 'Done', from: fingerprintOf(anchorA), to: b });
  expect(status.clusters.map((c) => [c.cluster, c.reachable, c.phase])).toEqual([['east', true, 'Done'], ['west', true, 'Done']]);

  // The control's deploy after Retire (fleet-rotation.spec.ts): a pod restarted in east trusts only {B}
  // and now verifies west's leaves (under B) as it did east's; every route stays clean.
  const rotated = handshakesByRoute(mesh());
  await deployAfterRetire(mesh, 'east', [anchorB]);
  await everyRouteHandshakes(mesh, handshakesByRoute(mesh()), PER_ROUTE, "after a deploy in east onto {B}");
  expect(traffic.failures).toEqual([]);
  expect(traffic.disagreements).toBe(0);
  const byRoute = Object.entries(handshakesByRoute(mesh())).map(([route, n]) => `${route} ${n - (handshakesBefore[route] ?? 0)} (${(rotated[route] ?? 0) - (handshakesBefore[route] ?? 0)} during the rotation)`);
  process.stderr.write(
    `fleet driver, cross-signed A -> B on east (primary) and west (member): ${Object.entries(durations).map(([k, v]) => `${k} ${seconds(v)}`).join(', ')}; ` +
      `handshakes by route ${byRoute.join(', ')}, 0 failures, ${traffic.timeouts.length} timeouts (no answer in time: machine load), 0 webpki/node disagreements; ${figures.join('; ')}; spec so far ${seconds(Date.now() - specStartedAt)}\n`,
  );
}, 600_000);
