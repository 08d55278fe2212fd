// kind tier (issue 6): scenarios 1 and 5 of the integration tier, repeated on a kind cluster with
// upstream images. One cluster for the file: cert-manager and trust-manager from the jetstack charts,
// real Linkerd (edge charts, identity.externalCA=true, kubernetes.io/tls issuer), this chart with
// the rotation-runner and webhook images built from apps/*/Dockerfile and loaded into the nodes,
// and a real meshed HTTP client/server pair whose every request and proxy log line is watched.
//
// Scenario 1: the rotation runs as the CronJob runs it (a Job created from the chart's CronJob, in
// the chart's ServiceAccount, with the image built here): zero failed requests, no TLS errors in any
// linkerd-proxy, the new anchor active and the trust bundle exactly {new}, every meshed pod rolled.
// Scenario 5: manual edits of the trust roots (and the identity issuer) are judged by the chart's
// webhook behind its Service, through the real API server: the same scenario as on the local cluster
// (e2e/scenarios/manual-edits.ts), and scenario 1's end state is checked by the same assertions.
//
// Without a Docker engine every test is skipped with a message (KIND_TIER_REQUIRED=1 makes that a
// failure instead, for CI). KIND_KEEP_CLUSTER=1 keeps the cluster; KIND_LOGS_DIR receives
// `kind export logs` and the harness's own records when a test fails.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { repoRoot } from '../cluster/src/paths.js';
import { waitFor } from '../cluster/src/process.js';
import { manualEditsScenario } from '../scenarios/manual-edits.js';
import { expectMeshRotatedTo } from '../scenarios/rotated-mesh.js';
import { fingerprintOf } from '../support/certs.js';
import { anchorPem } from '../support/objects.js';
import { objectNames, release, releaseObjects } from '../support/release.js';
import type { TestCluster } from '../support/test-cluster.js';
import { decideKindTier } from './support/docker.js';
import { buildImage, ensureHelm, ensureKind, KindCluster, log } from './support/kind.js';
import { createLinkerdNamespace, installCertManager, installGatewayApiCrds, installLinkerd, installRotatorChart, kindTestCluster } from './support/stack.js';
import { deployTraffic, TrafficMonitor, trafficNs, type TrafficReport } from './support/traffic.js';
import { appImages } from './support/versions.js';

const tier = decideKindTier();
if (!tier.run) console.warn(tier.message);

if (!tier.run && tier.required) {
  describe('kind tier', () => {
    it('needs a Docker engine (KIND_TIER_REQUIRED=1)', () => {
      throw new Error(tier.message.replace('kind tier skipped', 'kind tier cannot run'));
    });
  });
}

const kindDescribe = tier.run ? describe : describe.skip;

const clusterName = process.env['KIND_CLUSTER_NAME'] || 'linkerd-rotator-e2e';
const logsDir = process.env['KIND_LOGS_DIR'] || path.join(repoRoot, 'tmp/kind-logs');
const MIN = 60_000;

const { trustNamespace, activeAnchorSecret } = objectNames;

