// charts/linkerd-rotator on the local cluster (issue 5): helm install into the real API server with
// real cert-manager, cainjector and trust-manager; the chart's webhook registration against the
// webhook app run as the chart's ServiceAccount; the RBAC of the runner, webhook and exporter
// ServiceAccounts and the admission guard; upgrade; uninstall.
import { X509Certificate } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import { ANCHOR_CERT_KEY } from '@linkerd-rotator/names';
import { waitFor } from '../cluster/src/index.js';
import { makeCa } from '../cluster/src/pki.js';
import { fingerprintsOf } from '../support/certs.js';
import {
  applyPrometheusOperatorCrds,
  b64,
  chartDir,
  generatedServingTls,
  inventory,
  jsonpath,
  kubectlAs,
  names,
  release,
  runRunnerAsChart,
  runnerSa,
  saUser,
  secretData,
  serviceAccountKubeconfig,
  startChartExporter,
  startChartWebhook,
  trustRootsPem,
  urlModeValues,
  waitForTrustRoots,
  webhookEndpoint,
  webhookSa,
  type ChartExporter,
  type ChartWebhook,
  type RunnerRun,
  type WebhookEndpoint,
} from '../support/chart.js';
import { useCluster } from '../support/cluster.js';
import { cmctlRenew, waitForReissue } from '../support/common-recipe.js';
import { releaseObjects } from '../support/release.js';

const testCluster = useCluster({ nodes: 1 });
const kubectl = (args: string[], input?: string) => testCluster().kubectl(args, input === undefined ? {} : { input });
const tryKubectl = (args: string[], input?: string) => testCluster().kubectl(args, { allowFailure: true, ...(input === undefined ? {} : { input }) });
const appNs = 'meshed-app';
const T = names.trustNs;
const L = names.linkerdNs;
const R = release.namespace;
const exporterSa = releaseObjects.exporterServiceAccount;

let endpoint: WebhookEndpoint;
let webhook: ChartWebhook | undefined;
let exporter: ChartExporter | undefined;
let runnerKubeconfig: string;
let baseline: Set<string>;
/** The anchor that signs the identity issuer now (A after bootstrap, B after the rotation test). */
let activeAnchor: string;

/** A runner run ended with `code` and met no RBAC or admission refusal on the way. */
function expectExit(r: RunnerRun, code: number): void {
  if (r.code !== code) throw new Error(`rotator ${r.args.join(' ')} exited ${r.code}, expected ${code}:\n${r.stderr}\n${r.stdout}`);
  expect(`${r.stdout}${r.stderr}`).not.toMatch(/forbidden|denied the request/i);
}

const cert = (pem: string) => new X509Certificate(pem);
const chainsTo = (childPem: string, parentPem: string) => cert(childPem).checkIssued(cert(parentPem)) && cert(childPem).verify(cert(parentPem).publicKey);

beforeAll(async () => {
  // What exists before the chart: Linkerd's namespace labelled as the README says, the release
  // namespace, a meshed app namespace, and the prometheus-operator CRDs (monitoring is turned on
  // by the upgrade test). The inventory taken here is what uninstall must return to.
  await kubectl(['create', 'namespace', names.linkerdNs]);
  await kubectl(['label', 'namespace', names.linkerdNs, 'linkerd.io/is-control-plane=true', 'config.linkerd.io/admission-webhooks=disabled', 'linkerd.io/control-plane-ns=linkerd']);
  await kubectl(['create', 'namespace', release.namespace]);
  await kubectl(['create', 'namespace', appNs]);
  await applyPrometheusOperatorCrds(testCluster());
  endpoint = await webhookEndpoint();
  baseline = await inventory(testCluster());
}, 600_000);

afterAll(async () => {
  await webhook?.stop();
  await exporter?.stop();
});

describe('helm install', () => {
  it('installs in url mode; cert-manager issues the webhook serving certificate and cainjector injects its CA; PKI becomes Ready after bootstrap; trust roots reach Linkerd', async () => {
    const install = await testCluster().helm([
      'install', release.name, chartDir, '-n', release.namespace, '--wait', '--timeout', '120s',
      ...urlModeValues(endpoint),
      '--set', 'webhook.servingCertificate.ipAddresses={127.0.0.1}',
    ]);
    expect(install.stdout).toContain('STATUS: deployed');

    // The serving certificate the chart asks cert-manager for; the webhook process serves it.
    await kubectl(['-n', release.namespace, 'wait', '--for=condition=Ready', `certificate/${release.name}-webhook`, '--timeout=60s']);
    const serving = await secretData(testCluster(), release.namespace, `${release.name}-webhook-tls`);
    expect(cert(serving['tls.crt']!).checkIP('127.0.0.1')).toBe('127.0.0.1');
    // Four webhooks: trust roots, identity issuer, trust-manager's Bundle, namespaces leaving its target.
    const hooks = (await jsonpath(testCluster(), ['get', 'validatingwebhookconfiguration', release.name], '{.webhooks[*].name}')).split(' ');
    expect(hooks).toEqual(['trust-roots.linkerd-rotator.io', 'identity-issuer.linkerd-rotator.io', 'trust-bundle.linkerd-rotator.io', 'target-namespace.linkerd-rotator.io']);
    const injected = await waitFor(
      async () => {
        const bundles = (await jsonpath(testCluster(), ['get', 'validatingwebhookconfiguration', release.name], '{.webhooks[*].clientConfig.caBundle}')).split(' ').filter(Boolean);
        return bundles.length === hooks.length ? bundles : undefined;
      },
      { what: `cainjector to inject the serving CA into all ${hooks.length} webhooks (cert-manager.io/inject-ca-from)`, timeoutMs: 60_000 },
    );
    expect(injected).toEqual(hooks.map(() => b64(serving['ca.crt']!)));
    // cert-manager's CA issuer writes the CA (the CA Secret's certificate) into the leaf's ca.crt, so
    // the injected caBundle is the long-lived CA, not the leaf (docs/chart.md).
    const servingCa = await secretData(testCluster(), release.namespace, `${release.name}-webhook-ca`);
    expect(serving['ca.crt']).toBe(servingCa['tls.crt']);
    expect(cert(servingCa['tls.crt']!).ca).toBe(true);
    expect(cert(serving['tls.crt']!).ca).toBe(false);
    expect(chainsTo(serving['tls.crt']!, servingCa['tls.crt']!)).toBe(true);
    expect(await jsonpath(testCluster(), ['get', 'validatingwebhookconfiguration', release.name], '{.webhooks[*].clientConfig.url}')).toBe(hooks.map(() => endpoint.url).join(' '));

    // The exporter publishes the public PKI view the webhook judges by; then the webhook app as the
    // chart's Deployment runs it, each authenticated with a token of its ServiceAccount.
    exporter = await startChartExporter(testCluster(), { kubeconfig: await serviceAccountKubeconfig(testCluster(), exporterSa) });
    webhook = await startChartWebhook(testCluster(), {
      endpoint,
      tls: { certPem: serving['tls.crt']!, keyPem: serving['tls.key']! },
      kubeconfig: await serviceAccountKubeconfig(testCluster(), webhookSa),
    });

    // Before bootstrap: the prepared anchor is issued, nothing signs the identity issuer yet.
    await kubectl(['-n', names.trustNs, 'wait', '--for=condition=Ready', `issuer/${names.rootIssuer}`, `certificate/${names.prepared}`, '--timeout=60s']);
    expect(await jsonpath(testCluster(), ['get', 'clusterissuer', names.clusterIssuer], '{.status.conditions[?(@.type=="Ready")].status}')).toBe('False');

    // The post-install hook Job completed, but under kwok its pod runs no container, so its work is
    // done here: the runner with the hook's args and env, authenticated as the hook's ServiceAccount.
    runnerKubeconfig = await serviceAccountKubeconfig(testCluster(), runnerSa);
    const boot = await runRunnerAsChart(testCluster(), { kubeconfig: runnerKubeconfig, workload: 'bootstrap-hook' });
    expect(boot.args).toEqual(['bootstrap']);
    expectExit(boot, 0);
    expect(boot.stdout + boot.stderr).toContain('"msg":"bootstrapped"');

    await kubectl(['wait', '--for=condition=Ready', `clusterissuer/${names.clusterIssuer}`, '--timeout=60s']);
    await kubectl(['-n', names.linkerdNs, 'wait', '--for=condition=Ready', `certificate/${names.issuer}`, '--timeout=60s']);
    await kubectl(['wait', '--for=condition=Synced', `bundle/${names.trustRoots}`, '--timeout=60s']);

    const prepared = await secretData(testCluster(), names.trustNs, names.prepared);
    const active = await secretData(testCluster(), names.trustNs, names.active);
    const previous = await secretData(testCluster(), names.trustNs, names.previous);
    activeAnchor = prepared['tls.crt']!;
    expect(active['tls.crt']).toBe(activeAnchor);
    // The anchor the trust bundle reads from the active Secret (docs/cross-signing.md): the same, alone.
    expect(active[ANCHOR_CERT_KEY]).toBe(activeAnchor);
    expect(active['tls.key']).toBe(prepared['tls.key']);
    expect(Object.keys(previous)).toEqual(['tls.crt']);
    expect(previous['tls.crt']).toBe(activeAnchor);
    expect(cert(activeAnchor).ca).toBe(true);

    await waitForTrustRoots(testCluster(), [activeAnchor], 'the trust-roots ConfigMap in Linkerd namespace to hold the bootstrapped anchor');
    const issuer = await secretData(testCluster(), names.linkerdNs, names.issuer);
    expect(chainsTo(issuer['tls.crt']!, activeAnchor)).toBe(true);
    expect(cert(issuer['tls.crt']!).ca).toBe(true);

    // The public PKI view reflects the Secrets bootstrap wrote: certificates only, with each Secret's uid and resourceVersion.
    const view = await waitFor(
      async () => {
        const found = await tryKubectl(['-n', R, 'get', 'configmap', names.publicPki, '-o', 'json']);
        const data = found.code === 0 ? (JSON.parse(found.stdout) as { data?: Record<string, string> }).data : undefined;
        const same = (a: string | undefined, b: string | undefined) => a !== undefined && b !== undefined && fingerprintsOf(a).join() === fingerprintsOf(b).join();
        return same(data?.['activeAnchor.crt'], activeAnchor) && same(data?.['issuer.crt'], issuer['tls.crt']) ? data : undefined;
      },
      { what: `the exporter to publish the bootstrapped anchor and issuer in ConfigMap ${R}/${names.publicPki}`, timeoutMs: 60_000 },
    );
    expect(JSON.stringify(view)).not.toContain('PRIVATE KEY');
    const activeSecret = JSON.parse((await kubectl(['-n', T, 'get', 'secret', names.active, '-o', 'json'])).stdout) as { metadata: { uid: string; resourceVersion: string } };
    expect((JSON.parse(view['sources.json']!) as Record<string, unknown>)['activeAnchor']).toEqual({ namespace: T, name: names.active, version: { uid: activeSecret.metadata.uid, resourceVersion: activeSecret.metadata.resourceVersion } });

    // trust-manager's write and cert-manager's issuer write both went through the webhook.
    const metrics = await webhook.metrics();
    expect(metrics).toMatch(/linkerd_rotator_admission_requests_total\{resource="configmaps",operation="CREATE",verdict="allowed"\} [1-9]/);
    expect(metrics).toMatch(/linkerd_rotator_admission_requests_total\{resource="secrets",operation="CREATE",verdict="allowed"\} [1-9]/);
    // Rendered but inert objects are present too.
    expect(await jsonpath(testCluster(), ['-n', release.namespace, 'get', 'cronjob', `${release.name}-rotate`], '{.spec.concurrencyPolicy}')).toBe('Forbid');
  });
});

