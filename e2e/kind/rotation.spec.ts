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
// webhook behind its Service, through the real API server, with the same messages as on the local
// cluster; a correct edit is allowed; with the webhook down the guarded objects fail closed.
//
// Without a Docker engine every test is skipped with a message (KIND_TIER_REQUIRED=1 makes that a
// failure instead, for CI). KIND_KEEP_CLUSTER=1 keeps the cluster; KIND_LOGS_DIR receives
// `kind export logs` and the harness's own records when a test fails.
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { repoRoot } from '../cluster/src/paths.js';
import { waitFor } from '../cluster/src/process.js';
import { decideKindTier } from './support/docker.js';
import { buildImage, ensureHelm, ensureKind, KindCluster, log } from './support/kind.js';
import {
  createLinkerdNamespace,
  installCertManager,
  installGatewayApiCrds,
  installLinkerd,
  installRotatorChart,
  rotatorObjects,
  rotatorRelease,
  secretData,
  trustRootsPem,
} from './support/stack.js';
import { deployTraffic, proxyContainer, TrafficMonitor, trafficNs, type PodInfo, type TrafficReport } from './support/traffic.js';
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

const L = 'linkerd';
const trustNs = 'cert-manager';
const activeSecret = 'linkerd-active-anchor';
const issuerSecret = 'linkerd-identity-issuer';
const trustRootsName = 'linkerd-identity-trust-roots';
const trustRootsDenied = 'admission webhook "trust-roots.linkerd-rotator.io" denied the request';
const issuerDenied = 'admission webhook "identity-issuer.linkerd-rotator.io" denied the request';

const pemBlocks = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
const fp = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
const b64 = (s: string) => Buffer.from(s).toString('base64');
/** PEM blocks pasted one after another, as a user would. */
const pems = (...blocks: string[]) => blocks.map((b) => b.trim()).join('\n') + '\n';

