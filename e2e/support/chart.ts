// Runs this repo's chart (charts/linkerd-rotator) on the local cluster: helm install in url mode
// against the webhook from apps/webhook started as a local process under the chart's webhook
// ServiceAccount, and the runner from apps/rotation-runner run as the chart's hook and CronJob would.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { registerExtraProcess, unregisterExtraProcess } from '../cluster/src/cluster.js';
import { freePorts, logTail, waitFor, type Cluster } from '../cluster/src/index.js';
import { repoRoot } from '../cluster/src/paths.js';
import { run, type RunResult } from '../cluster/src/kubectl.js';
import { makeCa, makeLeaf } from '../cluster/src/pki.js';
import { startProcess, stopProcess, type ProcessRecord } from '../cluster/src/process.js';
import { fingerprintsOf } from './certs.js';
import { getJson, secretData, trustRootsPem } from './objects.js';
import { chartDir, objectNames, release, releaseObjects } from './release.js';

export { chartDir, release } from './release.js';
export { secretData, trustRootsPem } from './objects.js';
export const runnerSa = releaseObjects.runnerServiceAccount;
export const webhookSa = releaseObjects.webhookServiceAccount;
export const saUser = (sa: string, ns: string = release.namespace) => `system:serviceaccount:${ns}:${sa}`;

/**
 * The chart's default object names under the short keys chart.spec.ts uses, taken from the names
 * table (libs/names via ./release.ts); other code reads `objectNames` from ./release.ts directly.
 */
export const names = {
  trustNs: objectNames.trustNamespace,
  linkerdNs: objectNames.linkerdNamespace,
  rootIssuer: objectNames.trustRootIssuer,
  prepared: objectNames.preparedAnchorSecret,
  active: objectNames.activeAnchorSecret,
  previous: objectNames.previousAnchorSecret,
  clusterIssuer: objectNames.identityClusterIssuer,
  issuer: objectNames.issuerSecret,
  trustRoots: objectNames.trustRootsConfigMap,
  state: objectNames.stateConfigMap,
  lease: objectNames.lease,
  publicPki: objectNames.publicPkiConfigMap,
} as const;

export const b64 = (s: string) => Buffer.from(s).toString('base64');

export async function jsonpath(cluster: Cluster, args: string[], expr: string): Promise<string> {
  return (await cluster.kubectl([...args, '-o', `jsonpath=${expr}`])).stdout.trim();
}

/**
 * A kubeconfig that authenticates as a ServiceAccount with a TokenRequest token (not impersonation),
 * so the API server sees exactly what an in-cluster pod of that account would send.
 */
export async function serviceAccountKubeconfig(cluster: Cluster, sa: string, ns: string = release.namespace): Promise<string> {
  const token = (await cluster.kubectl(['-n', ns, 'create', 'token', sa, '--duration=2h'])).stdout.trim();
  const ca = readFileSync(path.join(cluster.state.dir, 'pki', 'ca.crt'), 'utf8');
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), `kubeconfig-${sa}-`)), 'kubeconfig');
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "${cluster.state.server}", certificate-authority-data: ${b64(ca)}}}]
users: [{name: ${sa}, user: {token: ${token}}}]
contexts: [{name: local, context: {cluster: local, user: ${sa}}}]
current-context: local
`,
    { mode: 0o600 },
  );
  return file;
}

/** kubectl authenticated as a ServiceAccount (see serviceAccountKubeconfig); resolves even on failure. */
export function kubectlAs(cluster: Cluster, kubeconfig: string) {
  return (args: string[], input?: string): Promise<RunResult> =>
    cluster.kubectl([`--kubeconfig=${kubeconfig}`, ...args], { allowFailure: true, ...(input === undefined ? {} : { input }) });
}

/** Where the chart's webhook will listen: chosen before install, because the URL is a chart value. */
export interface WebhookEndpoint {
  port: number;
  metricsPort: number;
  url: string;
}

export async function webhookEndpoint(): Promise<WebhookEndpoint> {
  const [port, metricsPort] = await freePorts(2);
  return { port: port!, metricsPort: metricsPort!, url: `https://127.0.0.1:${port}/validate` };
}