describe("the chart's ValidatingWebhookConfiguration in the real API server", () => {
  const configMap = (bundle: string) =>
    JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.trustRoots, namespace: names.linkerdNs }, data: { 'ca-bundle.crt': bundle } });

  it('denies a kubectl apply of the trust roots without the active anchor, or with a CA that is no anchor of this install, showing the webhook message; allows a correct one (the anchors come from the public PKI view: the webhook reads no Secret)', async () => {
    const { certPem: otherCa } = await makeCa('some-other-ca');
    const denied = await tryKubectl(['apply', '-f', '-'], configMap(otherCa));
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('admission webhook "trust-roots.linkerd-rotator.io" denied the request');
    expect(denied.stderr).toMatch(/must contain the active trust anchor "CN=root\.linkerd\.cluster\.local" \(sha256:[0-9a-f]{16}\) from Secret cert-manager\/linkerd-active-anchor/);
    expect(await trustRootsPem(testCluster())).toContain(activeAnchor.trim().split('\n')[1]);

    // Any certificate beside the prepared, active and previous anchors (and those a rotation keeps) is refused.
    const extra = await tryKubectl(['apply', '-f', '-'], configMap(activeAnchor + otherCa));
    expect(extra.code).not.toBe(0);
    expect(extra.stderr).toContain('admission webhook "trust-roots.linkerd-rotator.io" denied the request');
    expect(extra.stderr).toMatch(/certificate 2 "[^"]*some-other-ca[^"]*" \(sha256:[0-9a-f]{16}\) is not an anchor of this install/);

    // A correct edit: the active anchor alone, ending in one line break (trust-manager writes none; both are what Linkerd reads).
    const allowed = await tryKubectl(['apply', '-f', '-'], configMap(`${activeAnchor.trim()}\n`));
    expect(allowed.stderr).not.toContain('denied');
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain(`configmap/${names.trustRoots} configured`);
    // trust-manager puts its own bundle back (at once: it watches its targets).
    await waitForTrustRoots(testCluster(), [activeAnchor], 'trust-manager to restore the bundle');
  });
});