kindDescribe(`kind tier: upstream cert-manager, trust-manager, Linkerd and this chart on kind (Docker ${tier.run ? tier.serverVersion : '-'})`, () => {
  let cluster: KindCluster | undefined;
  let monitor: TrafficMonitor | undefined;
  let failed = false;
  /** Records written to the logs dir when something fails: runner Job logs, the traffic report. */
  const records = new Map<string, string>();

  const k = (): KindCluster => {
    if (!cluster) throw new Error('no kind cluster: the setup failed (see the first error)');
    return cluster;
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
  const kubectl = (args: string[], input?: string, env?: NodeJS.ProcessEnv) =>
    k().kubectl(args, { allowFailure: true, ...(input === undefined ? {} : { input }), ...(env ? { env } : {}) });

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
      [['-n', rotatorRelease.namespace, 'logs', '-l', rotatorObjects.webhookPods, '--tail=-1', '--prefix'], 'webhook.log'],
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
    const r = await kubectl(['-n', rotatorRelease.namespace, 'logs', '-l', `job-name=${name}`, '--tail=-1', '--prefix', '--max-log-requests=10']);
    return r.stdout + r.stderr;
  }

  /**
   * A Job from the chart's CronJob, exactly as `kubectl create job --from=cronjob/...` makes it, with
   * extra runner args appended when given (the only way to pass `--force`), then followed to its end.
   */
  async function runCronJob(name: string, extraArgs: string[], timeoutMs: number): Promise<{ logs: string; failedPods: number }> {
    const ns = rotatorRelease.namespace;
    if (extraArgs.length === 0) {
      await k().kubectl(['-n', ns, 'create', 'job', name, `--from=cronjob/${rotatorObjects.cronJob}`]);
    } else {
      type Job = { spec: { template: { spec: { containers: { args?: string[] }[] } } } };
      const job = await k().json<Job>(['-n', ns, 'create', 'job', name, `--from=cronjob/${rotatorObjects.cronJob}`, '--dry-run=client']);
      const container = job.spec.template.spec.containers[0]!;
      container.args = [...(container.args ?? []), ...extraArgs];
      await k().kubectl(['-n', ns, 'create', '-f', '-'], { input: JSON.stringify(job) });
    }
    log(`job ${ns}/${name} created from cronjob/${rotatorObjects.cronJob}${extraArgs.length ? ` with ${extraArgs.join(' ')}` : ''}`);
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
      const r = await k().helm(['test', rotatorRelease.name, '-n', rotatorRelease.namespace, '--logs', '--timeout', '5m'], { allowFailure: true });
      records.set('helm-test.log', r.stdout + r.stderr);
      if (r.code !== 0) throw new Error(`helm test failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
    }),
    10 * MIN,
  );

  describe('scenario 1: rotation as the CronJob runs it, under live meshed traffic', () => {
    it(
      'a run of the CronJob while the active anchor is young does nothing',
      guard(async () => {
        const before = (await secretData(k(), trustNs, activeSecret))['tls.crt']!;
        const { logs } = await runCronJob('rotate-not-due', [], 10 * MIN);
        expect(logs).toMatch(/not due|nothing to do/);
        expect(fp((await secretData(k(), trustNs, activeSecret))['tls.crt']!)).toBe(fp(before));
      }),
      15 * MIN,
    );

    it(
      'a forced run rotates the anchor: zero failed requests, no proxy TLS errors, new anchor active, bundle = {new}, every meshed pod rolled',
      guard(async () => {
        const m = monitor!;
        const before = (await secretData(k(), trustNs, activeSecret))['tls.crt']!;
        const okBefore = m.okCount();
        const startedAt = new Date();
        const { failedPods } = await runCronJob('rotate-forced', ['--force'], 45 * MIN);
        const okDuring = m.okCount() - okBefore;

        // The new anchor signs Linkerd's issuer and is the only one trusted.
        const after = (await secretData(k(), trustNs, activeSecret))['tls.crt']!;
        expect(fp(after)).not.toBe(fp(before));
        const bundle = await trustRootsPem(k());
        expect(pemBlocks(bundle).map(fp)).toEqual([fp(after)]);
        const issuer = (await secretData(k(), L, issuerSecret))['tls.crt']!;
        expect(new X509Certificate(issuer).verify(new X509Certificate(after).publicKey)).toBe(true);

        // Every running meshed pod started during the rotation and trusts exactly the new anchor.
        const hash = createHash('sha256').update(bundle).digest('hex');
        const pods = (await k().json<{ items: PodInfo[] }>(['get', 'pods', '-A', '-l', 'linkerd.io/control-plane-ns=linkerd'])).items.filter(
          (p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
        );
        const id = (p: PodInfo) => `${p.metadata.namespace}/${p.metadata.name}`;
        const startedSecond = Math.floor(startedAt.getTime() / 1000) * 1000;
        expect(pods.filter((p) => new Date(p.metadata.creationTimestamp).getTime() < startedSecond).map(id)).toEqual([]);
        const dataPlane = pods.filter((p) => !p.metadata.labels?.['linkerd.io/control-plane-component']);
        expect(dataPlane.map((p) => p.metadata.namespace).sort()).toEqual([...Array(2).fill(trafficNs.client), ...Array(3).fill(trafficNs.server)]);
        expect(dataPlane.filter((p) => p.metadata.annotations?.['linkerd.io/trust-root-sha256'] !== hash).map(id)).toEqual([]);
        const literalAnchors = (p: PodInfo) => proxyContainer(p)?.env?.find((e) => e.name === 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS')?.value;
        expect(
          dataPlane
            .filter((p) => literalAnchors(p) !== undefined && JSON.stringify(pemBlocks(literalAnchors(p)!).map(fp)) !== JSON.stringify([fp(after)]))
            .map(id),
        ).toEqual([]);

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
    let active: Credentials;
    let published: string;
    let work: string;
    const trustRoots = (bundle: string) =>
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: trustRootsName, namespace: L }, data: { 'ca-bundle.crt': bundle } });

    beforeAll(
      guard(async () => {
        work = mkdtempSync(path.join(os.tmpdir(), 'kind-manual-edits-'));
        const secret = await secretData(k(), trustNs, activeSecret);
        // Loaded here, not at the top: the local-cluster support it sits in is not needed to skip.
        const { credentialsFromPem } = await import('../support/chart.js');
        active = await credentialsFromPem(secret['tls.crt']!, secret['tls.key']!);
        published = await trustRootsPem(k());
        expect(published).toContain('BEGIN CERTIFICATE');
      }),
      5 * MIN,
    );

    /** `kubectl edit` with an editor that sets ca-bundle.crt to `bundle` (as a user would by hand). */
    async function kubectlEdit(bundle: string) {
      const script = path.join(work, 'editor.mjs');
      writeFileSync(
        script,
        `import { readFileSync, writeFileSync } from 'node:fs';
const file = process.argv[2];
const obj = JSON.parse(readFileSync(file, 'utf8'));
obj.data['ca-bundle.crt'] = readFileSync(process.env.NEW_BUNDLE_FILE, 'utf8');
writeFileSync(file, JSON.stringify(obj, null, 2));
`,
      );
      const bundleFile = path.join(work, `bundle-${Date.now()}.pem`);
      writeFileSync(bundleFile, bundle);
      return kubectl(['-n', L, 'edit', 'configmap', trustRootsName, '--output=json'], undefined, {
        KUBE_EDITOR: `${process.execPath} ${script}`,
        NEW_BUNDLE_FILE: bundleFile,
      });
    }

    const expectUnchanged = async () => expect(await trustRootsPem(k())).toBe(published);

    it(
      'kubectl apply without the active anchor is denied, naming the missing anchor and where it comes from',
      guard(async () => {
        const other = await fixtures.makeAnchor({ cn: 'someone-elses-root' });
        const r = await kubectl(['apply', '-f', '-'], trustRoots(other.certPem));
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(trustRootsDenied);
        expect(r.stderr).toContain(
          `must contain the active trust anchor "CN=root.linkerd.cluster.local" (sha256:${active.fingerprint.slice(0, 16)}) from Secret ${trustNs}/${activeSecret}`,
        );
        expect(r.stderr).toContain('"CN=someone-elses-root"');
        await expectUnchanged();
      }),
    );

    it(
      'kubectl edit swapping the active anchor for an impostor (same subject, other key) is denied and the impostor called out',
      guard(async () => {
        const impostor = await fixtures.makeImpostor(active);
        const r = await kubectlEdit(impostor.certPem);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(trustRootsDenied);
        expect(r.stderr).toContain(
          `(sha256:${impostor.fingerprint.slice(0, 16)}) has the same name but is a different certificate; anchors are matched by their DER bytes, never by name`,
        );
        await expectUnchanged();
      }),
    );

    it(
      'kubectl replace with a private key pasted in is denied; neither the message nor the webhook pods log the key',
      guard(async () => {
        const keyLines = [active.keyPem, active.keyPemTraditional].flatMap((k) => k.split('\n').filter((l) => l && !l.startsWith('-----')));
        for (const key of [active.keyPem, active.keyPemTraditional]) {
          const r = await kubectl(['replace', '-f', '-'], trustRoots(pems(published, key)));
          expect(r.code).not.toBe(0);
          expect(r.stderr).toContain(trustRootsDenied);
          expect(r.stderr).toMatch(/contains a private key.*but it must hold only CERTIFICATE blocks; remove the key and treat it as exposed/);
          for (const line of keyLines) expect(r.stderr).not.toContain(line);
        }
        const webhookLog = (await kubectl(['-n', rotatorRelease.namespace, 'logs', '-l', rotatorObjects.webhookPods, '--tail=-1', '--prefix'])).stdout;
        expect(webhookLog.length).toBeGreaterThan(0);
        for (const line of keyLines) expect(webhookLog).not.toContain(line);
        await expectUnchanged();
      }),
    );

    it(
      'kubectl patch dropping the active anchor, or adding a certificate that is not a CA, is denied with the reason',
      guard(async () => {
        const other = await fixtures.makeAnchor({ cn: 'patched-in-root' });
        const dropped = await kubectl(['-n', L, 'patch', 'configmap', trustRootsName, '--type=merge', '-p', JSON.stringify({ data: { 'ca-bundle.crt': other.certPem } })]);
        expect(dropped.stderr).toContain(trustRootsDenied);
        expect(dropped.stderr).toContain('must contain the active trust anchor');
        const leaf = await fixtures.makeLeaf(active, { cn: 'web.default.serviceaccount.identity.linkerd.cluster.local' });
        const notCa = await kubectl(['-n', L, 'patch', 'configmap', trustRootsName, '--type=merge', '-p', JSON.stringify({ data: { 'ca-bundle.crt': pems(published, leaf.certPem) } })]);
        expect(notCa.stderr).toContain(trustRootsDenied);
        expect(notCa.stderr).toContain('"CN=web.default.serviceaccount.identity.linkerd.cluster.local"');
        expect(notCa.stderr).toContain('is not a CA (basicConstraints cA is not TRUE), but every certificate in');
        await expectUnchanged();
      }),
    );

    it(
      'kubectl delete is denied, saying why and how to uninstall',
      guard(async () => {
        const r = await kubectl(['-n', L, 'delete', 'configmap', trustRootsName]);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(`${trustRootsDenied}: deleting ConfigMap ${L}/${trustRootsName} is refused`);
        expect(r.stderr).toContain('to uninstall, delete the linkerd-rotator ValidatingWebhookConfiguration first');
        await expectUnchanged();
      }),
    );

    it(
      'a correct edit is allowed: kubectl edit adding a next anchor beside the active one, and kubectl label; trust-manager then restores its bundle',
      guard(async () => {
        const next = await fixtures.makeAnchor({ cn: 'root.linkerd.cluster.local' });
        const edited = await kubectlEdit(pems(published, next.certPem));
        expect(edited.stderr).not.toContain('denied');
        expect(edited.code).toBe(0);
        expect(edited.stdout).toContain(next.certPem.split('\n')[1]);
        const labelled = await kubectl(['-n', L, 'label', 'configmap', trustRootsName, 'example.com/reviewed=yes']);
        expect(labelled.stderr).toBe('');
        expect(labelled.code).toBe(0);
        await waitFor(async () => (await trustRootsPem(k())) === published, {
          what: 'trust-manager to restore its bundle after the manual edit',
          timeoutMs: 3 * MIN,
          intervalMs: 2_000,
        });
      }),
      5 * MIN,
    );

    it(
      'the identity issuer Secret: a non-CA issuer and an issuer chained to a foreign anchor are denied, the Secret unchanged',
      guard(async () => {
        const issuerJson = (issuer: Credentials, ca: string) =>
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'Secret',
            type: 'kubernetes.io/tls',
            metadata: { name: issuerSecret, namespace: L },
            data: { 'tls.crt': b64(issuer.certPem), 'tls.key': b64(issuer.keyPem), 'ca.crt': b64(ca) },
          });
        const before = await secretData(k(), L, issuerSecret);
        const nonCa = await fixtures.makeLeaf(active, { cn: 'identity.linkerd.cluster.local' });
        const r1 = await kubectl(['replace', '-f', '-'], issuerJson(nonCa, active.certPem));
        expect(r1.stderr).toContain(issuerDenied);
        expect(r1.stderr).toContain("is not a CA (basicConstraints cA is not TRUE), but Linkerd's identity controller signs proxy certificates with it");
        const foreignRoot = await fixtures.makeImpostor(active);
        const foreign = await fixtures.makeIssuer(foreignRoot, { cn: 'identity.linkerd.cluster.local' });
        const r2 = await kubectl(['replace', '-f', '-'], issuerJson(foreign, foreignRoot.certPem));
        expect(r2.stderr).toContain(issuerDenied);
        expect(r2.stderr).toContain(`must chain to an anchor in the current trust bundle (ConfigMap ${L}/${trustRootsName}`);
        expect(await secretData(k(), L, issuerSecret)).toEqual(before);
      }),
    );

    it(
      'with the webhook scaled to zero, unrelated objects are written and the guarded objects fail closed',
      guard(async () => {
        const ns = rotatorRelease.namespace;
        const deployment = `deployment/${rotatorObjects.webhookDeployment}`;
        const replicas = (await k().json<{ spec: { replicas?: number } }>(['-n', ns, 'get', deployment])).spec.replicas ?? 1;
        await k().kubectl(['-n', ns, 'scale', deployment, '--replicas=0']);
        try {
          await waitFor(async () => (await kubectl(['-n', ns, 'get', 'pods', '-l', rotatorObjects.webhookPods, '-o', 'name'])).stdout.trim() === '', {
            what: 'the webhook pods to be gone',
            timeoutMs: 3 * MIN,
            intervalMs: 2_000,
          });
          const unrelated = [
            await kubectl(['-n', L, 'create', 'configmap', 'unrelated-config', '--from-literal=a=b']),
            await kubectl(['-n', L, 'create', 'secret', 'generic', 'unrelated-secret', '--from-literal=a=b']),
            await kubectl(['-n', 'default', 'create', 'configmap', trustRootsName, '--from-literal=ca-bundle.crt=not-linkerds']),
            await kubectl(['-n', 'default', 'create', 'secret', 'generic', issuerSecret, '--from-literal=a=b']),
          ];
          expect(unrelated.map((r) => [r.code, r.stderr])).toEqual(unrelated.map(() => [0, '']));
          const roots = await kubectl(['-n', L, 'label', 'configmap', trustRootsName, 'example.com/outage=yes']);
          expect(roots.code).not.toBe(0);
          expect(roots.stderr).toContain('failed calling webhook "trust-roots.linkerd-rotator.io"');
          const issuer = await kubectl(['-n', L, 'label', 'secret', issuerSecret, 'example.com/outage=yes']);
          expect(issuer.code).not.toBe(0);
          expect(issuer.stderr).toContain('failed calling webhook "identity-issuer.linkerd-rotator.io"');
          const deleted = await kubectl(['-n', L, 'delete', 'configmap', trustRootsName]);
          expect(deleted.code).not.toBe(0);
          expect(await trustRootsPem(k())).toBe(published);
        } finally {
          await k().kubectl(['-n', ns, 'scale', deployment, `--replicas=${replicas}`]);
          await k().kubectl(['-n', ns, 'rollout', 'status', deployment, '--timeout=300s']);
        }
      }),
      10 * MIN,
    );
  });
});