/** helm values for a local-cluster install: webhook by URL on loopback, ports as chosen. */
export function urlModeValues(endpoint: WebhookEndpoint): string[] {
  return [
    '--set', 'webhook.clientConfig.mode=url',
    '--set', `webhook.clientConfig.url=${endpoint.url}`,
    '--set', `webhook.port=${endpoint.port}`,
    '--set', `webhook.metricsPort=${endpoint.metricsPort}`,
  ];
}

/** A serving certificate for 127.0.0.1 from a throwaway CA, for `webhook.caBundle`. */
export async function generatedServingTls(): Promise<{ caBundle: string; certPem: string; keyPem: string }> {
  const ca = await makeCa('linkerd-rotator-test-webhook-ca');
  const leaf = await makeLeaf(ca, { commonName: 'linkerd-rotator-webhook', ips: ['127.0.0.1'], usage: 'server' });
  return { caBundle: b64(ca.certPem), ...leaf };
}

interface ContainerSpec {
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
  envFrom?: Array<{ configMapRef?: { name: string } }>;
}

export type DeploymentSpec = { spec: { template: { spec: { containers: ContainerSpec[] } } } };

/**
 * The environment the chart gives a container: its config ConfigMap (envFrom), then its literal env
 * (LOG_LEVEL, ...), then POD_NAME and POD_NAMESPACE as the downward API would set them.
 */
export async function podEnvironment(
  cluster: Cluster,
  container: ContainerSpec,
  opts: { what: string; podName: string; configMapData?: Record<string, string> },
): Promise<NodeJS.ProcessEnv> {
  const configMapName = container.envFrom?.find((e) => e.configMapRef)?.configMapRef?.name;
  if (!configMapName) throw new Error(`expected an envFrom configMapRef (the config ConfigMap of docs/chart.md) in ${opts.what}, found none; check its template`);
  const configMapData =
    opts.configMapData ?? (await getJson<{ data: Record<string, string> }>(cluster, ['-n', release.namespace, 'get', 'configmap', configMapName])).data;
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'], ...configMapData };
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  env['POD_NAME'] = opts.podName;
  env['POD_NAMESPACE'] = release.namespace;
  return env;
}