describe('RBAC', () => {
  const groups = (ns: string) => ['--as-group=system:serviceaccounts', `--as-group=system:serviceaccounts:${ns}`, '--as-group=system:authenticated'];
  type Check = [verb: string, resource: string, namespace: string | '*', extra?: string[]];
  const canI = async (sa: string, [verb, resource, ns, extra]: Check) => {
    const nsArgs = ns === '*' ? ['--all-namespaces'] : ['-n', ns];
    const r = await tryKubectl(['auth', 'can-i', verb, resource, ...nsArgs, ...(extra ?? []), `--as=${saUser(sa)}`, ...groups(release.namespace)]);
    return r.stdout.trim();
  };
  /** Every check as "verb resource -n ns: yes|no", so a failure lists each wrong answer. */
  const answers = async (sa: string, checks: Check[]) =>
    Promise.all(checks.map(async (c) => `${c[0]} ${c[1]}${c[3] ? ` ${c[3].join(' ')}` : ''} -n ${c[2]}: ${await canI(sa, c)}`));
  const expectAll = async (sa: string, checks: Check[], answer: 'yes' | 'no') => {
    const got = await answers(sa, checks);
    expect(got).toEqual(got.map((line) => line.replace(/: \S+$/, `: ${answer}`)));
  };
  const status = ['--subresource=status'];
  const subjectAccess = async (sa: string, resourceAttributes: Record<string, string>) => {
    const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: saUser(sa), groups: ['system:serviceaccounts', `system:serviceaccounts:${R}`, 'system:authenticated'], resourceAttributes } };
    const out = await kubectl(['create', '-f', '-', '-o', 'json'], JSON.stringify(review));
    return (JSON.parse(out.stdout) as { status: { allowed: boolean } }).status.allowed;
  };

  it("the runner's ServiceAccount can do what bootstrap and a rotation need", async () => {
    await expectAll(runnerSa, [
      ['get', `secrets/${names.prepared}`, T], ['watch', `secrets/${names.prepared}`, T],
      ['get', `secrets/${names.active}`, T], ['update', `secrets/${names.active}`, T], ['patch', `secrets/${names.active}`, T],
      ['get', `secrets/${names.previous}`, T], ['update', `secrets/${names.previous}`, T], ['patch', `secrets/${names.previous}`, T],
      ['create', 'secrets', T],
      ['get', `certificates.cert-manager.io/${names.prepared}`, T], ['patch', `certificates.cert-manager.io/${names.prepared}`, T, status],
      ['create', 'events', T],
      ['get', `certificates.cert-manager.io/${names.issuer}`, L],
      // The issuer's chain comes from its CertificateRequests (status.certificate), not its Secret.
      ['get', 'certificaterequests.cert-manager.io', L], ['list', 'certificaterequests.cert-manager.io', L], ['watch', 'certificaterequests.cert-manager.io', L],
      ['patch', `certificates.cert-manager.io/${names.issuer}`, L, status], ['list', 'events', L],
      ['get', `configmaps/${names.trustRoots}`, L], ['get', `configmaps/${names.trustRoots}`, appNs],
      ['get', `configmaps/${names.state}`, R], ['update', `configmaps/${names.state}`, R], ['create', 'configmaps', R], ['watch', `configmaps/${names.publicPki}`, R],
      ['get', `leases.coordination.k8s.io/${names.lease}`, R], ['update', `leases.coordination.k8s.io/${names.lease}`, R], ['create', 'leases.coordination.k8s.io', R],
      ['create', 'events', R],
      ['list', 'pods', '*'], ['list', 'namespaces', '*'], ['list', 'replicasets.apps', '*'], ['list', 'poddisruptionbudgets.policy', '*'],
      ['patch', 'deployments.apps', appNs], ['patch', 'statefulsets.apps', appNs], ['patch', 'daemonsets.apps', appNs],
      ['get', `bundles.trust.cert-manager.io/${names.trustRoots}`, '*'], ['get', `clusterissuers.cert-manager.io/${names.clusterIssuer}`, '*'],
      // Server-side dry-run pod creates (the injector check); the admission guard refuses real ones.
      ['create', 'pods', appNs],
    ], 'yes');
    // Argo Rollouts' CRD is not installed, so kubectl cannot resolve the resource: ask the authorizer directly.
    expect(await subjectAccess(runnerSa, { verb: 'patch', group: 'argoproj.io', resource: 'rollouts', namespace: appNs })).toBe(true);
  });

  it("the runner's ServiceAccount cannot read other Secrets, write the prepared anchor or trust roots, patch other objects, or delete anything", async () => {
    await expectAll(runnerSa, [
      ['list', 'secrets', T], ['get', 'secrets/some-other-secret', T], ['get', 'secrets/cert-manager-webhook-ca', T],
      ['list', 'secrets', L], ['get', 'secrets/linkerd-proxy-injector-k8s-tls', L], ['update', `secrets/${names.issuer}`, L], ['patch', `secrets/${names.issuer}`, L], ['create', 'secrets', L],
      ['list', 'secrets', 'kube-system'], ['get', 'secrets/bootstrap-token-abcdef', 'kube-system'],
      ['list', 'secrets', R], ['get', `secrets/${release.name}-webhook-tls`, R],
      // The prepared anchor is cert-manager's to write; renewal goes through certificates/status.
      ['update', `secrets/${names.prepared}`, T], ['patch', `secrets/${names.prepared}`, T],
      ['patch', `configmaps/${names.trustRoots}`, L], ['update', `configmaps/${names.trustRoots}`, L], ['create', 'configmaps', L], ['create', 'configmaps', T],
      ['patch', `bundles.trust.cert-manager.io/${names.trustRoots}`, '*'], ['patch', `clusterissuers.cert-manager.io/${names.clusterIssuer}`, '*'],
      ['patch', `certificates.cert-manager.io/${names.prepared}`, T], ['patch', `certificates.cert-manager.io/${names.issuer}`, L],
      ['update', 'deployments.apps', appNs], ['patch', 'services', appNs], ['patch', 'namespaces', '*'], ['patch', 'configmaps/kube-root-ca.crt', appNs],
      ['patch', `validatingwebhookconfigurations.admissionregistration.k8s.io/${release.name}`, '*'],
      ['patch', `validatingadmissionpolicies.admissionregistration.k8s.io/${release.name}-runner-guard`, '*'],
      ['delete', `validatingadmissionpolicybindings.admissionregistration.k8s.io/${release.name}-runner-guard`, '*'],
      ['create', 'clusterrolebindings.rbac.authorization.k8s.io', '*'], ['escalate', 'roles.rbac.authorization.k8s.io', R], ['impersonate', 'serviceaccounts', R],
      ['create', 'pods', appNs, ['--subresource=exec']], ['create', 'serviceaccounts', R, ['--subresource=token']],
      ['delete', `secrets/${names.active}`, T], ['delete', `secrets/${names.previous}`, T], ['delete', `configmaps/${names.state}`, R], ['update', `configmaps/${names.publicPki}`, R],
      ['delete', `leases.coordination.k8s.io/${names.lease}`, R], ['delete', 'pods', appNs], ['delete', 'deployments.apps', appNs],
      ['delete', `certificates.cert-manager.io/${names.prepared}`, T], ['delete', `bundles.trust.cert-manager.io/${names.trustRoots}`, '*'],
      ['deletecollection', 'secrets', T],
    ], 'no');
  });

  it("the runner's ServiceAccount cannot read the issuer Secret (its key) nor any Secret of Linkerd's namespace, and only reads and deletes CertificateRequests (issue 14 item 6)", async () => {
    await expectAll(runnerSa, [
      ...(['get', 'list', 'watch'] as const).flatMap((verb): Check[] => [[verb, `secrets/${names.issuer}`, L], [verb, 'secrets', L], [verb, 'secrets/linkerd-identity-token', L]]),
      ['create', 'certificaterequests.cert-manager.io', L], ['update', 'certificaterequests.cert-manager.io', L], ['patch', 'certificaterequests.cert-manager.io', L],
      ['patch', 'certificaterequests.cert-manager.io', L, status],
      ['list', 'certificaterequests.cert-manager.io', T], ['list', 'certificaterequests.cert-manager.io', appNs], ['delete', 'certificaterequests.cert-manager.io', T],
    ], 'no');
    expect(await canI(runnerSa, ['list', 'certificaterequests.cert-manager.io', L])).toBe('yes');
    // Recovery deletes an issuer request signed under the anchor it replaced (docs/rotation.md, "Recover").
    expect(await canI(runnerSa, ['delete', 'certificaterequests.cert-manager.io', L])).toBe('yes');
  });

  it("the webhook's ServiceAccount can read only the objects admission reads, by name, no Secret at all, and write nothing (issue 14 item 6)", async () => {
    await expectAll(webhookSa, [
      ['get', `configmaps/${names.publicPki}`, R], ['list', `configmaps/${names.publicPki}`, R], ['watch', `configmaps/${names.publicPki}`, R],
      ['watch', `configmaps/${names.trustRoots}`, L], ['watch', `configmaps/${names.state}`, R],
    ], 'yes');
    await expectAll(webhookSa, [
      // It parses AdmissionReviews: none of the four Secrets, whose keys it never needs, by any read verb.
      ...(['get', 'list', 'watch'] as const).flatMap((verb): Check[] => [
        [verb, `secrets/${names.prepared}`, T], [verb, `secrets/${names.active}`, T], [verb, `secrets/${names.previous}`, T], [verb, `secrets/${names.issuer}`, L],
      ]),
      ['update', `configmaps/${names.publicPki}`, R], ['patch', `configmaps/${names.publicPki}`, R],
      // The exporter's reads are no longer the webhook's: no pods, no trust roots outside Linkerd's namespace.
      ['list', 'pods', '*'], ['watch', 'pods', appNs], ['get', 'pods', L],
      ['list', `configmaps/${names.trustRoots}`, '*'], ['get', `configmaps/${names.trustRoots}`, appNs],
      ['list', 'secrets', T], ['get', 'secrets/some-other-secret', T], ['list', 'secrets', L], ['list', 'secrets', 'kube-system'],
      ['list', 'secrets', R], ['get', `secrets/${release.name}-webhook-tls`, R], ['list', 'configmaps', L], ['get', 'configmaps/other', R],
      ['update', `secrets/${names.active}`, T], ['patch', `secrets/${names.issuer}`, L], ['create', 'secrets', T],
      ['patch', `configmaps/${names.trustRoots}`, L], ['create', 'configmaps', R], ['create', 'events', R],
      ['patch', 'pods', appNs], ['delete', 'pods', appNs], ['create', 'pods', appNs],
      ['patch', `validatingwebhookconfigurations.admissionregistration.k8s.io/${release.name}`, '*'],
      ['patch', `certificates.cert-manager.io/${names.issuer}`, L, status],
    ], 'no');
  });

  it("the exporter's ServiceAccount can read the trust objects by name, every trust-roots ConfigMap and meshed pods, and write only the public PKI view", async () => {
    await expectAll(exporterSa, [
      ['get', `configmaps/${names.publicPki}`, R], ['update', `configmaps/${names.publicPki}`, R], ['patch', `configmaps/${names.publicPki}`, R],
      // Create cannot be limited by name in RBAC; the exporter guard narrows it (next test).
      ['create', 'configmaps', R],
      ['get', `secrets/${names.prepared}`, T], ['list', `secrets/${names.active}`, T], ['watch', `secrets/${names.previous}`, T],
      ['watch', `secrets/${names.issuer}`, L], ['watch', `configmaps/${names.state}`, R],
      ['list', `configmaps/${names.trustRoots}`, '*'], ['watch', `configmaps/${names.trustRoots}`, '*'], ['get', `configmaps/${names.trustRoots}`, appNs],
      ['list', 'pods', '*'], ['watch', 'pods', '*'],
      ['get', `validatingwebhookconfigurations.admissionregistration.k8s.io/${release.name}`, '*'], ['watch', `validatingwebhookconfigurations.admissionregistration.k8s.io/${release.name}`, '*'],
    ], 'yes');
    await expectAll(exporterSa, [
      ['list', 'secrets', T], ['get', 'secrets/some-other-secret', T], ['list', 'secrets', L], ['list', 'secrets', 'kube-system'],
      ['list', 'secrets', R], ['get', `secrets/${release.name}-webhook-tls`, R], ['list', 'configmaps', L], ['list', 'configmaps', '*'], ['get', 'configmaps/other', R],
      ['update', `secrets/${names.active}`, T], ['patch', `secrets/${names.issuer}`, L], ['create', 'secrets', T],
      ['patch', `configmaps/${names.trustRoots}`, L], ['update', `configmaps/${names.state}`, R], ['patch', 'configmaps/other', R], ['create', 'configmaps', L], ['create', 'configmaps', T], ['create', 'events', R],
      ['delete', `configmaps/${names.publicPki}`, R],
      ['patch', 'pods', appNs], ['delete', 'pods', appNs], ['create', 'pods', appNs],
      ['get', `leases.coordination.k8s.io/${names.lease}`, R], ['list', 'deployments.apps', appNs],
      ['get', `certificates.cert-manager.io/${names.issuer}`, L], ['get', `bundles.trust.cert-manager.io/${names.trustRoots}`, '*'],
      ['list', 'validatingwebhookconfigurations.admissionregistration.k8s.io', '*'], ['patch', `validatingwebhookconfigurations.admissionregistration.k8s.io/${release.name}`, '*'],
      ['get', `secrets/${release.name}-webhook-ca`, R],
    ], 'no');
  });

  it("the chart's exporter guard lets the exporter create only the public PKI view ConfigMap", async () => {
    const as = kubectlAs(testCluster(), await serviceAccountKubeconfig(testCluster(), exporterSa));
    const other = await as(['-n', R, 'create', 'configmap', 'other-view', '--dry-run=server']);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain(`ValidatingAdmissionPolicy '${release.name}-exporter-guard'`);
    expect(other.stderr).toContain(`the exporter may create only the ConfigMap ${R}/${names.publicPki} (the public PKI view)`);
    // The view exists (the exporter published it): AlreadyExists comes from storage, after admission.
    const own = await as(['-n', R, 'create', 'configmap', names.publicPki, '--dry-run=server']);
    expect(own.code === 0 ? '' : own.stderr).toMatch(/^$|configmaps "[^"]+" already exists/);
  });

  it('no rule granted to any of the three ServiceAccounts uses a wildcard (SelfSubjectRulesReview in every relevant namespace)', async () => {
    const wildcards: string[] = [];
    for (const sa of [runnerSa, webhookSa, exporterSa]) {
      for (const ns of [T, L, R, appNs, 'kube-system']) {
        const review = JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: ns } });
        const out = await kubectl(['create', '--validate=false', '-f', '-', '-o', 'json', `--as=${saUser(sa)}`, ...groups(R)], review);
        const rules = (JSON.parse(out.stdout) as { status: { resourceRules: Array<{ verbs: string[]; apiGroups?: string[]; resources?: string[] }> } }).status.resourceRules;
        for (const r of rules) {
          if ([...r.verbs, ...(r.apiGroups ?? []), ...(r.resources ?? [])].includes('*')) wildcards.push(`${sa} in ${ns}: ${JSON.stringify(r)}`);
        }
      }
    }
    expect(wildcards).toEqual([]);
  });

  it("the chart's ValidatingAdmissionPolicy refuses the runner creates of other names and real pods; allows its own objects and dry runs", async () => {
    const as = kubectlAs(testCluster(), runnerKubeconfig);
    const lease = (name: string) => JSON.stringify({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: R } });
    const pod = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'injector-probe', namespace: appNs }, spec: { containers: [{ name: 'c', image: 'example.invalid/probe:1' }] } });
    const guard = `ValidatingAdmissionPolicy '${release.name}-runner-guard'`;

    const otherSecret = await as(['-n', T, 'create', 'secret', 'generic', 'stolen-copy', '--from-literal=tls.key=x', '--dry-run=server']);
    expect(otherSecret.stderr).toContain(guard);
    expect(otherSecret.stderr).toContain(`the rotation runner may create only the Secrets ${T}/${names.active} and ${T}/${names.previous}`);
    const otherConfigMap = await as(['-n', R, 'create', 'configmap', 'other-state', '--dry-run=server']);
    expect(otherConfigMap.stderr).toContain(`the rotation runner may create only the ConfigMap ${R}/${names.state}`);
    const otherLease = await as(['create', '-f', '-', '--dry-run=server'], lease('other-lease'));
    expect(otherLease.stderr).toContain(`the rotation runner may create only the Lease ${R}/${names.lease}`);
    const realPod = await as(['create', '-f', '-'], pod);
    expect(realPod.stderr).toContain('the rotation runner may create pods only as a server-side dry run');
    expect((await tryKubectl(['-n', appNs, 'get', 'pod', 'injector-probe'])).code).not.toBe(0);

    // bootstrap already created the state ConfigMap and the Lease: AlreadyExists comes from storage,
    // after admission, so it too shows that the guard let the create through.
    for (const ok of [
      await as(['-n', R, 'create', 'configmap', names.state, '--dry-run=server']),
      await as(['create', '-f', '-', '--dry-run=server'], lease(names.lease)),
      await as(['create', '-f', '-', '--dry-run=server'], pod),
    ]) {
      expect(ok.code === 0 ? '' : ok.stderr).toMatch(/^$|^Error from server \(AlreadyExists\)/);
    }
    // Anyone else is not affected by the guard.
    expect((await tryKubectl(['-n', T, 'create', 'secret', 'generic', 'stolen-copy', '--dry-run=server'])).code).toBe(0);
  });

  it("the chart's workload guard lets the runner's workload patches change only the restart marker: a restart of each kind is allowed; an image, a ServiceAccount, a hostPath volume, a label, a replica count are denied, naming what changed (issue 14, item 7)", async () => {
    const as = kubectlAs(testCluster(), runnerKubeconfig);
    const guard = `ValidatingAdmissionPolicy '${release.name}-workload-guard'`;
    const labels = { app: 'guarded' };
    const template = { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } };
    const workloads = [
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'guarded', namespace: appNs, labels }, spec: { replicas: 1, selector: { matchLabels: labels }, template } },
      { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'guarded', namespace: appNs, labels }, spec: { replicas: 1, serviceName: 'guarded', selector: { matchLabels: labels }, template } },
      { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'guarded', namespace: appNs, labels }, spec: { selector: { matchLabels: labels }, template } },
    ];
    await kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: workloads }));
    // The runner's own patch (libs/kube restartPatch: a merge patch of the template's restartedAt).
    const patch = (kind: string, body: object) => as(['-n', appNs, 'patch', kind.toLowerCase(), 'guarded', '--type=merge', '-p', JSON.stringify(body)]);
    const restart = (at: string) => ({ spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': at } } } } });

    // A restart of each kind, twice (adding the annotation, then changing it). For a DaemonSet the
    // API server itself bumps the deprecated.daemonset.template.generation annotation.
    for (const { kind } of workloads) {
      for (const at of ['2026-01-01T00:00:00Z', new Date().toISOString()]) {
        const r = await patch(kind, restart(at));
        expect(`${kind} restart at ${at}: ${r.code === 0 ? 'allowed' : r.stderr.trim()}`).toBe(`${kind} restart at ${at}: allowed`);
      }
    }

    const denied = async (what: string, body: object, paths: string[]) => {
      const r = await patch('Deployment', body);
      expect(`${what}: ${r.code}`).toBe(`${what}: 1`);
      expect(r.stderr).toContain(guard);
      expect(r.stderr).toContain(`the rotation runner may only restart workloads (change spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt], or spec.restartAt of a Rollout); its update of Deployment ${appNs}/guarded also changes ${paths.join(', ')}`);
    };
    // A restart with an image change rides along: the whole request is denied.
    await denied('image', { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } }, spec: { containers: [{ name: 'app', image: 'example.invalid/evil:1' }] } } } }, ['spec.template.spec']);
    await denied('serviceAccountName', { spec: { template: { spec: { serviceAccountName: 'default' } } } }, ['spec.template.spec']);
    await denied('hostPath volume', { spec: { template: { spec: { volumes: [{ name: 'host', hostPath: { path: '/' } }] } } } }, ['spec.template.spec']);
    await denied('workload label', { metadata: { labels: { team: 'other' } } }, ['metadata.labels[team]']);
    await denied('pod template label', { spec: { template: { metadata: { labels: { extra: 'x' } } } } }, ['spec.template.metadata.labels']);
    await denied('other template annotation', { spec: { template: { metadata: { annotations: { 'linkerd.io/inject': 'disabled' } } } } }, ['spec.template.metadata.annotations[linkerd.io/inject]']);
    await denied('replicas', { spec: { replicas: 0 } }, ['spec.replicas']);
    expect(await jsonpath(testCluster(), ['-n', appNs, 'get', 'deployment', 'guarded'], '{.spec.replicas} {.spec.template.spec.containers[0].image} {.metadata.labels}')).toBe('1 example.invalid/app:1 {"app":"guarded"}');

    // Anyone else is not affected by the guard.
    expect((await tryKubectl(['-n', appNs, 'patch', 'deployment', 'guarded', '--type=merge', '--dry-run=server', '-p', JSON.stringify({ spec: { replicas: 2 } })])).code).toBe(0);
    await kubectl(['-n', appNs, 'delete', 'deployment,statefulset,daemonset', 'guarded', '--wait=false']);
  });

  it("the API server type-checks the anchor and workload guards' CEL against the real schemas without a warning", async () => {
    for (const guard of [`${release.name}-anchor-guard`, `${release.name}-workload-guard`]) {
      const status = await waitFor(
        async () => {
          const vap = JSON.parse((await kubectl(['get', 'validatingadmissionpolicy', guard, '-o', 'json'])).stdout) as {
            metadata: { generation: number };
            status?: { observedGeneration?: number; typeChecking?: { expressionWarnings?: Array<{ fieldRef: string; warning: string }> } };
          };
          return vap.status?.observedGeneration === vap.metadata.generation ? vap.status : undefined;
        },
        { what: `ValidatingAdmissionPolicy ${guard} to be type-checked (status.observedGeneration)`, timeoutMs: 60_000 },
      );
      expect(`${guard}: ${JSON.stringify(status.typeChecking?.expressionWarnings ?? [])}`).toBe(`${guard}: []`);
    }
  });

  it("the chart's anchor guard lets only the runner write the active and previous anchor Secrets: an admin's patch, delete and collection delete are denied with a message that says to use the runner; the namespace controller and garbage collector may delete (issue 14, item 4)", async () => {
    const as = kubectlAs(testCluster(), runnerKubeconfig);
    const guard = `ValidatingAdmissionPolicy '${release.name}-anchor-guard'`;
    const label = JSON.stringify({ metadata: { labels: { 'restored-from': 'backup' } } });
    const message = (secret: string, user: string, verb: string) =>
      `Secret ${T}/${secret} holds a trust anchor and is written only by the rotation runner (${saUser(runnerSa)}); ${user} may not ${verb} it`;
    const admin = (await kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])).stdout.trim();
    const expectDenied = (r: { code: number; stderr: string }, secret: string, user: string, verb: string) => {
      expect(`${secret} ${verb} by ${user}: ${r.code}`).toBe(`${secret} ${verb} by ${user}: 1`);
      expect(r.stderr).toContain(guard);
      expect(r.stderr).toContain(message(secret, user, verb));
      expect(r.stderr).toContain(`Run the runner instead: rotate (kubectl -n ${R} create job --from=cronjob/${release.name}-rotate rotate-now) or, when the Secret is missing, bootstrap`);
    };

    // An admin's kubectl: a patch (a GitOps re-apply or a restore is the same UPDATE), a delete, and a
    // collection delete (which reaches admission once per object, with an empty request.name).
    for (const secret of [names.active, names.previous]) {
      expectDenied(await tryKubectl(['-n', T, 'patch', 'secret', secret, '--type=merge', '-p', label]), secret, admin, 'update');
      expectDenied(await tryKubectl(['-n', T, 'delete', 'secret', secret, '--dry-run=server']), secret, admin, 'delete');
    }
    const collection = await tryKubectl(['delete', '--raw', `/api/v1/namespaces/${T}/secrets?dryRun=All&fieldSelector=metadata.name%3D${names.previous}`]);
    expect(collection.code).toBe(1);
    expect(collection.stderr).toContain(message(names.previous, admin, 'delete'));
    // A restore where the Secret is missing is a create (here AlreadyExists would come from storage,
    // after admission, so the guard's message shows it ran first).
    const restored = { apiVersion: 'v1', kind: 'Secret', metadata: { name: names.active, namespace: T }, data: { 'tls.crt': b64('an old anchor') } };
    expectDenied(await tryKubectl(['create', '-f', '-', '--dry-run=server'], JSON.stringify(restored)), names.active, admin, 'create');
    expect(await jsonpath(testCluster(), ['-n', T, 'get', 'secret', names.active], '{.metadata.labels}')).not.toContain('restored-from');

    // The runner writes them (its RBAC grants update and patch by name).
    for (const secret of [names.active, names.previous]) {
      const r = await as(['-n', T, 'patch', 'secret', secret, '--type=merge', '--dry-run=server', '-p', label]);
      expect(`${secret}: ${r.code === 0 ? 'allowed' : r.stderr.trim()}`).toBe(`${secret}: allowed`);
    }
    // Namespace deletion: the namespace controller and the garbage collector may delete (dry run,
    // impersonated); the garbage collector may not rewrite one (an ownerReference would be the next step).
    for (const controller of ['system:serviceaccount:kube-system:namespace-controller', 'system:serviceaccount:kube-system:generic-garbage-collector']) {
      const r = await tryKubectl(['-n', T, 'delete', 'secret', names.previous, '--dry-run=server', `--as=${controller}`, '--as-group=system:serviceaccounts', '--as-group=system:authenticated']);
      expect(`${controller}: ${r.code === 0 ? 'allowed' : r.stderr.trim()}`).toBe(`${controller}: allowed`);
    }
    const gc = 'system:serviceaccount:kube-system:generic-garbage-collector';
    expectDenied(await tryKubectl(['-n', T, 'patch', 'secret', names.previous, '--type=merge', '--dry-run=server', '-p', label, `--as=${gc}`, '--as-group=system:serviceaccounts', '--as-group=system:authenticated']), names.previous, gc, 'update');
    // Other Secrets of the trust namespace are not affected.
    expect((await tryKubectl(['-n', T, 'patch', 'secret', names.prepared, '--type=merge', '--dry-run=server', '-p', label])).code).toBe(0);
  });

  it("the runner's ServiceAccount can make each API write of a rotation (renew, promote, re-issue, retire, roll; made here with kubectl, the engine's own run is scenario 1) and the webhook lets each resulting write through", async () => {
    const as = kubectlAs(testCluster(), runnerKubeconfig);
    const ok = async (args: string[], input?: string) => {
      const r = await as(args, input);
      if (r.code !== 0) throw new Error(`as the runner: kubectl ${args.join(' ')} failed: ${r.stderr.trim()}`);
      return r.stdout;
    };
    // What `cmctl renew` does, as the runner's ServiceAccount.
    const renew = async (ns: string, name: string) => waitForReissue(testCluster(), ns, name, await cmctlRenew(testCluster(), ns, name, as), 60_000);
    const writeSecret = (name: string, data: Record<string, string>) =>
      ok(['-n', T, 'patch', 'secret', name, '--type=merge', '-p', JSON.stringify({ data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) })]);

    // Prepare: a new prepared anchor B; trust-manager publishes {A, B}.
    await renew(T, names.prepared);
    const b = await secretData(testCluster(), T, names.prepared);
    expect(b['tls.crt']).not.toBe(activeAnchor);
    await waitForTrustRoots(testCluster(), [activeAnchor, b['tls.crt']!], 'the bundle to hold A and B');
    // Promote: B signs the issuer from now on (and is the anchor the bundle reads from the active Secret).
    await writeSecret(names.active, { 'tls.crt': b['tls.crt']!, 'tls.key': b['tls.key']!, [ANCHOR_CERT_KEY]: b['tls.crt']! });
    await renew(L, names.issuer);
    const issuer = await secretData(testCluster(), L, names.issuer);
    expect(chainsTo(issuer['tls.crt']!, b['tls.crt']!)).toBe(true);
    // Retire: A leaves the bundle.
    await writeSecret(names.previous, { 'tls.crt': b['tls.crt']! });
    await waitForTrustRoots(testCluster(), [b['tls.crt']!], 'the bundle to hold B only');
    // Roll a meshed workload and probe the injector with a dry run.
    await kubectl(['-n', appNs, 'create', 'deployment', 'web', '--image=example.invalid/web:1']);
    await ok(['-n', appNs, 'patch', 'deployment', 'web', '-p', JSON.stringify({ spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } })]);
    await kubectl(['-n', appNs, 'rollout', 'status', 'deployment/web', '--timeout=60s']);
    await ok(['-n', R, 'create', 'configmap', names.state, '--dry-run=server']);
    const event = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'rotation-done.test', namespace: R }, involvedObject: { kind: 'ConfigMap', name: names.state, namespace: R }, reason: 'RotationDone', message: 'test', type: 'Normal' };
    await ok(['create', '-f', '-'], JSON.stringify(event));

    const metrics = await webhook!.metrics();
    expect(metrics).not.toMatch(/verdict="(error|invalid)"\} [1-9]/);
    expect(metrics).toMatch(/resource="configmaps",operation="UPDATE",verdict="allowed"\} [1-9]/);
    expect(metrics).toMatch(/resource="secrets",operation="UPDATE",verdict="allowed"\} [1-9]/);
    activeAnchor = b['tls.crt']!;
  });

  it("the runner's own commands run under its ServiceAccount as the chart runs them: `check` (helm test Pod) and `rotate` (CronJob) with nothing due", async () => {
    const [check, rotate] = await Promise.all([
      runRunnerAsChart(testCluster(), { kubeconfig: runnerKubeconfig, workload: 'helm-test', extraArgs: ['--output', 'json'] }),
      runRunnerAsChart(testCluster(), { kubeconfig: runnerKubeconfig, workload: 'rotate-cronjob' }),
    ]);
    expect(check.args.slice(0, 1)).toEqual(['check']);
    expectExit(check, 0);
    const report = JSON.parse(check.stdout) as { rotation: { phase: string }; issuer: { chainsToRole: string }; bundleSynced: boolean; anchors: Array<{ role: string }> };
    expect(report).toMatchObject({ rotation: { phase: 'Idle' }, issuer: { chainsToRole: 'active' }, bundleSynced: true });
    expect(report.anchors.map((a) => a.role)).toEqual(['prepared', 'active', 'previous']);
    expect(rotate.args.join(' ')).toMatch(/^rotate --only-if-older-than 720h /);
    expect(rotate.args.join(' ')).toContain('--strategy cross-signed');
    expectExit(rotate, 0);
  });
});

