// Installs the upstream stack on a kind cluster as the chart README prescribes: Gateway API CRDs,
// cert-manager and trust-manager from the jetstack charts, Linkerd's namespace labelled, this chart
// (images built from apps/*/Dockerfile, loaded into the nodes, pullPolicy Never) with its bootstrap
// hook, then Linkerd's edge charts with identity.externalCA=true and the kubernetes.io/tls issuer.
import path from 'node:path';
import { waitFor } from '../../cluster/src/process.js';
import { getJson, trustRootsPem } from '../../support/objects.js';
import { chartDir, objectNames, release, releaseObjects } from '../../support/release.js';
import type { TestCluster, TestWebhook } from '../../support/test-cluster.js';
import { goModuleDir, log, type KindCluster } from './kind.js';
import { appImageTag, repos, versions } from './versions.js';

const MIN = 60_000;
const { trustNamespace, linkerdNamespace } = objectNames;

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
    '--namespace', trustNamespace, '--create-namespace', '--set', 'crds.enabled=true', '--wait', '--timeout', '10m',
  ]);
  log(`trust-manager ${versions.trustManager} (trust namespace ${trustNamespace})`);
  await cluster.helm([
    'install', 'trust-manager', 'trust-manager', '--repo', repos.jetstack, '--version', versions.trustManager,
    '--namespace', trustNamespace, '--set', `app.trust.namespace=${trustNamespace}`, '--wait', '--timeout', '10m',
  ]);
}

/** Linkerd's namespace, labelled as the chart README says (before this chart and Linkerd go in). */
export async function createLinkerdNamespace(cluster: KindCluster): Promise<void> {
  await cluster.kubectl(['create', 'namespace', linkerdNamespace]);
  await cluster.kubectl([
    'label', 'namespace', linkerdNamespace,
    'linkerd.io/is-control-plane=true', 'config.linkerd.io/admission-webhooks=disabled', `linkerd.io/control-plane-ns=${linkerdNamespace}`,
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
    'install', release.name, chartDir, '--namespace', release.namespace, '--create-namespace',
    '--set', `runner.image.tag=${appImageTag}`, '--set', 'runner.image.pullPolicy=Never',
    '--set', `webhook.image.tag=${appImageTag}`, '--set', 'webhook.image.pullPolicy=Never',
    '--set', 'runner.rotation.suspend=true',
    '--wait', '--wait-for-jobs', '--timeout', '10m',
  ]);
  await cluster.kubectl(['-n', linkerdNamespace, 'wait', '--for=condition=Ready', `certificate/${objectNames.issuerCertificate}`, '--timeout=300s']);
  await waitFor(async () => (await trustRootsPem(cluster)).includes('BEGIN CERTIFICATE'), {
    what: 'trust-manager to publish the trust roots into Linkerd namespace',
    timeoutMs: 180_000,
    intervalMs: 2_000,
  });
}

export async function installLinkerd(cluster: KindCluster): Promise<void> {
  log(`Linkerd edge chart ${versions.linkerdChart}: linkerd-crds`);
  await cluster.helm(['install', 'linkerd-crds', 'linkerd-crds', '--repo', repos.linkerdEdge, '--version', versions.linkerdChart, '--namespace', linkerdNamespace, '--wait']);
  log(`Linkerd edge chart ${versions.linkerdChart}: linkerd-control-plane (externalCA, kubernetes.io/tls issuer, native sidecars)`);
  await cluster.helm([
    'install', 'linkerd-control-plane', 'linkerd-control-plane', '--repo', repos.linkerdEdge, '--version', versions.linkerdChart,
    '--namespace', linkerdNamespace,
    '--set', 'identity.externalCA=true',
    '--set', 'identity.issuer.scheme=kubernetes.io/tls',
    '--set', `identity.issuer.issuanceLifetime=${issuanceLifetime}`,
    // The proxy as a native sidecar: it starts before and stops after the app container, so the
    // traffic pods' own start and stop are not counted as failed requests.
    '--set', 'proxy.nativeSidecar=true',
    '--wait', '--timeout', '10m',
  ]);
}

/** The chart's webhook Deployment behind its Service, as TestWebhook: scaled with kubectl, logs from every pod. */
function kindWebhook(cluster: KindCluster): TestWebhook {
  const deployment = `deployment/${releaseObjects.webhookDeployment}`;
  const namespace = release.namespace;
  const podNames = async () =>
    (await cluster.kubectl(['-n', namespace, 'get', 'pods', '-l', releaseObjects.webhookPods, '-o', 'name'], { allowFailure: true })).stdout.trim();
  return {
    async scale(replicas) {
      const before = (await getJson<{ spec: { replicas?: number } }>(cluster, ['-n', namespace, 'get', deployment])).spec.replicas ?? 1;
      await cluster.kubectl(['-n', namespace, 'scale', deployment, `--replicas=${replicas}`]);
      if (replicas === 0) {
        await waitFor(async () => (await podNames()) === '', { what: 'the webhook pods to be gone', timeoutMs: 3 * MIN, intervalMs: 2_000 });
      } else {
        await cluster.kubectl(['-n', namespace, 'rollout', 'status', deployment, '--timeout=300s']);
      }
      return before;
    },
    logs: async () => (await cluster.kubectl(['-n', namespace, 'logs', '-l', releaseObjects.webhookPods, '--tail=-1', '--prefix'], { allowFailure: true })).stdout,
  };
}

/** The kind cluster with this chart installed (installRotatorChart), as the TestCluster the shared scenarios take. */
export function kindTestCluster(cluster: KindCluster): TestCluster {
  return {
    tier: 'kind',
    kubeconfig: cluster.kubeconfig,
    kubectl: (args, opts) => cluster.kubectl(args, opts),
    release,
    names: objectNames,
    webhook: kindWebhook(cluster),
  };
}