/** An app of this repository started as a local process the way the chart's Deployment starts it. */
export interface ChartProcess {
  process: ProcessRecord;
  /** Lines the process logged so far. */
  log(): string;
  readyz(): Promise<number>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts apps/<app>/src/main.ts with tsx (as its image runs its bundle), registered with the cluster
 * so `down` stops it, and waits until its metrics port answers `wait` with 200.
 */
async function startChartProcess(
  cluster: Cluster,
  opts: { app: 'webhook' | 'exporter'; dir: string; args: string[]; env: NodeJS.ProcessEnv; metricsPort: number; wait: { path: 'readyz' | 'healthz'; what: string } },
): Promise<ChartProcess> {
  const rec = startProcess({
    name: `chart-${opts.app}`,
    command: path.join(repoRoot, 'node_modules/.bin/tsx'),
    args: ['--tsconfig', path.join(repoRoot, 'tsconfig.base.json'), path.join(repoRoot, `apps/${opts.app}/src/main.ts`), ...opts.args],
    log: path.join(opts.dir, `${opts.app}.log`),
    env: opts.env,
    cwd: repoRoot,
  });
  registerExtraProcess(cluster.state, rec);
  const metricsUrl = `http://127.0.0.1:${opts.metricsPort}`;
  const status = async (endpoint: string) => (await fetch(`${metricsUrl}/${endpoint}`).catch(() => undefined))?.status ?? 0;
  await waitFor(async () => (await status(opts.wait.path)) === 200, { what: opts.wait.what, timeoutMs: 60_000, process: rec }).catch((err: Error) => {
    throw new Error(`${err.message}\n${opts.app} log (${rec.log}):\n${logTail(rec.log, 40)}`);
  });
  return {
    process: rec,
    log: () => readFileSync(rec.log, 'utf8'),
    readyz: () => status('readyz'),
    metrics: async () => (await fetch(`${metricsUrl}/metrics`)).text(),
    stop: async () => {
      await stopProcess(rec);
      unregisterExtraProcess(cluster.state, rec);
    },
  };
}

export interface ChartWebhook extends ChartProcess {
  endpoint: WebhookEndpoint;
}

export interface StartChartWebhookOptions {
  endpoint: WebhookEndpoint;
  tls: { certPem: string; keyPem: string };
  /** kubeconfig the process authenticates with (the chart's webhook ServiceAccount). */
  kubeconfig: string;
  /** The chart's rendered Deployment and config ConfigMap to take args and env from. */
  deployment?: unknown;
  configMapData?: Record<string, string>;
  /** Wait for /readyz (every guarded object listed once). */
  waitReady?: boolean;
}

/**
 * Starts apps/webhook as the chart's Deployment starts it: the container's args (TLS paths pointed at
 * local files, listening on loopback) and its env (envFrom the chart's config ConfigMap, LOG_LEVEL,
 * POD_NAME, POD_NAMESPACE), authenticated as the webhook ServiceAccount.
 */
export async function startChartWebhook(cluster: Cluster, opts: StartChartWebhookOptions): Promise<ChartWebhook> {
  const deployment = (opts.deployment ?? (await getJson(cluster, ['-n', release.namespace, 'get', 'deployment', releaseObjects.webhookDeployment]))) as DeploymentSpec;
  const container = deployment.spec.template.spec.containers[0]!;
  const env = await podEnvironment(cluster, container, {
    what: 'the chart webhook Deployment',
    podName: 'local-webhook',
    ...(opts.configMapData ? { configMapData: opts.configMapData } : {}),
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chart-webhook-'));
  writeFileSync(path.join(dir, 'tls.crt'), opts.tls.certPem);
  writeFileSync(path.join(dir, 'tls.key'), opts.tls.keyPem, { mode: 0o600 });
  const args = (container.args ?? []).map((a) => a.replace(/^\/tls\//, `${dir}/`));
  args.push('--bind-address', '127.0.0.1', '--metrics-bind-address', '127.0.0.1', '--kubeconfig', opts.kubeconfig);
  const wait =
    opts.waitReady === false
      ? ({ path: 'healthz', what: 'the webhook to listen (/healthz)' } as const)
      : ({ path: 'readyz', what: 'the webhook to be ready (/readyz: every guarded object listed)' } as const);
  const started = await startChartProcess(cluster, { app: 'webhook', dir, args, env, metricsPort: opts.endpoint.metricsPort, wait });
  return { ...started, endpoint: opts.endpoint };
}

export interface ChartExporter extends ChartProcess {
  metricsPort: number;
}

/**
 * Starts apps/exporter as the chart's exporter Deployment starts it (its bundle, no args; env from the
 * config ConfigMap and the container's env), listening on loopback on a free port, authenticated as
 * `kubeconfig` (the chart's exporter ServiceAccount), and waits until every cache has synced (/readyz).
 */
export async function startChartExporter(cluster: Cluster, opts: { kubeconfig: string }): Promise<ChartExporter> {
  const deployment = await getJson<DeploymentSpec>(cluster, ['-n', release.namespace, 'get', 'deployment', releaseObjects.exporterDeployment]);
  const container = deployment.spec.template.spec.containers[0]!;
  const env = await podEnvironment(cluster, container, { what: 'the chart exporter Deployment', podName: 'local-exporter' });
  const [metricsPort] = await freePorts(1);
  const args = [...(container.args ?? []), '--metrics-bind-address', '127.0.0.1', '--metrics-port', String(metricsPort), '--kubeconfig', opts.kubeconfig];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chart-exporter-'));
  const wait = { path: 'readyz', what: 'the exporter to be ready (/readyz: every cache synced)' } as const;
  const started = await startChartProcess(cluster, { app: 'exporter', dir, args, env, metricsPort: metricsPort!, wait });
  return { ...started, metricsPort: metricsPort! };
}

export interface RunnerRun extends RunResult {
  args: string[];
}

/**
 * Runs apps/rotation-runner as one of the chart's runner pods would: the container args of the
 * bootstrap hook Job (`helm get hooks`) or the rotation CronJob, its env (envFrom the config
 * ConfigMap, LOG_LEVEL, POD_NAME, POD_NAMESPACE), authenticated as the runner's ServiceAccount
 * (`kubeconfig` stands in for the in-cluster token). Under kwok the chart's pods run no container,
 * so this is how the hook's and the CronJob's work gets done on the local cluster.
 */
export async function runRunnerAsChart(
  cluster: Cluster,
  opts: {
    kubeconfig: string;
    workload: 'bootstrap-hook' | 'helm-test' | 'rotate-cronjob';
    /** rotate-cronjob: run this command with the CronJob's flags instead of `rotate` (e.g. `recover`). */
    command?: 'rotate' | 'recover';
    extraArgs?: string[];
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    onOutput?: (chunk: string) => void;
    /** The runner's process group (tsx and the node it starts), for a test's `kill -9`. */
    onGroupStarted?: (pid: number) => void;
  },
): Promise<RunnerRun> {
  let container: ContainerSpec;
  if (opts.workload !== 'rotate-cronjob') {
    type Hook = { kind?: string; metadata?: { name?: string }; spec?: { containers?: ContainerSpec[]; template?: { spec: { containers: ContainerSpec[] } } } };
    const [kind, name] = opts.workload === 'bootstrap-hook' ? ['Job', releaseObjects.bootstrapJob] : ['Pod', releaseObjects.checkPod];
    const hooks = (await cluster.helm(['get', 'hooks', release.name, '-n', release.namespace])).stdout;
    const hook = parseAllDocuments(hooks)
      .map((d) => d.toJS() as Hook | null)
      .find((d) => d?.kind === kind && d.metadata?.name === name);
    const found = hook?.spec?.template?.spec.containers[0] ?? hook?.spec?.containers?.[0];
    if (!found) throw new Error(`helm get hooks shows no ${kind} ${name} with a container`);
    container = found;
  } else {
    const cronjob = JSON.parse((await cluster.kubectl(['-n', release.namespace, 'get', 'cronjob', releaseObjects.rotateCronJob, '-o', 'json'])).stdout) as {
      spec: { jobTemplate: { spec: { template: { spec: { containers: ContainerSpec[] } } } } };
    };
    container = cronjob.spec.jobTemplate.spec.template.spec.containers[0]!;
  }
  const env = await podEnvironment(cluster, container, { what: `the runner container (${opts.workload})`, podName: `local-${opts.workload}-${process.pid}` });
  env['LOG_FORMAT'] = 'json';
  env['KUBECONFIG'] = opts.kubeconfig;
  Object.assign(env, opts.env);
  const [first, ...rest] = container.args ?? [];
  const args = [...(opts.command !== undefined && first === 'rotate' ? [opts.command] : first === undefined ? [] : [first]), ...rest, ...(opts.extraArgs ?? [])];
  const tsx = path.join(repoRoot, 'node_modules/.bin/tsx');
  const result = await run(tsx, ['--tsconfig', path.join(repoRoot, 'tsconfig.base.json'), path.join(repoRoot, 'apps/rotation-runner/src/main.ts'), ...args], {
    env,
    allowFailure: true,
    timeoutMs: opts.timeoutMs ?? 240_000,
    ...(opts.onOutput ? { onOutput: opts.onOutput } : {}),
    ...(opts.onGroupStarted ? { onGroupStarted: opts.onGroupStarted } : {}),
  });
  return { ...result, args };
}

/** Wait until the trust-roots ConfigMap in Linkerd's namespace holds exactly these PEMs (any order). */
export async function waitForTrustRoots(cluster: Cluster, certsPem: string[], what: string): Promise<string> {
  const want = [...new Set(certsPem.flatMap(fingerprintsOf))].sort();
  return waitFor(
    async () => {
      const pem = await trustRootsPem(cluster);
      return JSON.stringify(fingerprintsOf(pem).sort()) === JSON.stringify(want) ? pem : undefined;
    },
    { what, timeoutMs: 60_000 },
  );
}

/** Every listable object (kind, namespace, name), Events and node Leases left out: for before/after diffs. */
export async function inventory(cluster: Cluster): Promise<Set<string>> {
  const types = (await cluster.kubectl(['api-resources', '--verbs=list', '-o', 'name'])).stdout
    .split('\n')
    .map((t) => t.trim())
    .filter((t) => t && !/^events(\.events\.k8s\.io)?$/.test(t));
  const out = await cluster.kubectl(['get', types.join(','), '-A', '-o', 'jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}{"\\n"}{end}']);
  return new Set(
    out.stdout
      .split('\n')
      .filter(Boolean)
      .filter((id) => !id.startsWith('Lease/kube-node-lease/')),
  );
}

/** The CRDs of prometheus-operator (ServiceMonitor, PrometheusRule) from its pinned Go module. */
export async function applyPrometheusOperatorCrds(cluster: Cluster): Promise<void> {
  const dl = await run('go', ['mod', 'download', '-json', 'github.com/prometheus-operator/prometheus-operator@v0.85.0'], {
    env: { ...process.env, GO111MODULE: 'on', GOFLAGS: '-mod=mod' },
    timeoutMs: 600_000,
  });
  const dir = (JSON.parse(dl.stdout) as { Dir?: string }).Dir;
  if (!dir) throw new Error(`could not locate the prometheus-operator module: ${dl.stdout}`);
  const files = ['monitoring.coreos.com_servicemonitors.yaml', 'monitoring.coreos.com_prometheusrules.yaml'].map((f) =>
    path.join(dir, 'example/prometheus-operator-crd', f),
  );
  await cluster.kubectl(['apply', '--server-side', ...files.flatMap((f) => ['-f', f])]);
  await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...files.flatMap((f) => ['-f', f])]);
}

export interface RotatorRelease {
  webhook: ChartWebhook;
  /** The exporter, as its ServiceAccount: it publishes the public PKI view the webhook judges by. */
  exporter: ChartExporter;
  endpoint: WebhookEndpoint;
  /** How the webhook was started: start it again with these (same port, certificate and ServiceAccount). */
  webhookStart: StartChartWebhookOptions;
  runnerKubeconfig: string;
  /** The bootstrapped anchor (prepared = active = previous), PEM. */
  anchorPem: string;
}

/**
 * The chart installed as scenario tests need it: Linkerd's namespace labelled, helm install in url
 * mode with a generated serving certificate and `webhook.caBundle`, the exporter and the webhook
 * apps running as the chart's exporter and webhook ServiceAccounts, bootstrap done as the runner's, PKI Ready and trust roots published.
 * `bootstrap` replaces the chart's bootstrap hook (a fleet member has none: its anchor is copied in).
 */
export async function installRotator(cluster: Cluster, extraValues: string[] = [], opts: { bootstrap?: (runnerKubeconfig: string) => Promise<void> } = {}): Promise<RotatorRelease> {
  const ns = await cluster.kubectl(['get', 'namespace', objectNames.linkerdNamespace], { allowFailure: true });
  if (ns.code !== 0) await cluster.kubectl(['create', 'namespace', objectNames.linkerdNamespace]);
  await cluster.kubectl(['label', '--overwrite', 'namespace', objectNames.linkerdNamespace, 'linkerd.io/is-control-plane=true']);
  const endpoint = await webhookEndpoint();
  const tls = await generatedServingTls();
  await cluster.helm([
    'install', release.name, chartDir, '-n', release.namespace, '--create-namespace', '--wait', '--timeout', '120s',
    ...urlModeValues(endpoint), '--set', `webhook.caBundle=${tls.caBundle}`, ...extraValues,
  ]);
  // The exporter first: the webhook judges the bootstrap's writes by the view it publishes.
  const exporter = await startChartExporter(cluster, { kubeconfig: await serviceAccountKubeconfig(cluster, releaseObjects.exporterServiceAccount) });
  const webhookStart = { endpoint, tls, kubeconfig: await serviceAccountKubeconfig(cluster, webhookSa) };
  const webhook = await startChartWebhook(cluster, webhookStart);
  const runnerKubeconfig = await serviceAccountKubeconfig(cluster, runnerSa);
  if (opts.bootstrap) await opts.bootstrap(runnerKubeconfig);
  else {
    const boot = await runRunnerAsChart(cluster, { kubeconfig: runnerKubeconfig, workload: 'bootstrap-hook' });
    if (boot.code !== 0) throw new Error(`rotator ${boot.args.join(' ')} (as the bootstrap hook) exited ${boot.code}:\n${boot.stderr}${boot.stdout}`);
  }
  await cluster.kubectl(['-n', objectNames.linkerdNamespace, 'wait', '--for=condition=Ready', `certificate/${objectNames.issuerCertificate}`, '--timeout=60s']);
  const anchorPem = (await secretData(cluster, objectNames.trustNamespace, objectNames.activeAnchorSecret))['tls.crt']!;
  await waitForTrustRoots(cluster, [anchorPem], 'trust-manager to publish the bootstrapped anchor to Linkerd namespace');
  return { webhook, exporter, endpoint, webhookStart, runnerKubeconfig, anchorPem };
}

/** What a test needs to run the runner itself against a chart installed without its webhook, hook and CronJob. */
export interface RunnerOnlyRelease {
  /** The chart's config ConfigMap: the environment its runner pods get (envFrom). */
  chartEnv: Record<string, string>;
  /** A kubeconfig of the runner's ServiceAccount. */
  runnerKubeconfig: string;
}

/**
 * The chart's PKI, config and RBAC with its webhook, CronJob and bootstrap hook off, for driving the
 * runner directly: Linkerd's namespace labelled as the README says, helm install, the prepared anchor
 * Ready (nothing bootstrapped yet). `values` are more `--set` flags; with `pki.trustAnchor.enabled=false`
 * (a fleet member: docs/multicluster.md) there is no prepared Certificate to wait for.
 */
export async function installChartForRunner(cluster: Cluster, opts: { timeoutSeconds: number; values?: string[] }): Promise<RunnerOnlyRelease> {
  const timeout = `${opts.timeoutSeconds}s`;
  await cluster.kubectl(['create', 'namespace', objectNames.linkerdNamespace]);
  await cluster.kubectl(['label', 'namespace', objectNames.linkerdNamespace, 'linkerd.io/is-control-plane=true', 'config.linkerd.io/admission-webhooks=disabled']);
  await cluster.kubectl(['create', 'namespace', release.namespace]);
  await cluster.helm([
    'install', release.name, chartDir, '-n', release.namespace,
    '--set', 'webhook.enabled=false', '--set', 'runner.rotation.enabled=false', '--set', 'runner.bootstrap.enabled=false', '--wait', '--timeout', timeout,
    ...(opts.values ?? []).flatMap((v) => ['--set', v]),
  ]);
  const configMap = JSON.parse((await cluster.kubectl(['-n', release.namespace, 'get', 'configmap', releaseObjects.configMap, '-o', 'json'])).stdout) as { data: Record<string, string> };
  const runnerKubeconfig = await serviceAccountKubeconfig(cluster, runnerSa);
  if (!opts.values?.includes('pki.trustAnchor.enabled=false')) {
    await cluster.kubectl(['-n', objectNames.trustNamespace, 'wait', '--for=condition=Ready', `certificate/${objectNames.preparedAnchorCertificate}`, `--timeout=${timeout}`]);
  }
  return { chartEnv: configMap.data, runnerKubeconfig };
}