describe('the contract between the chart and the exporter app', () => {
  it('the exporter started with only what the chart gives its pod (command, envFrom config, env), as its ServiceAccount, syncs every cache and exports the PKI series', async () => {
    type Container = { command?: string[]; args?: string[] };
    const deployment = JSON.parse((await kubectl(['-n', R, 'get', 'deployment', releaseObjects.exporterDeployment, '-o', 'json'])).stdout) as { spec: { template: { spec: { serviceAccountName: string; containers: Container[] } } } };
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe(exporterSa);
    expect(pod.containers[0]!.command?.at(-1)).toBe('dist/exporter.js');
    expect(pod.containers[0]!.args).toBeUndefined();

    // Waits for /readyz: every cache listed, which a missing grant would prevent.
    const exporter = await startChartExporter(testCluster(), { kubeconfig: await serviceAccountKubeconfig(testCluster(), exporterSa) });
    try {
      const metrics = await exporter.metrics();
      expect(metrics).toMatch(/^linkerd_rotator_exporter_synced 1$/m);
      expect(metrics).toMatch(new RegExp(`^linkerd_rotator_certificate_not_after_timestamp_seconds\\{[^}]*role="active-anchor"[^}]*namespace="${T}"`, 'm'));
      expect(metrics).toMatch(new RegExp(`^linkerd_rotator_trust_bundle_contains_active_anchor\\{namespace="${L}"\\} 1$`, 'm'));
      expect(exporter.log()).not.toMatch(/forbidden|\b403\b/i);
    } finally {
      await exporter.stop();
    }
  });
});

