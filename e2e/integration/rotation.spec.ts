// The rotation runner end to end on the local cluster: the chart's PKI and RBAC (helm install,
// webhook and CronJob off), the runner as a child process with a TokenRequest token of the chart's
// ServiceAccount (so a missing permission fails here), real cert-manager, trust-manager, the Linkerd
// identity and injector stand-ins, and simulated proxies making mTLS handshakes throughout. The
// rotations run the default strategy (cross-signed, 1-minute leaves so its long gate is short); plan
// is also asked about strategy restart, which rotates in zero-downtime.spec.ts and exporter.spec.ts.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseBundle, verifyChain } from '@linkerd-rotator/x509';
import { repoRoot, waitFor } from '../cluster/src/index.js';
import { installLinkerd, type LinkerdHandle } from '../cluster/src/linkerd/install.js';
import { installChartForRunner, serviceAccountKubeconfig } from '../support/chart.js';
import { useCluster } from '../support/cluster.js';
import { DataPlane, TrafficDriver } from '../support/dataplane.js';
import { trustRootsPem } from '../support/objects.js';
import { objectNames, release } from '../support/release.js';
import { rotateToDone, type RotateRunReport } from '../support/rotate-to-done.js';
import { bundleRunner, startBundledRunner, type BundledRunnerResult, type RunnerLogRecord } from '../support/runner-bundle.js';

const testCluster = useCluster();
const NS = release.namespace;
const { trustNamespace: TRUST_NS, linkerdNamespace: LINKERD_NS } = objectNames;
const workDir = path.join(repoRoot, 'tmp', `rotation-e2e-${process.pid}`);
const runnerJs = path.join(workDir, 'main.mjs');
let runnerKubeconfig = '';

const kubectl = (args: string[], input?: string) => testCluster().kubectl(args, input === undefined ? {} : { input });
const json = async <T>(args: string[]): Promise<T> => JSON.parse((await kubectl([...args, '-o', 'json'])).stdout) as T;

type LogRecord = RunnerLogRecord;
type RunnerResult = BundledRunnerResult;

let chartEnv: Record<string, string> = {};

/**
 * Starts the bundled runner as the chart's pod would (envFrom the chart's ConfigMap, POD_NAME as the
 * Lease holder, JSON logs on stderr). `onLog` sees each record as it arrives, with the child.
 */
function startRunner(args: string[], opts: { holder?: string; kubeconfig?: string; onLog?: (rec: LogRecord, child: ChildProcess) => void } = {}): { child: ChildProcess; done: Promise<RunnerResult> } {
  const env = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', KUBECONFIG: opts.kubeconfig ?? runnerKubeconfig, POD_NAME: opts.holder ?? 'runner-0', LOG_FORMAT: 'json', ...chartEnv };
  return startBundledRunner(runnerJs, args, { env, ...(opts.onLog ? { onLog: opts.onLog } : {}) });
}

const runner = (args: string[], holder?: string) => startRunner(args, holder ? { holder } : {}).done;

/** Linkerd's issuanceLifetime here, and the runner's --leaf-lifetime: cross-signed's old-leaves-expired gate waits one (plus 20 s of skew). */
const LEAF_LIFETIME = { linkerd: '1m0s', runner: ['--leaf-lifetime', '1m'] } as const;

/**
 * Resumes a rotation parked on the long gate (outcome waiting) at its resumeAt, as the next CronJob
 * run would, until it is done; `first` is the report of the run that parked it.
 */
async function resumeToDone(first: RotateRunReport, holder: string): Promise<RotateRunReport> {
  if (first.outcome === 'done') return first;
  const runs = await rotateToDone({ run: (args) => runner(['rotate', ...args], holder), firstArgs: [...LEAF_LIFETIME.runner], resumeArgs: [...LEAF_LIFETIME.runner] });
  return runs[runs.length - 1]!;
}

const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
const fingerprintOf = (pem: string) => parseBundle(pem).certificates[0]?.fingerprint;

