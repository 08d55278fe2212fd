// Installs the upstream stack on a kind cluster as the chart README prescribes: Gateway API CRDs,
// cert-manager and trust-manager from the jetstack charts, Linkerd's namespace labelled, this chart
// (images built from apps/*/Dockerfile, loaded into the nodes, pullPolicy Never) with its bootstrap
// hook, then Linkerd's edge charts with identity.externalCA=true and the kubernetes.io/tls issuer.
import path from 'node:path';
import { repoRoot } from '../../cluster/src/paths.js';
import { waitFor } from '../../cluster/src/process.js';
import { goModuleDir, log, type KindCluster } from './kind.js';
import { appImageTag, repos, versions } from './versions.js';

export const chartDir = path.join(repoRoot, 'charts/linkerd-rotator');

/** The release as the chart README installs it; object names are the chart's defaults. */
export const rotatorRelease = { name: 'linkerd-rotator', namespace: 'linkerd-rotator' } as const;
export const rotatorObjects = {
  cronJob: 'linkerd-rotator-rotate',
  webhookDeployment: 'linkerd-rotator-webhook',
  webhookPods: 'app.kubernetes.io/instance=linkerd-rotator,app.kubernetes.io/component=webhook',
} as const;

/** Leaf lifetime handed out by Linkerd's identity: short, so proxies renew leaves during the run. */
export const issuanceLifetime = '10m0s';

export async function installGatewayApiCrds(cluster: KindCluster): Promise<void> {
  const dir = path.join(await goModuleDir('sigs.k8s.io/gateway-api', versions.gatewayApi), 'config/crd/standard');
  log(`Gateway API ${versions.gatewayApi} CRDs (standard channel)`);
  await cluster.kubectl(['apply', '--server-side', '-f', dir]);
  await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=120s', '-f', dir]);
}

export async function installCertManager(cluster: KindCluster): Promise<void> {
  log(`cert-manager ${versions.certManager}`);
  await cluster.helm([
    'install', 'cert-manager', 'cert-manager', '--repo', repos.jetstack, '--version', versions.certManager,
    '--namespace', 'cert-manager', '--create-namespace', '--set', 'crds.enabled=true', '--wait', '--timeout', '10m',
  ]);
  log(`trust-manager ${versions.trustManager} (trust namespace cert-manager)`);
  await cluster.helm([
    'install', 'trust-manager', 'trust-manager', '--repo', repos.jetstack, '--version', versions.trustManager,
    '--namespace', 'cert-manager', '--set', 'app.trust.namespace=cert-manager', '--wait', '--timeout', '10m',
  ]);
}

/** Linkerd's namespace, labelled as the chart README says (before this chart and Linkerd go in). */
export async function createLinkerdNamespace(cluster: KindCluster): Promise<void> {
  await cluster.kubectl(['create', 'namespace', 'linkerd']);
  await cluster.kubectl([
    'label', 'namespace', 'linkerd',
    'linkerd.io/is-control-plane=true', 'config.linkerd.io/admission-webhooks=disabled', 'linkerd.io/control-plane-ns=linkerd',
  ]);
}

/**
 * This chart with the images built here. The CronJob stays suspended so only the test starts runs
 * (with `kubectl create job --from`); everything else is the chart's defaults, including service
 * mode for the webhook with cert-manager's cainjector writing its caBundle.
 */
export async function installRotatorChart(cluster: KindCluster): Promise<void> {
  log('linkerd-rotator chart (helm waits for the bootstrap hook Job)');
  await cluster.helm([
    'install', rotatorRelease.name, chartDir, '--namespace', rotatorRelease.namespace, '--create-namespace',
    '--set', `runner.image.tag=${appImageTag}`, '--set', 'runner.image.pullPolicy=Never',
    '--set', `webhook.image.tag=${appImageTag}`, '--set', 'webhook.image.pullPolicy=Never',
    '--set', 'runner.rotation.suspend=true',
    '--wait', '--wait-for-jobs', '--timeout', '10m',
  ]);
  await cluster.kubectl(['-n', 'linkerd', 'wait', '--for=condition=Ready', 'certificate/linkerd-identity-issuer', '--timeout=300s']);
  await waitFor(async () => (await trustRootsPem(cluster)).includes('BEGIN CERTIFICATE'), {
    what: 'trust-manager to publish the trust roots into Linkerd namespace',
    timeoutMs: 180_000,
    intervalMs: 2_000,
  });
}

export async function installLinkerd(cluster: KindCluster): Promise<void> {
  log(`Linkerd edge chart ${versions.linkerdChart}: linkerd-crds`);
  await cluster.helm(['install', 'linkerd-crds', 'linkerd-crds', '--repo', repos.linkerdEdge, '--version', versions.linkerdChart, '--namespace', 'linkerd', '--wait']);
  log(`Linkerd edge chart ${versions.linkerdChart}: linkerd-control-plane (externalCA, kubernetes.io/tls issuer, native sidecars)`);
  await cluster.helm([
    'install', 'linkerd-control-plane', 'linkerd-control-plane', '--repo', repos.linkerdEdge, '--version', versions.linkerdChart,
    '--namespace', 'linkerd',
    '--set', 'identity.externalCA=true',
    '--set', 'identity.issuer.scheme=kubernetes.io/tls',
    '--set', `identity.issuer.issuanceLifetime=${issuanceLifetime}`,
    // The proxy as a native sidecar: it starts before and stops after the app container, so the
    // traffic pods' own start and stop are not counted as failed requests.
    '--set', 'proxy.nativeSidecar=true',
    '--wait', '--timeout', '10m',
  ]);
}

/** ca-bundle.crt of the trust-roots ConfigMap in Linkerd's namespace, byte for byte. */
export async function trustRootsPem(cluster: KindCluster): Promise<string> {
  const r = await cluster.kubectl(['-n', 'linkerd', 'get', 'configmap', 'linkerd-identity-trust-roots', '-o', 'json'], { allowFailure: true });
  if (r.code !== 0) return '';
  return (JSON.parse(r.stdout) as { data?: Record<string, string> }).data?.['ca-bundle.crt'] ?? '';
}

export async function secretData(cluster: KindCluster, ns: string, name: string): Promise<Record<string, string>> {
  const secret = await cluster.json<{ data?: Record<string, string> }>(['-n', ns, 'get', 'secret', name]);
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
}