describe("the exporter's check of the webhook configuration's caBundle (issue 14, item 10)", () => {
  const metric = 'linkerd_rotator_ca_bundle_valid';
  /** webhook -> "<reason> <value>" from one scrape. */
  const verdicts = (text: string) =>
    Object.fromEntries([...text.matchAll(new RegExp(`^${metric}\\{webhook="([^"]+)",reason="([^"]+)"\\} (\\d)$`, 'gm'))].map((m) => [m[1]!, `${m[2]} ${m[3]}`]));
  const vwc = `validatingwebhookconfiguration/${release.name}`;

  it('is 1 for every webhook while cainjector keeps the CA injected, through a leaf renewal that leaves the caBundle as it was; 0 (untrusted) for a webhook whose caBundle is another CA, until cainjector injects the CA again (merged after it)', async () => {
    const exporter = await startChartExporter(testCluster(), { kubeconfig: await serviceAccountKubeconfig(testCluster(), exporterSa) });
    try {
      const hooks = (await jsonpath(testCluster(), ['get', vwc], '{.webhooks[*].name}')).split(' ');
      const allVerified = Object.fromEntries(hooks.map((h) => [h, 'verified 1']));
      await waitFor(async () => JSON.stringify(verdicts(await exporter.metrics())) === JSON.stringify(allVerified), {
        what: `the exporter to verify the served certificate with the caBundle of all ${hooks.length} webhooks`,
        timeoutMs: 30_000,
      });

      // A leaf renewal: new key and leaf from the same CA; ca.crt and so the caBundle stay the same.
      const caBundle = await jsonpath(testCluster(), ['get', vwc], '{.webhooks[*].clientConfig.caBundle}');
      const leafBefore = await secretData(testCluster(), R, `${release.name}-webhook-tls`);
      const revision = await cmctlRenew(testCluster(), R, `${release.name}-webhook`);
      expect(await waitForReissue(testCluster(), R, `${release.name}-webhook`, revision)).toBe(revision + 1);
      const leafAfter = await secretData(testCluster(), R, `${release.name}-webhook-tls`);
      expect(leafAfter['tls.crt']).not.toBe(leafBefore['tls.crt']);
      expect(leafAfter['ca.crt']).toBe(leafBefore['ca.crt']);
      expect(await jsonpath(testCluster(), ['get', vwc], '{.webhooks[*].clientConfig.caBundle}')).toBe(caBundle);
      expect(verdicts(await exporter.metrics())).toEqual(allVerified);

      // Another CA in one webhook's caBundle (cainjector told to leave it alone for the test).
      const { certPem: otherCa } = await makeCa('some-other-ca');
      const last = hooks.length - 1;
      await kubectl(['annotate', vwc, 'cert-manager.io/inject-ca-from-']);
      await kubectl(['patch', vwc, '--type=json', '-p', JSON.stringify([{ op: 'replace', path: `/webhooks/${last}/clientConfig/caBundle`, value: b64(otherCa) }])]);
      await waitFor(async () => verdicts(await exporter.metrics())[hooks[last]!] === 'untrusted 0', { what: `the exporter to report ${hooks[last]}'s caBundle as untrusted`, timeoutMs: 30_000 });
      expect(verdicts(await exporter.metrics())).toEqual({ ...allVerified, [hooks[last]!]: 'untrusted 0' });
      const logged = exporter.log().split('\n').filter((line) => line.includes('"webhook":')).map((line) => JSON.parse(line) as { webhook: string; reason: string; problem?: string });
      expect(logged.find((l) => l.webhook === hooks[last] && l.reason === 'untrusted')?.problem).toMatch(/^the served certificate .* does not verify against the caBundle \(1 certificate: "CN=some-other-ca" \(sha256:[0-9a-f]{16}\)\)/);
      expect(exporter.log()).not.toContain('BEGIN CERTIFICATE');

      // cainjector puts the CA back once the annotation is back. cert-manager 1.21 merges (CAInjectorMerging,
      // GA): it appends the CA and keeps the certificates already there until they expire.
      await kubectl(['annotate', vwc, `cert-manager.io/inject-ca-from=${R}/${release.name}-webhook`]);
      await waitFor(async () => JSON.stringify(verdicts(await exporter.metrics())) === JSON.stringify(allVerified), { what: 'cainjector to inject the CA again and the exporter to verify it', timeoutMs: 60_000 });
      const ours = leafAfter['ca.crt']!;
      const merged = Buffer.from(await jsonpath(testCluster(), ['get', vwc], `{.webhooks[${last}].clientConfig.caBundle}`), 'base64').toString();
      expect(fingerprintsOf(merged)).toEqual([...fingerprintsOf(otherCa), ...fingerprintsOf(ours)]);
      // Put the injected caBundle back as it was (cainjector finds its CA there and changes nothing).
      await kubectl(['patch', vwc, '--type=json', '-p', JSON.stringify([{ op: 'replace', path: `/webhooks/${last}/clientConfig/caBundle`, value: b64(ours) }])]);
      expect(await jsonpath(testCluster(), ['get', vwc], '{.webhooks[*].clientConfig.caBundle}')).toBe(caBundle);
    } finally {
      await exporter.stop();
    }
  });
});