kindDescribe(`kind tier: upstream cert-manager, trust-manager, Linkerd and this chart on kind (Docker ${tier.run ? tier.serverVersion : '-'})`, () => {
  let cluster: KindCluster | undefined;
  let testCluster: TestCluster | undefined;
  let monitor: TrafficMonitor | undefined;
  let failed = false;
  /** Records written to the logs dir when something fails: runner Job logs, the traffic report. */
  const records = new Map<string, string>();

  const k = (): KindCluster => {
    if (!cluster) throw new Error('no kind cluster: the setup failed (see the first error)');
    return cluster;
  };
  const tested = (): TestCluster => {
    if (!testCluster) throw new Error('no kind cluster with the chart installed: the setup failed (see the first error)');
    return testCluster;
  };
  /** Marks the run failed (for the logs export) when fn throws. */
  const guard =
    (fn: () => Promise<void>) =>
    async (): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        failed = true;
        throw err;
      }
    };
  const kubectl = (args: string[]) => k().kubectl(args, { allowFailure: true });
  const activeAnchorPem = () => anchorPem(k(), trustNamespace, activeAnchorSecret);

  beforeAll(
    guard(async () => {
      const [kindBin, helmBin] = await Promise.all([ensureKind(), ensureHelm()]);
      // The images build while the cluster comes up.
      const images = Promise.all(Object.entries(appImages).map(([app, tag]) => buildImage(app, tag)));
      images.catch(() => undefined);
      cluster = new KindCluster(clusterName, kindBin, helmBin, 2);
      await cluster.up();
      await images;
      await cluster.loadImages(Object.values(appImages));
      await installGatewayApiCrds(cluster);
      await installCertManager(cluster);
      await createLinkerdNamespace(cluster);
      await installRotatorChart(cluster);
      testCluster = kindTestCluster(cluster);
      await installLinkerd(cluster);
      await deployTraffic(cluster);
      monitor = new TrafficMonitor(cluster);
      monitor.start();
      await monitor.waitForProgress(100, 'before any rotation');
      const baseline = monitor.report();
      if (baseline.failed.length > 0 || baseline.proxyTlsErrors.length > 0) {
        throw new Error(`the meshed traffic fails before any rotation, so the harness proves nothing:\n${JSON.stringify(baseline, null, 2).slice(0, 4000)}`);
      }
      log(`baseline: ${baseline.ok} requests OK across ${baseline.clientPods.length} client pods`);
    }),
    60 * MIN,
  );

  afterAll(async () => {
    const report = await monitor?.stop().catch(() => undefined);
    if (!cluster) return;
    if (failed) await collectDiagnostics(cluster, report);
    await cluster.delete();
  }, 20 * MIN);

  async function collectDiagnostics(c: KindCluster, report: TrafficReport | undefined): Promise<void> {
    const dir = path.join(logsDir, `${clusterName}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    mkdirSync(dir, { recursive: true });
    if (report) records.set('traffic-report.json', JSON.stringify(report, null, 2));
    for (const [args, file] of [
      [['get', 'pods', '-A', '-o', 'wide'], 'pods.txt'],
      [['get', 'events', '-A', '--sort-by=.lastTimestamp'], 'events.txt'],
      [['get', 'certificates,certificaterequests,bundles,jobs,cronjobs', '-A', '-o', 'wide'], 'pki-and-jobs.txt'],
      [['-n', release.namespace, 'logs', '-l', releaseObjects.webhookPods, '--tail=-1', '--prefix'], 'webhook.log'],
    ] as const) {
      const r = await c.kubectl([...args], { allowFailure: true });
      records.set(file, r.stdout + r.stderr);
    }
    for (const [file, text] of records) writeFileSync(path.join(dir, file), text);
    await c.exportLogs(path.join(dir, 'kind'));
    log(`diagnostics in ${dir}`);
  }

  /** Runner logs of a Job, every pod, prefixed. */
  async function jobLogs(name: string): Promise<string> {
    const r = await kubectl(['-n', release.namespace, 'logs', '-l', `job-name=${name}`, '--tail=-1', '--prefix', '--max-log-requests=10']);
    return r.stdout + r.stderr;
  }

  /**
   * A Job from the chart's CronJob, exactly as `kubectl create job --from=cronjob/...` makes it, with
   * extra runner args appended when given (the only way to pass `--force`), then followed to its end.
   */
  async function runCronJob(name: string, extraArgs: string[], timeoutMs: number): Promise<{ logs: string; failedPods: number }> {
    const ns = release.namespace;
    if (extraArgs.length === 0) {
      await k().kubectl(['-n', ns, 'create', 'job', name, `--from=cronjob/${releaseObjects.rotateCronJob}`]);
    } else {
      type Job = { spec: { template: { spec: { containers: { args?: string[] }[] } } } };
      const job = await k().json<Job>(['-n', ns, 'create', 'job', name, `--from=cronjob/${releaseObjects.rotateCronJob}`, '--dry-run=client']);
      const container = job.spec.template.spec.containers[0]!;
      container.args = [...(container.args ?? []), ...extraArgs];
      await k().kubectl(['-n', ns, 'create', '-f', '-'], { input: JSON.stringify(job) });
    }
    log(`job ${ns}/${name} created from cronjob/${releaseObjects.rotateCronJob}${extraArgs.length ? ` with ${extraArgs.join(' ')}` : ''}`);
    // Stream the runner's log for whoever watches CI; the assertions read the logs afterwards.
    const { command, env } = k().kubectlCommand();
    const follower = spawn(command, ['-n', ns, 'logs', '-f', `job/${name}`, '--pod-running-timeout=5m'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: follower.stdout! }).on('line', (line) => process.stderr.write(`[runner] ${line}\n`));
    try {
      type JobStatus = { status?: { failed?: number; conditions?: { type: string; status: string; message?: string }[] } };
      const done = await waitFor(
        async () => {
          const job = await k().json<JobStatus>(['-n', ns, 'get', 'job', name]);
          const cond = job.status?.conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
          return cond ? { type: cond.type, message: cond.message ?? '', failedPods: job.status?.failed ?? 0 } : undefined;
        },
        { what: `job ${name} to finish`, timeoutMs, intervalMs: 5_000 },
      );
      const logs = await jobLogs(name);
      records.set(`runner-${name}.log`, logs);
      if (done.type !== 'Complete') throw new Error(`job ${name} failed (${done.message}); runner logs:\n${logs.slice(-6000)}`);
      return { logs, failedPods: done.failedPods };
    } catch (err) {
      // A Job still running at the deadline: keep what its pods logged for the diagnostics.
      if (!records.has(`runner-${name}.log`)) records.set(`runner-${name}.log`, await jobLogs(name).catch((e: Error) => e.message));
      throw err;
    } finally {
      follower.kill('SIGTERM');
    }
  }

  it(
    'helm test: the runner `check` passes on the healthy install (upstream cert-manager, trust-manager, Linkerd)',
    guard(async () => {
      const r = await k().helm(['test', release.name, '-n', release.namespace, '--logs', '--timeout', '5m'], { allowFailure: true });
      records.set('helm-test.log', r.stdout + r.stderr);
      if (r.code !== 0) throw new Error(`helm test failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
    }),
    10 * MIN,
  );

  describe('scenario 1: rotation as the CronJob runs it, under live meshed traffic', () => {
    it(
      'a run of the CronJob while the active anchor is young does nothing',
      guard(async () => {
        const before = await activeAnchorPem();
        const { logs } = await runCronJob('rotate-not-due', [], 10 * MIN);
        expect(logs).toMatch(/not due|nothing to do/);
        expect(fingerprintOf(await activeAnchorPem())).toBe(fingerprintOf(before));
      }),
      15 * MIN,
    );

    it(
      'a forced run rotates the anchor: zero failed requests, no proxy TLS errors, new anchor active, bundle = {new}, every meshed pod rolled',
      guard(async () => {
        const m = monitor!;
        const before = await activeAnchorPem();
        const okBefore = m.okCount();
        const startedAt = new Date();
        // Strategy restart: this scenario checks that protocol's end state (every meshed pod rolled).
        const { failedPods } = await runCronJob('rotate-forced', ['--force', '--strategy', 'restart'], 45 * MIN);
        const okDuring = m.okCount() - okBefore;

        // The new anchor signs Linkerd's issuer and is the only one trusted; every meshed pod started
        // during the rotation and the data plane trusts exactly the new anchor.
        const after = await activeAnchorPem();
        expect(fingerprintOf(after)).not.toBe(fingerprintOf(before));
        await expectMeshRotatedTo(tested(), {
          anchorPem: after,
          rotationStartedAt: startedAt,
          dataPlaneNamespaces: [...Array(2).fill(trafficNs.client), ...Array(3).fill(trafficNs.server)],
        });

        // Traffic keeps flowing between pods that trust only the new anchor, then the verdict.
        await m.waitForProgress(100, 'after the rotation, between pods that trust only the new anchor');
        const report = await m.stop();
        records.set('traffic-report.json', JSON.stringify(report, null, 2));
        log(
          `scenario 1: ${report.ok} requests OK (${okDuring} during the rotation), ${report.failed.length} failed, ` +
            `${report.proxyTlsErrors.length} proxy TLS errors; ${report.clientPods.length} client and ${report.serverPods.length} server pods seen`,
        );
        expect(report.failed).toEqual([]);
        expect(report.proxyTlsErrors).toEqual([]);
        expect(report.gaps).toEqual([]);
        expect(okDuring).toBeGreaterThan(100);
        // The traffic spanned the rolls: old and new pods of both workloads were watched.
        expect(report.clientPods.length).toBeGreaterThanOrEqual(4);
        expect(report.serverPods.length).toBeGreaterThanOrEqual(6);
        // One runner pod did it all: a crash retried by the Job's backoffLimit would be a bug too.
        expect(failedPods).toBe(0);
      }),
      60 * MIN,
    );
  });

  describe('scenario 5: manual edits through the chart webhook behind its Service', () => {
    manualEditsScenario(tested, { wrap: guard });
  });
});