async function secretCert(ns: string, name: string): Promise<{ fp?: string; keys: string[]; rv: string } | undefined> {
  const res = await kubectl(['-n', ns, 'get', 'secret', name, '-o', 'json', '--ignore-not-found']);
  if (!res.stdout.trim()) return undefined;
  const s = JSON.parse(res.stdout) as { data?: Record<string, string>; metadata: { resourceVersion: string } };
  // The anchor a Secret holds: anchor.crt when present (after a cross-signed promotion tls.crt is X).
  const crt = s.data?.['anchor.crt'] ?? s.data?.['tls.crt'];
  return { ...(crt ? { fp: fingerprintOf(b64(crt)) as string } : {}), keys: Object.keys(s.data ?? {}).filter((k) => (s.data?.[k] ?? '') !== ''), rv: s.metadata.resourceVersion };
}

async function preparedRevision(): Promise<string> {
  return (await kubectl(['-n', TRUST_NS, 'get', 'certificate', objectNames.preparedAnchorCertificate, '-o', 'jsonpath={.status.revision}'])).stdout.trim();
}

async function bundleOf(ns: string): Promise<{ text: string; fps: string[] }> {
  const text = await trustRootsPem(testCluster(), ns);
  return { text, fps: parseBundle(text).certificates.map((c) => c.fingerprint).sort() };
}

interface StateData {
  phase: string;
  rotation?: { from: { fingerprint: string }; to?: { fingerprint: string } };
  stopped?: { reason: string; phase: string; message: string; gate?: string };
  last?: { from: string; to: string };
}

async function rotationState(): Promise<{ data: StateData; rv: string }> {
  const cm = await json<{ data: Record<string, string>; metadata: { resourceVersion: string } }>(['-n', NS, 'get', 'configmap', objectNames.stateConfigMap]);
  return { data: JSON.parse(cm.data['state.json'] as string) as StateData, rv: cm.metadata.resourceVersion };
}

/** Every resourceVersion the runner could change, and the number of Events it could add (not identity's per-leaf ones). */
async function clusterVersions(): Promise<Record<string, string>> {
  const list = await json<{ items: Array<{ kind: string; metadata: { namespace?: string; name: string; resourceVersion: string } }> }>([
    'get', 'deployments,statefulsets,daemonsets,replicasets,pods,secrets,configmaps,leases,certificates.cert-manager.io', '-A',
  ]);
  const out: Record<string, string> = {};
  // kube-system and kube-node-lease hold the control plane's own heartbeats.
  for (const o of list.items) if (!['kube-system', 'kube-node-lease'].includes(o.metadata.namespace ?? '')) out[`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`] = o.metadata.resourceVersion;
  // Linkerd's identity controller records an IssuedLeafCertificate Event for every leaf it issues
  // (linkerd2 pkg/identity/service.go), which the running data plane renews on its own: not the runner's.
  const events = await json<{ items: Array<{ reason?: string }> }>(['get', 'events', '-A']);
  out['events'] = String(events.items.filter((e) => e.reason !== 'IssuedLeafCertificate').length);
  return out;
}