describe('the contract between the chart and the webhook app', () => {
  it('the webhook started with only what the chart gives its pod (args, envFrom config, env) watches the objects the chart names', async () => {
    // Rendered, not installed: another release namespace and state ConfigMap name than the defaults.
    const own = await webhookEndpoint();
    const rendered = await testCluster().helm([
      'template', 'other', chartDir, '-n', 'rotator-system', '--kube-version', '1.37.0', ...urlModeValues(own),
      '--set', 'names.stateConfigMap=rotator-state', '--set', 'names.lease=rotator-lease', '--set', 'names.publicPkiConfigMap=rotator-pki',
      // Each list+watch logs its first list at debug ("listed", with the collection's object).
      '--set', 'webhook.logLevel=debug',
    ]);
    const docs = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; data?: Record<string, string> } | null);
    const deployment = docs.find((d) => d?.kind === 'Deployment' && d.metadata?.name === 'other-linkerd-rotator-webhook');
    const config = docs.find((d) => d?.kind === 'ConfigMap' && d.metadata?.name === 'other-linkerd-rotator-config');
    expect(config?.data?.['STATE_NAMESPACE']).toBe('rotator-system');
    const tls = await generatedServingTls();
    const started = await startChartWebhook(testCluster(), {
      endpoint: own,
      tls,
      kubeconfig: testCluster().kubeconfigPath,
      deployment,
      configMapData: config!.data!,
      waitReady: false,
    });
    try {
      const watched = await waitFor(
        () => {
          const listed = started.log().split('\n').filter((line) => line.includes('"msg":"listed"'));
          const objects = listed.map((line) => (JSON.parse(line) as { collection: string }).collection);
          return new Set(objects).size >= 3 ? [...new Set(objects)].sort() : undefined;
        },
        { what: 'the webhook to list each object it guards once', timeoutMs: 30_000 },
      );
      // Exactly these: the exporter's pods and cluster-wide trust roots are not the webhook's to
      // watch, and no Secret: the anchors and the issuer come from the public PKI view.
      expect(watched).toEqual([`ConfigMap ${L}/${names.trustRoots}`, 'ConfigMap rotator-system/rotator-pki', 'ConfigMap rotator-system/rotator-state'].sort());
    } finally {
      await started.stop();
    }
  });
});