const meshedWorkloads = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, annotations: {linkerd.io/inject: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: batch, annotations: {linkerd.io/inject: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: linkerd-viz, labels: {linkerd.io/extension: viz}, annotations: {linkerd.io/inject: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: example.invalid/web:1}]}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template: {metadata: {labels: {app: api}}, spec: {containers: [{name: api, image: example.invalid/api:1}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  replicas: 1
  serviceName: db
  selector: {matchLabels: {app: db}}
  template: {metadata: {labels: {app: db}}, spec: {containers: [{name: db, image: example.invalid/db:1}]}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: batch}
spec:
  selector: {matchLabels: {app: agent}}
  template: {metadata: {labels: {app: agent}}, spec: {containers: [{name: agent, image: example.invalid/agent:1}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker, namespace: batch}
spec:
  replicas: 1
  selector: {matchLabels: {app: worker}}
  template: {metadata: {labels: {app: worker}}, spec: {containers: [{name: worker, image: example.invalid/worker:1}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: metrics-api, namespace: linkerd-viz}
spec:
  replicas: 1
  selector: {matchLabels: {app: metrics-api}}
  template: {metadata: {labels: {app: metrics-api}}, spec: {containers: [{name: metrics-api, image: example.invalid/metrics:1}]}}
`;

let linkerd: LinkerdHandle;
let plane: DataPlane;

async function meshedPods(): Promise<Array<{ ns: string; name: string; hash?: string; anchors?: string[]; configMapRef: boolean; ready: boolean; startedAt: number }>> {
  const pods = await json<{ items: Array<{ metadata: { namespace: string; name: string; annotations?: Record<string, string>; deletionTimestamp?: string }; spec: { containers: Array<{ name: string; env?: Array<{ name: string; value?: string; valueFrom?: { configMapKeyRef?: unknown } }> }> }; status: { startTime?: string; conditions?: Array<{ type: string; status: string }> } }> }>(['get', 'pods', '-A']);
  return pods.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .flatMap((p) => {
      const proxy = p.spec.containers.find((c) => c.name === 'linkerd-proxy');
      if (!proxy) return [];
      const env = proxy.env?.find((e) => e.name === 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS');
      const hash = p.metadata.annotations?.['linkerd.io/trust-root-sha256'];
      return [
        {
          ns: p.metadata.namespace,
          name: p.metadata.name,
          ...(hash ? { hash } : {}),
          ...(env?.value ? { anchors: parseBundle(env.value).certificates.map((c) => c.fingerprint).sort() } : {}),
          configMapRef: env?.valueFrom?.configMapKeyRef !== undefined,
          ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
          startedAt: Date.parse(p.status.startTime ?? '') || 0,
        },
      ];
    });
}

beforeAll(async () => {
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  // The production artifact, as the image builds it (apps/rotation-runner/Dockerfile).
  await bundleRunner(runnerJs);

  // The chart's PKI, config and RBAC; the webhook and the CronJob are tested elsewhere.
  ({ chartEnv, runnerKubeconfig } = await installChartForRunner(testCluster(), { timeoutSeconds: 120 }));
}, 600_000);

afterAll(async () => {
  await plane?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

describe('rotation runner on the local cluster, as the chart\'s ServiceAccount', () => {
  let anchorA: string;
  let anchorB: string;

  it('bootstrap creates the active (with key) and previous (certificate only) anchor Secrets from the prepared one, and a rerun changes nothing', async () => {
    const revisionBefore = await preparedRevision();
    expect(await secretCert(TRUST_NS, objectNames.activeAnchorSecret)).toBeUndefined();
    const first = await runner(['bootstrap']);
    expect(first.code).toBe(0);
    // Bootstrap adopts the prepared anchor as it is when it runs. cert-manager may still re-issue a
    // just-created Certificate (one CI run saw the prepared Secret change between a read before
    // bootstrap and bootstrap's own read), so compare with the prepared anchor after it, and say so.
    const prepared = await secretCert(TRUST_NS, objectNames.preparedAnchorSecret);
    const revisionAfter = await preparedRevision();
    if (revisionAfter !== revisionBefore) process.stderr.write(`prepared anchor Certificate re-issued during bootstrap (revision ${revisionBefore} -> ${revisionAfter})\n`);
    const active = await secretCert(TRUST_NS, objectNames.activeAnchorSecret);
    const previous = await secretCert(TRUST_NS, objectNames.previousAnchorSecret);
    expect(active?.fp).toBe(prepared?.fp);
    expect(active?.keys.sort()).toEqual(['anchor.crt', 'tls.crt', 'tls.key']);
    expect(previous?.fp).toBe(prepared?.fp);
    expect(previous?.keys).toEqual(['tls.crt']);
    // The identity issuer's ClusterIssuer reads the active anchor: it can issue now.
    await kubectl(['-n', LINKERD_NS, 'wait', '--for=condition=Ready', `certificate/${objectNames.issuerCertificate}`, '--timeout=120s']);
    await kubectl(['wait', '--for=condition=Synced', `bundle/${objectNames.trustRootsConfigMap}`, '--timeout=120s']);

    const again = await runner(['bootstrap']);
    expect(again.code).toBe(0);
    expect((await secretCert(TRUST_NS, objectNames.activeAnchorSecret))?.rv).toBe(active?.rv);
    expect((await secretCert(TRUST_NS, objectNames.previousAnchorSecret))?.rv).toBe(previous?.rv);
    expect(again.logs.map((l) => l.msg)).toContain('already bootstrapped: nothing changed');
    // I5: no log line carries PEM or key material.
    expect(first.stderr + again.stderr).not.toMatch(/BEGIN|PRIVATE KEY/);
    anchorA = prepared?.fp as string;

    linkerd = await installLinkerd(testCluster(), { issuanceLifetime: LEAF_LIFETIME.linkerd });
    await kubectl(['apply', '-f', '-'], meshedWorkloads);
    for (const [ns, kind] of [['shop', 'deployment/web'], ['shop', 'deployment/api'], ['shop', 'statefulset/db'], ['batch', 'daemonset/agent'], ['batch', 'deployment/worker'], ['linkerd-viz', 'deployment/metrics-api']] as const) {
      await kubectl(['-n', ns, 'rollout', 'status', kind, '--timeout=120s']);
    }
  }, 300_000);

  it('status and check report a healthy mesh; plan lists every restart of either strategy and changes nothing (resourceVersions, Events)', async () => {
    const before = await clusterVersions();
    type PlanOutput = { rotates: boolean; strategy?: string; rolls: { total: number; byPhase: Record<string, number>; byTier: Record<string, number> }; steps: Array<{ phase: string; kind: string; tier?: string; workloads?: string[] }> };
    // The default, cross-signed: only the identity controller is restarted (at Promote).
    const crossSigned = await runner(['plan', '--force', '--output', 'json']);
    expect(crossSigned.code).toBe(0);
    const c = JSON.parse(crossSigned.stdout) as PlanOutput;
    expect(c).toMatchObject({ rotates: true, strategy: 'cross-signed', rolls: { byPhase: { Promote: 1, Retire: 0 } } });
    // TrustBoth restarts no data-plane pod; only control-plane pods (configMapKeyRef) whose start lies
    // within the clock-skew allowance of the bundle's sync, whose trust is therefore unknown (issue 14 item 9).
    expect(c.steps.filter((step) => step.phase === 'TrustBoth' && step.kind === 'roll' && step.tier !== 'control-plane')).toEqual([]);
    expect(c.rolls.byPhase['TrustBoth']).toBeLessThanOrEqual(3);
    const planned = await runner(['plan', '--force', '--strategy', 'restart', '--output', 'json']);
    expect(planned.code).toBe(0);
    const p = JSON.parse(planned.stdout) as PlanOutput;
    expect(p.rotates).toBe(true);
    expect(p.strategy).toBe('restart');
    // 3 control-plane Deployments, 1 extension, 5 data-plane workloads; identity twice in Promote.
    expect(p.rolls.byPhase).toEqual({ TrustBoth: 9, Promote: 10, Retire: 9 });
    const trustBoth = p.steps.filter((s) => s.phase === 'TrustBoth' && s.kind === 'roll');
    expect(trustBoth.map((s) => s.tier)).toEqual(['control-plane', 'extension', 'data-plane']);
    expect(trustBoth[2]?.workloads).toEqual(['DaemonSet/batch/agent', 'Deployment/batch/worker', 'Deployment/shop/api', 'Deployment/shop/web', 'StatefulSet/shop/db']);
    const status = await runner(['status', '--output', 'json']);
    expect(status.code).toBe(0);
    const check = await runner(['check']);
    expect(check.stdout).toMatch(/Findings:\s+(none|note)/);
    expect(check.code).toBe(0);
    // Issue 14 item 11: a --leaf-lifetime shorter than identity's -identity-issuance-lifetime (1m0s
    // here, read from the Deployment) is refused before anything is written; check names it too.
    const short = await runner(['rotate', '--force', '--leaf-lifetime', '30s']);
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('expected --leaf-lifetime (LEAF_LIFETIME) 30s to be at least Linkerd identity\'s issuance lifetime 1m ');
    const shortCheck = await runner(['check', '--leaf-lifetime', '30s']);
    expect(shortCheck.code).toBe(1);
    expect(shortCheck.stdout).toContain('issuance lifetime 1m ');
    expect(await clusterVersions()).toEqual(before);
  }, 120_000);

  it('a StatefulSet with updateStrategy OnDelete stops a restart-strategy rotation before its first write, naming it and what to do; plan names it first; cross-signed is not held (issue 14, item 8)', async () => {
    await kubectl(['-n', 'shop', 'patch', 'statefulset', 'db', '--type=merge', '-p', '{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}']);
    const onDelete = /StatefulSet shop\/db uses updateStrategy OnDelete: a restart does not replace its pods; delete its pods one at a time/;
    const workloadsAndAnchors = async () => Object.fromEntries(Object.entries(await clusterVersions()).filter(([key]) => /^(Deployment|StatefulSet|DaemonSet|Secret|Certificate)\//.test(key)));
    const before = await workloadsAndAnchors();
    const revision = await preparedRevision();

    const planned = JSON.parse((await runner(['plan', '--force', '--strategy', 'restart', '--output', 'json'])).stdout) as { rotates: boolean; summary: string };
    expect(planned.rotates).toBe(false);
    expect(planned.summary).toMatch(onDelete);
    // cross-signed restarts only pods trusting neither anchor: db's pod trusts A, so nothing holds it.
    expect(JSON.parse((await runner(['plan', '--force', '--output', 'json'])).stdout)).toMatchObject({ rotates: true, strategy: 'cross-signed' });

    const run = await runner(['rotate', '--force', '--strategy', 'restart', '--output', 'json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { outcome: string; reason: string; message: string };
    expect(report).toMatchObject({ outcome: 'stopped', reason: 'pods-not-restartable' });
    expect(report.message).toMatch(onDelete);
    expect((await rotationState()).data.stopped).toMatchObject({ reason: 'pods-not-restartable', phase: 'Idle' });
    // Nothing written before the stop: no anchor Secret, Certificate or workload changed.
    expect(await workloadsAndAnchors()).toEqual(before);
    expect(await preparedRevision()).toBe(revision);

    // Fixed as the message says; the next run resumes and, with nothing due, leaves the state idle.
    await kubectl(['-n', 'shop', 'patch', 'statefulset', 'db', '--type=merge', '-p', '{"spec":{"updateStrategy":{"type":"RollingUpdate"}}}']);
    expect((await runner(['rotate'])).code).toBe(0);
    expect((await rotationState()).data.phase).toBe('Idle');
  }, 120_000);

  it('rotates A -> B (cross-signed) to the end through kill -9 at the start of every phase and a resume after the long gate, with no failed mTLS handshake', async () => {
    plane = new DataPlane(testCluster().kubeConfig(), linkerd.identityAddr);
    await plane.start();
    const meshedCount = (await meshedPods()).length;
    await waitFor(() => plane.ready().length >= meshedCount - 3, { what: 'simulated proxies for the data plane', timeoutMs: 60_000 });
    const traffic = new TrafficDriver(plane, { concurrency: 3 });
    traffic.start();
    const identityBefore = linkerd.processes().filter((p) => p.component === 'identity').map((p) => p.pod);

    // Kill points in run order. The log reaches us a little after the runner acted, so under load
    // the runner may already be further on when the SIGKILL lands, and a resumed run starts in the
    // phase it was killed in without logging a transition into it. So each kill fires at the first
    // record at or past its point, and points the killed run had already passed are skipped: what
    // must hold is that every resume finishes the job, with kills spread over the phases. Under
    // cross-signed no data-plane pod is rolled in TrustBoth (all trust A), so mid-roll is never
    // reached; a run that ends waiting on old-leaves-expired is resumed at its resumeAt.
    const order = ['Prepare', 'TrustBoth', 'mid-roll', 'Promote', 'Retire'];
    const rank = (rec: LogRecord): number => {
      const phase = typeof rec['to'] === 'string' && rec.msg.startsWith('phase ') ? rec['to'] : rec['phase'];
      if (phase === 'TrustBoth' && rec['tier'] === 'data-plane' && typeof rec['rolled'] === 'number') return order.indexOf('mid-roll');
      return typeof phase === 'string' ? order.indexOf(phase) : -1;
    };
    const killedAt: string[] = [];
    let next = 0;
    let forced = false;
    let final: RunnerResult | undefined;
    const waited: RotateRunReport[] = [];
    for (let attempt = 0; attempt < order.length + 3 && !final; attempt++) {
      const args = ['rotate', ...LEAF_LIFETIME.runner, '--phase-timeout', '3m', '--lease-duration', '20s', '--max-concurrent-rollouts', '2', '--output', 'json'];
      if (!forced) args.push('--force');
      forced = true;
      const run = startRunner(args, {
        holder: 'runner-0',
        onLog: (rec, child) => {
          if (next >= order.length || child.killed) return;
          const reached = rank(rec);
          if (reached >= next) {
            child.kill('SIGKILL');
            killedAt.push(order[reached]!);
            next = reached + 1;
          }
        },
      });
      const result = await run.done;
      if (result.signal === 'SIGKILL') continue;
      expect(result.stderr).not.toMatch(/BEGIN|PRIVATE KEY/);
      if (result.code !== 0) throw new Error(`rotate exited ${result.code}: ${result.stdout}\n${result.stderr.slice(-4000)}`);
      const ended = JSON.parse(result.stdout) as RotateRunReport;
      if (ended.outcome === 'waiting') {
        waited.push(ended);
        const resumeAt = Date.parse(ended.resumeAt ?? '');
        await waitFor(() => Date.now() >= resumeAt, { what: `the clock to reach ${ended.resumeAt}, when ${ended.waitingFor ?? 'the gate'} opens`, timeoutMs: Math.max(0, resumeAt - Date.now()) + 60_000, intervalMs: 1_000 });
        continue;
      }
      final = result;
    }
    process.stderr.write(`kill -9 points reached: ${killedAt.join(', ')}; runs parked on a long gate: ${waited.length}\n`);
    expect(waited.map((w) => w.phase)).toEqual(['Promote']);
    expect(killedAt.length).toBeGreaterThanOrEqual(3);
    expect(new Set(killedAt.map((k) => (k === 'mid-roll' ? 'TrustBoth' : k))).size).toBeGreaterThanOrEqual(3);
    const report = JSON.parse(final?.stdout ?? '{}') as { outcome: string; phase: string; from: string; to: string };
    expect(report.outcome).toBe('done');
    expect(report.phase).toBe('Done');

    const { failures, handshakes, disagreements } = await traffic.stop();
    expect(handshakes).toBeGreaterThan(50);
    expect(failures).toEqual([]);
    expect(disagreements).toBe(0);
    expect(plane.events.filter((e) => e.event.startsWith('leaf refused'))).toEqual([]);

    // Final state: new active anchor, bundle = {new}, issuer chained to new (and to A through X), every
    // meshed pod still on {A} (relying on X) or started on a bundle with B; identity restarted.
    const state = (await rotationState()).data;
    expect(state.phase).toBe('Done');
    expect(state.last?.from).toBe(anchorA);
    anchorB = state.last?.to as string;
    expect(anchorB).not.toBe(anchorA);
    expect((await secretCert(TRUST_NS, objectNames.activeAnchorSecret))?.fp).toBe(anchorB);
    expect((await secretCert(TRUST_NS, objectNames.previousAnchorSecret))?.fp).toBe(anchorB);
    const bundle = await bundleOf(LINKERD_NS);
    expect(bundle.fps).toEqual([anchorB]);
    const issuerPem = b64((await json<{ data: Record<string, string> }>(['-n', LINKERD_NS, 'get', 'secret', objectNames.issuerSecret])).data['tls.crt'] as string);
    const chain = await verifyChain(parseBundle(issuerPem).certificates[0] as never, { anchors: parseBundle(bundle.text).certificates });
    expect(chain.ok && chain.anchor.fingerprint).toBe(anchorB);
    // X: B's subject, a certificate of its own (neither A nor B), the one intermediate after the issuer.
    const crossSignatures = parseBundle(issuerPem).certificates.slice(1);
    expect(crossSignatures.map((c) => ({ subject: c.subject, other: c.fingerprint !== anchorA && c.fingerprint !== anchorB }))).toEqual([
      { subject: parseBundle(bundle.text).certificates[0]!.subject, other: true },
    ]);
    const pods = await meshedPods();
    for (const pod of pods) {
      expect({ pod: `${pod.ns}/${pod.name}`, ready: pod.ready }).toEqual({ pod: `${pod.ns}/${pod.name}`, ready: true });
      if (!pod.configMapRef) expect({ pod: pod.name, trustsAOrB: pod.anchors?.some((fp) => fp === anchorA || fp === anchorB) }).toEqual({ pod: pod.name, trustsAOrB: true });
    }
    // No data-plane pod was restarted: those that started before the rotation still trust only A.
    expect(pods.filter((pod) => !pod.configMapRef && pod.ns !== LINKERD_NS && JSON.stringify(pod.anchors) === JSON.stringify([anchorA])).length).toBeGreaterThanOrEqual(5);
    const identityAfter = linkerd.processes().filter((p) => p.component === 'identity').map((p) => p.pod);
    expect(identityAfter.some((pod) => identityBefore.includes(pod))).toBe(false);
    const check = await runner(['check', '--output', 'json']);
    const findings = (JSON.parse(check.stdout) as { findings: Array<{ severity: string; message: string }> }).findings;
    expect(findings.filter((f) => f.severity === 'problem')).toEqual([]);
    expect(check.code).toBe(0);

    // I4: rerunning a finished rotation changes nothing.
    const before = await clusterVersions();
    const rerun = await runner(['rotate', '--output', 'json']);
    expect(rerun.code).toBe(0);
    expect((JSON.parse(rerun.stdout) as { outcome: string }).outcome).toBe('not-due');
    expect(await clusterVersions()).toEqual(before);
  }, 600_000);

  it('a second concurrent rotate is refused while the Lease is held; a missed deadline stops safely naming the workload, with the old anchor still active and trusted; a rerun finishes', async () => {
    // worker's new pods can never be scheduled: its restart never completes. Its pod trusts only A,
    // neither B nor the next anchor, so even cross-signed restarts it in TrustBoth.
    await kubectl(['-n', 'batch', 'patch', 'deployment', 'worker', '--type=merge', '-p', '{"spec":{"template":{"spec":{"nodeSelector":{"nowhere":"true"}}}}}']);
    let second: Promise<RunnerResult> | undefined;
    const first = startRunner(['rotate', ...LEAF_LIFETIME.runner, '--force', '--phase-timeout', '15s', '--max-concurrent-rollouts', '3', '--output', 'json'], {
      holder: 'runner-1',
      onLog: (rec) => {
        if (!second && rec['gate'] === 'pods-trust-both') second = runner(['rotate', '--force', '--output', 'json'], 'runner-2');
      },
    });
    const result = await first.done;
    const refused = await waitFor(() => second, { what: 'the second run to start', timeoutMs: 1_000 });
    const other = await refused;
    expect(other.code).toBe(3);
    expect(other.stdout).toMatch(/held by runner-1/);
    // The refused run wrote nothing: not even an Event.
    const events = await json<{ items: Array<{ reportingInstance?: string }> }>(['get', 'events', '-A']);
    expect(events.items.filter((e) => e.reportingInstance === 'runner-2')).toEqual([]);

    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { outcome: string; reason: string; message: string };
    expect(report.outcome).toBe('stopped');
    expect(report.reason).toBe('deadline');
    expect(report.message).toMatch(/pods-trust-both/);
    expect(report.message).toMatch(/Deployment\/batch\/worker|batch\/worker-/);
    const state = (await rotationState()).data;
    expect(state.phase).toBe('Stopped');
    expect(state.stopped).toMatchObject({ reason: 'deadline', phase: 'TrustBoth', gate: 'pods-trust-both' });
    expect(state.rotation?.from.fingerprint).toBe(anchorB);
    // Safe: B still signs and every bundle still holds B.
    expect((await secretCert(TRUST_NS, objectNames.activeAnchorSecret))?.fp).toBe(anchorB);
    expect((await bundleOf(LINKERD_NS)).fps).toContain(anchorB);
    const check = await runner(['check']);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/PROBLEM: the last rotation run stopped \(deadline\)/);

    await kubectl(['-n', 'batch', 'patch', 'deployment', 'worker', '--type=json', '-p', '[{"op":"remove","path":"/spec/template/spec/nodeSelector"}]']);
    const resumed = await runner(['rotate', ...LEAF_LIFETIME.runner, '--phase-timeout', '2m', '--output', 'json'], 'runner-1');
    expect(resumed.code).toBe(0);
    expect((await resumeToDone(JSON.parse(resumed.stdout) as RotateRunReport, 'runner-1')).outcome).toBe('done');
    const done = (await rotationState()).data;
    expect(done.phase).toBe('Done');
    expect(done.last?.from).toBe(anchorB);
    expect((await bundleOf(LINKERD_NS)).fps).toEqual([done.last?.to]);
  }, 600_000);

  it('rides out a kube-apiserver outage mid-rotation and finishes', async () => {
    let stopped = false;
    const run = startRunner(['rotate', ...LEAF_LIFETIME.runner, '--force', '--phase-timeout', '2m', '--api-timeout', '90s', '--output', 'json'], {
      holder: 'runner-3',
      onLog: (rec) => {
        // The first gate of Promote (identity-issuer-chained, identity-loaded-issuer or identity-restarted: both strategies have them).
        if (!stopped && rec['phase'] === 'Promote' && typeof rec['gate'] === 'string') {
          stopped = true;
          void (async () => {
            await testCluster().stopComponent('kube-apiserver');
            await new Promise((r) => setTimeout(r, 8_000));
            await testCluster().startComponent('kube-apiserver');
          })();
        }
      },
    });
    const result = await run.done;
    expect(stopped).toBe(true);
    if (result.code !== 0) throw new Error(`rotate exited ${result.code}: ${result.stdout}\n${result.stderr.slice(-3000)}`);
    expect(result.logs.some((l) => /list\/watch failed|API call failed/.test(l.msg))).toBe(true);
    expect((await resumeToDone(JSON.parse(result.stdout) as RotateRunReport, 'runner-3')).outcome).toBe('done');
    expect((await rotationState()).data.phase).toBe('Done');
  }, 600_000);

  it('names the missing permission when the runner runs as a ServiceAccount the chart did not bind', async () => {
    await kubectl(['-n', NS, 'create', 'serviceaccount', 'nobody']);
    const res = await startRunner(['status', '--api-timeout', '5s'], { kubeconfig: await serviceAccountKubeconfig(testCluster(), 'nobody') }).done;
    expect(res.code).toBe(4);
    expect(res.stderr).toMatch(/expected permission to (get|list) \S+.*403 Forbidden.*chart's RBAC should grant/);
  }, 60_000);
});