describe('helm upgrade', () => {
  it('applies changed values (common-recipe profile, schedule, webhook timeout, monitoring on, exporter without pods) without touching the active anchor, the issuer or the injected caBundle', async () => {
    const before = {
      active: await secretData(testCluster(), T, names.active),
      previous: await secretData(testCluster(), T, names.previous),
      issuer: await secretData(testCluster(), L, names.issuer),
      revision: await jsonpath(testCluster(), ['-n', T, 'get', 'certificate', names.prepared], '{.status.revision}'),
      caBundle: await jsonpath(testCluster(), ['get', 'validatingwebhookconfiguration', release.name], '{.webhooks[0].clientConfig.caBundle}'),
    };
    const upgrade = await testCluster().helm([
      'upgrade', release.name, chartDir, '-n', release.namespace, '--reuse-values', '--wait', '--timeout', '120s',
      '--set', 'pki.trustAnchor.duration=2880h', '--set', 'pki.trustAnchor.renewBefore=1440h', '--set', 'runner.rotation.onlyIfOlderThan=1440h',
      '--set', 'runner.rotation.schedule=5 4 * * 1', '--set', 'webhook.timeoutSeconds=10',
      '--set', 'monitoring.serviceMonitor.enabled=true', '--set', 'monitoring.prometheusRule.enabled=true', '--set', 'monitoring.dashboard.enabled=true',
      '--set', 'exporter.watchPods=false',
    ]);
    expect(upgrade.stdout).toContain('STATUS: deployed');
    expect(upgrade.stdout).toContain('REVISION: 2');
    // The post-upgrade hook reruns bootstrap, which finds nothing to do.
    const boot = await runRunnerAsChart(testCluster(), { kubeconfig: runnerKubeconfig, workload: 'bootstrap-hook' });
    expectExit(boot, 0);
    expect(boot.stdout + boot.stderr).toContain('already bootstrapped: nothing changed');

    const certSpec = JSON.parse((await kubectl(['-n', T, 'get', 'certificate', names.prepared, '-o', 'jsonpath={.spec}'])).stdout) as { duration: string; renewBefore: string };
    expect([certSpec.duration, certSpec.renewBefore]).toEqual(['2880h', '1440h']);
    const cronjob = JSON.parse((await kubectl(['-n', R, 'get', 'cronjob', `${release.name}-rotate`, '-o', 'json'])).stdout) as {
      spec: { schedule: string; jobTemplate: { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } } };
    };
    expect(cronjob.spec.schedule).toBe('5 4 * * 1');
    expect(cronjob.spec.jobTemplate.spec.template.spec.containers[0]!.args.join(' ')).toContain('--only-if-older-than 1440h');
    expect(await jsonpath(testCluster(), ['get', 'validatingwebhookconfiguration', release.name], '{.webhooks[*].timeoutSeconds}')).toBe('10 10 10 10');
    await kubectl(['-n', R, 'get', `servicemonitor.monitoring.coreos.com/${release.name}-metrics`, `prometheusrule.monitoring.coreos.com/${release.name}`]);
    // Without pod watches the exporter is told so and its ServiceAccount loses pods, nothing else.
    const exporterEnv = await jsonpath(testCluster(), ['-n', R, 'get', 'deployment', `${release.name}-exporter`], '{.spec.template.spec.containers[0].env[?(@.name=="EXPORTER_WATCH_PODS")].value}');
    expect(exporterEnv).toBe('false');
    const exporterCan = async (verb: string, resource: string, ...scope: string[]) =>
      (await tryKubectl(['auth', 'can-i', verb, resource, ...scope, `--as=${saUser(exporterSa)}`, '--as-group=system:serviceaccounts', `--as-group=system:serviceaccounts:${R}`])).stdout.trim();
    expect(await exporterCan('list', 'pods', '--all-namespaces')).toBe('no');
    expect(await exporterCan('list', `configmaps/${names.trustRoots}`, '--all-namespaces')).toBe('yes');
    expect(await jsonpath(testCluster(), ['-n', R, 'get', 'configmap', '-l', 'grafana_dashboard=1'], '{.items[*].metadata.name}')).not.toBe('');

    // The anchors that sign or are trusted did not change, and helm's three-way merge kept cainjector's caBundle.
    await kubectl(['wait', '--for=condition=Ready', `clusterissuer/${names.clusterIssuer}`, '--timeout=30s']);
    expect(await secretData(testCluster(), T, names.active)).toEqual(before.active);
    expect(await secretData(testCluster(), T, names.previous)).toEqual(before.previous);
    expect(await secretData(testCluster(), L, names.issuer)).toEqual(before.issuer);
    expect(await jsonpath(testCluster(), ['get', 'validatingwebhookconfiguration', release.name], '{.webhooks[0].clientConfig.caBundle}')).toBe(before.caBundle);
    // A new duration changes the CertificateRequest spec, so cert-manager re-issues the prepared anchor
    // at once (a new key: rotationPolicy Always). That is safe, because the prepared anchor signs nothing
    // until it is promoted; trust-manager publishes it next to the active one and the webhook allows that.
    await waitFor(async () => Number(await jsonpath(testCluster(), ['-n', T, 'get', 'certificate', names.prepared], '{.status.revision}')) === Number(before.revision) + 1, {
      what: 'cert-manager to re-issue the prepared anchor with the new duration',
      timeoutMs: 60_000,
    });
    await kubectl(['-n', T, 'wait', '--for=condition=Ready', `certificate/${names.prepared}`, '--timeout=30s']);
    const prepared = cert((await secretData(testCluster(), T, names.prepared))['tls.crt']!);
    expect((Date.parse(prepared.validTo) - Date.parse(prepared.validFrom)) / 3_600_000).toBe(2880);
    await waitForTrustRoots(testCluster(), [prepared.toString(), before.active['tls.crt']!], 'the bundle to hold the re-issued prepared anchor and the active one');
    // ... so guarded writes still reach the webhook.
    const denied = await tryKubectl(['-n', L, 'delete', 'configmap', names.trustRoots]);
    expect(denied.stderr).toContain('admission webhook "trust-roots.linkerd-rotator.io" denied the request: deleting ConfigMap');
  });
});

describe('helm uninstall', () => {
  it('removes everything the chart made except what the README says is kept: anchor Secrets, the issuer and webhook TLS Secrets, state ConfigMap and Lease, the public PKI view, the Bundle with its ConfigMap (CRDs predate the chart)', async () => {
    // Uninstall deletes the exporter's Deployment: its local stand-in stops with it.
    await exporter?.stop();
    exporter = undefined;
    const uninstall = await testCluster().helm(['uninstall', release.name, '-n', release.namespace, '--wait', '--timeout', '120s']);
    expect(uninstall.stdout).toContain(`[Bundle] ${names.trustRoots}`);
    // Kept, per the chart README's Uninstall section (the state ConfigMap and Lease were created by
    // the runner's bootstrap).
    const documented = [
      `ConfigMap/${R}/${names.state}`,
      `ConfigMap/${R}/${names.publicPki}`,
      `Lease/${R}/${names.lease}`,
      `Secret/${T}/${names.prepared}`,
      `Secret/${T}/${names.active}`,
      `Secret/${T}/${names.previous}`,
      `Secret/${L}/${names.issuer}`,
      `Secret/${R}/${release.name}-webhook-tls`,
      `Secret/${R}/${release.name}-webhook-ca`,
      `Bundle//${names.trustRoots}`,
      `ConfigMap/${L}/${names.trustRoots}`,
    ].sort();
    // The test's own workload in the app namespace is not the chart's.
    const ours = (id: string) => new RegExp(`^(Deployment|ReplicaSet|Pod)/${appNs}/`).test(id);
    let added: string[] = [];
    let removed: string[] = [];
    await waitFor(
      async () => {
        const now = await inventory(testCluster());
        added = [...now].filter((id) => !baseline.has(id) && !ours(id)).sort();
        removed = [...baseline].filter((id) => !now.has(id)).sort();
        // Settled once garbage collection has removed the pods, ReplicaSets and CertificateRequests.
        return !added.some((id) => /^(Pod|ReplicaSet|CertificateRequest|Job|EndpointSlice|Endpoints)\//.test(id));
      },
      { what: 'garbage collection after helm uninstall', timeoutMs: 60_000 },
    ).catch(() => undefined);
    expect({ kept: added, removed }).toEqual({ kept: documented, removed: [] });
  });
});
