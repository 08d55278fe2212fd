// Assertions over the objects `helm template` renders: least-privilege RBAC, hardened pods, the
// webhook's scope, CronJob and hook settings, the PKI pieces and their switches, names in one place.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { find, only, releaseNamespace, render, renderError, type K8sObject } from './support/render.js';
import { chartDir, repoRoot } from './support/tools.js';
import { ANCHOR_CERT_KEY } from '@linkerd-rotator/names';
import { expiryMarginOf, resolveOptions } from '@linkerd-rotator/rotation';

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}
interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  securityContext: Record<string, unknown>;
  resources: Record<string, unknown>;
  envFrom?: unknown[];
}
interface PodSpec {
  securityContext: Record<string, unknown>;
  containers: Container[];
  serviceAccountName: string;
  restartPolicy?: string;
  affinity?: Record<string, unknown>;
}
type Spec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const spec = (o: K8sObject): Spec => o['spec'] as Spec;
const rules = (o: K8sObject): Rule[] => o['rules'] as Rule[];
const defaults = render();
const fullname = 'rot-linkerd-rotator';

type PodMetadata = { labels?: Record<string, string>; annotations?: Record<string, string> };

/** Every pod the chart makes (pod templates, and the helm test Pod itself), by `Kind/name`. */
function pods(objects: K8sObject[]): [string, { metadata: PodMetadata; spec: PodSpec }][] {
  const out: [string, { metadata: PodMetadata; spec: PodSpec }][] = [];
  for (const o of objects) {
    const s = spec(o);
    const template = o.kind === 'Deployment' || o.kind === 'Job' ? s['template'] : o.kind === 'CronJob' ? s['jobTemplate']['spec']['template'] : o.kind === 'Pod' ? { metadata: o.metadata, spec: s } : undefined;
    if (template) out.push([`${o.kind}/${o.metadata.name}`, template]);
  }
  return out;
}

function podSpecs(objects: K8sObject[]): [string, PodSpec][] {
  return pods(objects).map(([name, pod]) => [name, pod.spec]);
}

function podMetadata(objects: K8sObject[]): [string, PodMetadata][] {
  return pods(objects).map(([name, pod]) => [name, pod.metadata]);
}

/** Every grant of a ServiceAccount, as [namespace or "*", rule] pairs, followed through the bindings. */
function grantsOf(objects: K8sObject[], serviceAccount: string): [string, Rule][] {
  const grants: [string, Rule][] = [];
  for (const binding of objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
    const subjects = binding['subjects'] as { name: string; namespace: string }[];
    if (!subjects.some((s) => s.name === serviceAccount && s.namespace === releaseNamespace)) continue;
    const ref = binding['roleRef'] as { kind: string; name: string };
    const role = objects.find((o) => o.kind === ref.kind && o.metadata.name === ref.name && o.metadata.namespace === binding.metadata.namespace);
    if (!role) throw new Error(`${binding.kind}/${binding.metadata.name} refers to a missing ${ref.kind}/${ref.name}`);
    for (const rule of rules(role)) grants.push([binding.metadata.namespace ?? '*', rule]);
  }
  return grants;
}

function allows(grants: [string, Rule][], namespace: string, group: string, resource: string, verb: string, name?: string): boolean {
  return grants.some(
    ([ns, r]) =>
      (ns === '*' || ns === namespace) &&
      (r.apiGroups ?? []).includes(group) &&
      (r.resources ?? []).includes(resource) &&
      r.verbs.includes(verb) &&
      (!r.resourceNames || (name !== undefined && r.resourceNames.includes(name))),
  );
}

describe('RBAC', () => {
  const runner = grantsOf(defaults, `${fullname}-runner`);
  const webhook = grantsOf(defaults, `${fullname}-webhook`);
  const exporter = grantsOf(defaults, `${fullname}-exporter`);

  it('has no wildcard in any role, and no escalate, bind or impersonate; one delete: the runner\'s, of CertificateRequests in the Linkerd namespace', () => {
    const roles = defaults.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole');
    expect(roles.length).toBeGreaterThanOrEqual(9);
    const deletes: string[] = [];
    for (const role of roles) {
      for (const rule of rules(role)) {
        expect([...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs, ...(rule.resourceNames ?? [])]).not.toContain('*');
        expect(rule.verbs).not.toEqual(expect.arrayContaining(['escalate']));
        expect(rule.verbs.some((v) => ['bind', 'impersonate', 'deletecollection'].includes(v))).toBe(false);
        if (rule.verbs.includes('delete')) deletes.push(`${role.kind} ${role.metadata.namespace ?? ''}/${role.metadata.name}: ${(rule.resources ?? []).join(',')}`);
      }
    }
    // `recover` deletes the issuer's next request when cert-manager signed it under a replaced anchor
    // (docs/rotation.md, "Recover"): a request holds no key, and cert-manager makes it again, which
    // the runner can already cause by renewing the issuer (certificates/status).
    expect(deletes).toEqual([`Role linkerd/${fullname}-runner-linkerd: certificaterequests`]);
  });

  it('names every Secret it reads or writes, except creates (which the admission guard narrows)', () => {
    for (const [ns, rule] of [...runner, ...webhook, ...exporter]) {
      if (!rule.resources?.includes('secrets')) continue;
      expect(ns).not.toBe('*');
      if (rule.verbs.join() === 'create') continue;
      expect(rule.resourceNames?.length).toBeGreaterThan(0);
    }
    expect(allows(runner, 'cert-manager', '', 'secrets', 'update', 'linkerd-active-anchor')).toBe(true);
    expect(allows(runner, 'cert-manager', '', 'secrets', 'get', 'some-other-secret')).toBe(false);
    expect(allows(runner, 'kube-system', '', 'secrets', 'get', 'linkerd-active-anchor')).toBe(false);
    expect(allows(runner, 'linkerd', '', 'secrets', 'update', 'linkerd-identity-issuer')).toBe(false);
    // issue 14 item 6: the runner reads no Secret of Linkerd's namespace; the issuer's chain comes from CertificateRequests.
    for (const verb of ['get', 'list', 'watch']) expect(allows(runner, 'linkerd', '', 'secrets', verb, 'linkerd-identity-issuer')).toBe(false);
    // delete: recovery discards an issuer request signed under the anchor it replaced (docs/rotation.md, "Recover").
    for (const verb of ['get', 'list', 'watch', 'delete']) expect(allows(runner, 'linkerd', 'cert-manager.io', 'certificaterequests', verb)).toBe(true);
    for (const verb of ['create', 'update', 'patch']) expect(allows(runner, 'linkerd', 'cert-manager.io', 'certificaterequests', verb)).toBe(false);
    expect(allows(exporter, 'cert-manager', '', 'secrets', 'watch', 'linkerd-active-anchor')).toBe(true);
    expect(allows(exporter, 'cert-manager', '', 'secrets', 'get', 'some-other-secret')).toBe(false);
    expect(allows(exporter, releaseNamespace, '', 'secrets', 'get', `${fullname}-webhook-tls`)).toBe(false);
  });

  it("lets the runner write the prepared anchor Secret only in a fleet member, where the fleet driver (as the member's runner) writes it: elsewhere it is cert-manager's", () => {
    const memberRunner = grantsOf(render({ fleet: { role: 'member' }, pki: { trustAnchor: { enabled: false } } }), `${fullname}-runner`);
    const primaryRunner = grantsOf(render({ fleet: { role: 'primary' } }), `${fullname}-runner`);
    for (const verb of ['update', 'patch']) {
      expect(allows(memberRunner, 'cert-manager', '', 'secrets', verb, 'linkerd-trust-anchor')).toBe(true);
      expect(allows(runner, 'cert-manager', '', 'secrets', verb, 'linkerd-trust-anchor')).toBe(false);
      expect(allows(primaryRunner, 'cert-manager', '', 'secrets', verb, 'linkerd-trust-anchor')).toBe(false);
      for (const grants of [memberRunner, primaryRunner]) expect(allows(grants, 'cert-manager', '', 'secrets', verb, 'linkerd-active-anchor')).toBe(true);
    }
    expect(allows(memberRunner, 'cert-manager', '', 'secrets', 'update', 'some-other-secret')).toBe(false);
    expect(allows(memberRunner, 'linkerd', '', 'secrets', 'update', 'linkerd-trust-anchor')).toBe(false);
  });

  it('lets the runner renew exactly the two certificates, through certificates/status', () => {
    expect(allows(runner, 'cert-manager', 'cert-manager.io', 'certificates/status', 'update', 'linkerd-trust-anchor')).toBe(true);
    expect(allows(runner, 'linkerd', 'cert-manager.io', 'certificates/status', 'update', 'linkerd-identity-issuer')).toBe(true);
    expect(allows(runner, 'linkerd', 'cert-manager.io', 'certificates/status', 'update', 'other')).toBe(false);
    expect(allows(runner, 'cert-manager', 'cert-manager.io', 'certificates', 'update', 'linkerd-trust-anchor')).toBe(false);
  });

  it('gives the runner the state ConfigMap and Lease by name in the release namespace', () => {
    expect(allows(runner, releaseNamespace, '', 'configmaps', 'update', 'linkerd-rotator-state')).toBe(true);
    expect(allows(runner, releaseNamespace, 'coordination.k8s.io', 'leases', 'update', 'linkerd-rotator')).toBe(true);
    expect(allows(runner, releaseNamespace, '', 'configmaps', 'update', 'other')).toBe(false);
    // The public PKI view: read only (gate public-view-synced); the exporter writes it.
    expect(allows(runner, releaseNamespace, '', 'configmaps', 'watch', 'linkerd-rotator-public-pki')).toBe(true);
    expect(allows(runner, releaseNamespace, '', 'configmaps', 'update', 'linkerd-rotator-public-pki')).toBe(false);
    expect(allows(runner, 'default', 'coordination.k8s.io', 'leases', 'create')).toBe(false);
  });

  it('keeps cluster-wide grants to discovery and rolls', () => {
    expect(allows(runner, 'shop', 'apps', 'deployments', 'patch', 'web')).toBe(true);
    expect(allows(runner, 'shop', 'argoproj.io', 'rollouts', 'patch', 'web')).toBe(true);
    expect(allows(runner, 'shop', '', 'pods', 'list')).toBe(true);
    expect(allows(runner, 'shop', '', 'configmaps', 'get', 'linkerd-identity-trust-roots')).toBe(true);
    expect(allows(runner, 'shop', '', 'configmaps', 'get', 'app-config')).toBe(false);
    expect(allows(runner, 'shop', 'apps', 'deployments', 'update', 'web')).toBe(false);
    expect(allows(runner, 'shop', '', 'pods', 'delete', 'web-1')).toBe(false);
  });

  it('gives the webhook read-only access, and the exporter one write: the public PKI view', () => {
    expect(webhook.length).toBeGreaterThan(0);
    for (const [, rule] of webhook) expect(rule.verbs.every((v) => ['get', 'list', 'watch'].includes(v))).toBe(true);
    const writes = exporter.filter(([, rule]) => rule.verbs.some((v) => !['get', 'list', 'watch'].includes(v)));
    expect(writes).toEqual([
      [releaseNamespace, { apiGroups: [''], resources: ['configmaps'], resourceNames: ['linkerd-rotator-public-pki'], verbs: ['get', 'list', 'watch', 'update', 'patch'] }],
      [releaseNamespace, { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }],
    ]);
    expect(allows(exporter, releaseNamespace, '', 'configmaps', 'patch', 'linkerd-rotator-state')).toBe(false);
    const renamed = grantsOf(render({ names: { publicPkiConfigMap: 'pki-view' } }), `${fullname}-exporter`);
    expect(allows(renamed, releaseNamespace, '', 'configmaps', 'patch', 'pki-view')).toBe(true);
  });

  it('gives the webhook no Secret at all (issue 14 item 6): it parses AdmissionReviews, so it holds no token that can read a key', () => {
    expect(webhook.filter(([, rule]) => rule.resources?.includes('secrets'))).toEqual([]);
    expect(allows(webhook, releaseNamespace, '', 'configmaps', 'watch', 'linkerd-rotator-public-pki')).toBe(true);
    expect(allows(webhook, releaseNamespace, '', 'configmaps', 'update', 'linkerd-rotator-public-pki')).toBe(false);
  });

  it('refuses the webhook without the exporter, which publishes what the webhook judges by', () => {
    expect(renderError({ exporter: { enabled: false } })).toContain('webhook.enabled needs exporter.enabled');
    expect(find(render({ exporter: { enabled: false }, webhook: { enabled: false } }), 'Deployment')).toHaveLength(0);
  });

  it('gives the webhook only what admission reads: named objects in their namespaces, no pods, nothing cluster-wide', () => {
    expect(webhook.filter(([ns]) => ns === '*')).toEqual([]);
    expect(allows(webhook, 'linkerd', '', 'configmaps', 'watch', 'linkerd-identity-trust-roots')).toBe(true);
    expect(allows(webhook, releaseNamespace, '', 'configmaps', 'watch', 'linkerd-rotator-state')).toBe(true);
    expect(allows(webhook, 'shop', '', 'configmaps', 'get', 'linkerd-identity-trust-roots')).toBe(false);
    expect(allows(webhook, 'shop', '', 'pods', 'list')).toBe(false);
    expect(allows(webhook, 'linkerd', '', 'pods', 'list')).toBe(false);
  });

  it('gives the exporter the trust objects by name, every trust-roots ConfigMap, and pods only with exporter.watchPods', () => {
    expect(allows(exporter, 'linkerd', '', 'secrets', 'watch', 'linkerd-identity-issuer')).toBe(true);
    expect(allows(exporter, releaseNamespace, '', 'configmaps', 'watch', 'linkerd-rotator-state')).toBe(true);
    expect(allows(exporter, 'shop', '', 'configmaps', 'list', 'linkerd-identity-trust-roots')).toBe(true);
    expect(allows(exporter, 'shop', '', 'configmaps', 'get', 'app-config')).toBe(false);
    expect(allows(exporter, 'shop', '', 'pods', 'watch')).toBe(true);
    const blind = grantsOf(render({ exporter: { watchPods: false } }), `${fullname}-exporter`);
    expect(allows(blind, 'shop', '', 'pods', 'list')).toBe(false);
    expect(allows(blind, 'shop', '', 'configmaps', 'list', 'linkerd-identity-trust-roots')).toBe(true);
  });

  it("gives the exporter the chart's ValidatingWebhookConfiguration by name (linkerd_rotator_ca_bundle_valid), none without the webhook, and no serving Secret", () => {
    for (const verb of ['get', 'list', 'watch']) expect(allows(exporter, '*', 'admissionregistration.k8s.io', 'validatingwebhookconfigurations', verb, fullname)).toBe(true);
    expect(allows(exporter, '*', 'admissionregistration.k8s.io', 'validatingwebhookconfigurations', 'get', 'other')).toBe(false);
    expect(allows(exporter, releaseNamespace, '', 'secrets', 'get', `${fullname}-webhook-ca`)).toBe(false);
    const noWebhook = render({ webhook: { enabled: false } });
    expect(allows(grantsOf(noWebhook, `${fullname}-exporter`), '*', 'admissionregistration.k8s.io', 'validatingwebhookconfigurations', 'get', fullname)).toBe(false);
    const container = (spec(only(noWebhook, 'Deployment', `${fullname}-exporter`))['template']['spec'] as PodSpec).containers[0]!;
    expect(container.env?.find((e) => e.name === 'WEBHOOK_CONFIGURATION')?.value).toBe('');
  });

  it('writes its rules as plain YAML: no printf-built rule strings, no ternary emitting YAML', () => {
    for (const file of ['rbac-runner.yaml', 'rbac-webhook.yaml', 'rbac-exporter.yaml']) {
      const template = readFileSync(path.join(chartDir, 'templates', file), 'utf8');
      expect(`${file}: ${template}`).not.toMatch(/%q|ternary|"rules"/);
    }
  });

  it('grants dry-run pod creates cluster-wide, in listed namespaces only, or not at all', () => {
    expect(allows(runner, 'shop', '', 'pods', 'create')).toBe(true);
    const listed = grantsOf(render({ rbac: { podDryRun: { mode: 'namespaces', namespaces: ['shop'] } } }), `${fullname}-runner`);
    expect(allows(listed, 'shop', '', 'pods', 'create')).toBe(true);
    expect(allows(listed, 'payments', '', 'pods', 'create')).toBe(false);
    const none = grantsOf(render({ rbac: { podDryRun: { mode: 'none' }, argoRollouts: false } }), `${fullname}-runner`);
    expect(allows(none, 'shop', '', 'pods', 'create')).toBe(false);
    expect(allows(none, 'shop', 'argoproj.io', 'rollouts', 'patch', 'web')).toBe(false);
  });

  it('narrows the runner creates RBAC cannot name with a ValidatingAdmissionPolicy', () => {
    const policy = only(defaults, 'ValidatingAdmissionPolicy', `${fullname}-runner-guard`);
    const s = spec(policy);
    expect(s['failurePolicy']).toBe('Fail');
    expect(s['matchConditions'][0].expression).toBe(`request.userInfo.username == 'system:serviceaccount:${releaseNamespace}:${fullname}-runner'`);
    const expressions = (s['validations'] as { expression: string }[]).map((v) => v.expression).join('\n');
    expect(expressions).toContain('request.dryRun == true');
    expect(expressions).toContain("object.metadata.name in ['linkerd-active-anchor', 'linkerd-previous-anchor']");
    expect(expressions).toContain("object.metadata.name == 'linkerd-rotator-state'");
    expect(spec(only(defaults, 'ValidatingAdmissionPolicyBinding', `${fullname}-runner-guard`))['policyName']).toBe(policy.metadata.name);
    expect(find(render({ rbac: { admissionGuard: { enabled: false } } }), 'ValidatingAdmissionPolicy')).toHaveLength(0);
    // A fleet member's runner (the fleet driver) also creates the prepared Secret; the anchor guard refuses it a key.
    const member = spec(only(render({ fleet: { role: 'member' }, pki: { trustAnchor: { enabled: false } } }), 'ValidatingAdmissionPolicy', `${fullname}-runner-guard`));
    const secrets = (member['validations'] as { expression: string; message: string }[]).find((v) => v.expression.includes("'secrets'"));
    expect(secrets?.expression).toContain("object.metadata.name in ['linkerd-trust-anchor', 'linkerd-active-anchor', 'linkerd-previous-anchor']");
    expect(secrets?.message).toBe('the rotation runner may create only the Secrets cert-manager/linkerd-trust-anchor, cert-manager/linkerd-active-anchor and cert-manager/linkerd-previous-anchor');
    expect(expressions).not.toContain('linkerd-trust-anchor');
  });

  it('uses separate ServiceAccounts for the runner, the webhook and the exporter', () => {
    const accounts = Object.fromEntries(podSpecs(defaults).map(([name, pod]) => [name, pod.serviceAccountName]));
    expect(accounts[`Deployment/${fullname}-webhook`]).toBe(`${fullname}-webhook`);
    expect(accounts[`Deployment/${fullname}-exporter`]).toBe(`${fullname}-exporter`);
    expect(accounts[`CronJob/${fullname}-rotate`]).toBe(`${fullname}-runner`);
    expect(accounts[`Job/${fullname}-bootstrap`]).toBe(`${fullname}-runner`);
  });
});

describe('pods', () => {
  it('are hardened: non-root 65532, read-only root, no capabilities, RuntimeDefault seccomp, resources', () => {
    const pods = podSpecs(defaults);
    expect(pods.map(([n]) => n).sort()).toEqual([`CronJob/${fullname}-rotate`, `Deployment/${fullname}-exporter`, `Deployment/${fullname}-webhook`, `Job/${fullname}-bootstrap`, `Pod/${fullname}-check`]);
    for (const [, pod] of pods) {
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of pod.containers) {
        expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
        expect(c.resources).toMatchObject({ requests: { cpu: expect.any(String), memory: expect.any(String) }, limits: { memory: expect.any(String) } });
        expect(c.envFrom).toEqual([{ configMapRef: { name: `${fullname}-config` } }]);
      }
    }
  });

  it("are never meshed and carry the label by which the runner leaves its own pods out of its gates, whatever podAnnotations and podLabels say (issue 14, item 8)", () => {
    const meshed = { podAnnotations: { 'linkerd.io/inject': 'enabled', 'example.com/note': 'kept' }, podLabels: { 'app.kubernetes.io/part-of': 'something-else', team: 'kept' } };
    const objects = render({ runner: meshed, webhook: meshed, exporter: meshed });
    const metadata = podMetadata(objects);
    expect(metadata.map(([n]) => n).sort()).toEqual([`CronJob/${fullname}-rotate`, `Deployment/${fullname}-exporter`, `Deployment/${fullname}-webhook`, `Job/${fullname}-bootstrap`, `Pod/${fullname}-check`]);
    for (const [name, meta] of metadata) {
      expect([name, meta.annotations?.['linkerd.io/inject']]).toEqual([name, 'disabled']);
      expect([name, meta.labels?.['app.kubernetes.io/part-of']]).toEqual([name, 'linkerd-rotator']);
    }
    for (const [name, meta] of metadata.filter(([n]) => !n.startsWith('Pod/'))) {
      expect([name, meta.annotations?.['example.com/note'], meta.labels?.['team']]).toEqual([name, 'kept', 'kept']);
    }
    for (const [name, meta] of podMetadata(defaults)) expect([name, meta.annotations?.['linkerd.io/inject']]).toEqual([name, 'disabled']);
  });

  it('run the app images at the chart appVersion unless a tag or digest is given', () => {
    const images = (objects: K8sObject[]) => podSpecs(objects).map(([n, p]) => [n, p.containers[0]!.image]);
    expect(Object.fromEntries(images(defaults))).toMatchObject({
      [`Deployment/${fullname}-webhook`]: 'ghcr.io/linkerd-rotator/webhook:0.1.0',
      [`Deployment/${fullname}-exporter`]: 'ghcr.io/linkerd-rotator/webhook:0.1.0',
      [`CronJob/${fullname}-rotate`]: 'ghcr.io/linkerd-rotator/rotation-runner:0.1.0',
    });
    const digest = `sha256:${'a'.repeat(64)}`;
    const pinned = render({ runner: { image: { tag: '9.9.9' } }, webhook: { image: { digest } } });
    expect(Object.fromEntries(images(pinned))).toMatchObject({
      [`Deployment/${fullname}-webhook`]: `ghcr.io/linkerd-rotator/webhook@${digest}`,
      [`Deployment/${fullname}-exporter`]: `ghcr.io/linkerd-rotator/webhook@${digest}`,
      [`Job/${fullname}-bootstrap`]: 'ghcr.io/linkerd-rotator/rotation-runner:9.9.9',
    });
    const own = render({ webhook: { image: { digest, pullPolicy: 'Always' } }, exporter: { image: { repository: 'registry.example/exporter', tag: '1.2.3' } } });
    const exporterContainer = podSpecs(own).find(([n]) => n === `Deployment/${fullname}-exporter`)![1].containers[0]!;
    expect(exporterContainer.image).toBe('registry.example/exporter:1.2.3');
    expect(exporterContainer.imagePullPolicy).toBe('Always');
  });

  it('read every namespace and object name from one ConfigMap', () => {
    const config = only(defaults, 'ConfigMap', `${fullname}-config`)['data'];
    expect(config).toEqual({
      TRUST_NAMESPACE: 'cert-manager',
      LINKERD_NAMESPACE: 'linkerd',
      STATE_NAMESPACE: releaseNamespace,
      TRUST_ROOT_ISSUER: 'linkerd-trust-root-issuer',
      IDENTITY_CLUSTER_ISSUER: 'linkerd-identity-issuer',
      PREPARED_ANCHOR_SECRET: 'linkerd-trust-anchor',
      PREPARED_ANCHOR_CERTIFICATE: 'linkerd-trust-anchor',
      ACTIVE_ANCHOR_SECRET: 'linkerd-active-anchor',
      PREVIOUS_ANCHOR_SECRET: 'linkerd-previous-anchor',
      PUBLIC_PKI_CONFIGMAP: 'linkerd-rotator-public-pki',
      ISSUER_SECRET: 'linkerd-identity-issuer',
      ISSUER_CERTIFICATE: 'linkerd-identity-issuer',
      TRUST_ROOTS_CONFIGMAP: 'linkerd-identity-trust-roots',
      STATE_CONFIGMAP: 'linkerd-rotator-state',
      LEASE: 'linkerd-rotator',
    });
  });
});

describe('webhook', () => {
  const config = only(defaults, 'ValidatingWebhookConfiguration');
  const hooks = config['webhooks'] as Spec[];

  it('runs two replicas spread across nodes, with a PDB, serving TLS from the cert-manager Secret', () => {
    const deployment = only(defaults, 'Deployment', `${fullname}-webhook`);
    const pod = spec(deployment)['template']['spec'];
    expect(spec(deployment)['replicas']).toBe(2);
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    expect(pod.containers[0].args).toEqual(['--tls-cert-file', '/tls/tls.crt', '--tls-key-file', '/tls/tls.key', '--port', '8443', '--metrics-port', '9090']);
    expect(pod.volumes).toContainEqual({ name: 'tls', secret: { secretName: `${fullname}-webhook-tls` } });
    expect(spec(only(defaults, 'PodDisruptionBudget'))['minAvailable']).toBe(1);
    expect(spec(only(defaults, 'Certificate', `${fullname}-webhook`))['secretName']).toBe(`${fullname}-webhook-tls`);
  });

  it('is scoped by namespace, name and operation, failing closed only there', () => {
    // The Bundle that owns the ConfigMaps and namespaces leaving its target: test/webhook-bypasses.spec.ts.
    expect(hooks.map((h) => h['name'])).toEqual(['trust-roots.linkerd-rotator.io', 'identity-issuer.linkerd-rotator.io', 'trust-bundle.linkerd-rotator.io', 'target-namespace.linkerd-rotator.io']);
    const [roots, issuer] = hooks as [Spec, Spec];
    expect(roots['namespaceSelector']).toEqual({ matchLabels: { 'linkerd.io/is-control-plane': 'true' } });
    expect(roots['rules']).toEqual([{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['configmaps'], scope: 'Namespaced' }]);
    // Or oldObject's name when a collection delete leaves request.name empty (test/webhook-bypasses.spec.ts).
    expect(roots['matchConditions'][0].expression).toMatch(/^\(has\(request\.name\) && .* == 'linkerd-identity-trust-roots'$/);
    expect(issuer['namespaceSelector']).toEqual({ matchLabels: { 'kubernetes.io/metadata.name': 'linkerd' } });
    expect(issuer['rules'][0].resources).toEqual(['secrets']);
    expect(issuer['rules'][0].operations).toEqual(['CREATE', 'UPDATE']);
    expect(issuer['matchConditions'][0].expression).toBe("request.name == 'linkerd-identity-issuer'");
    for (const h of hooks) {
      expect(h).toMatchObject({ failurePolicy: 'Fail', sideEffects: 'None', timeoutSeconds: 5, admissionReviewVersions: ['v1'] });
      expect(h['clientConfig']).toEqual({ service: { name: `${fullname}-webhook`, namespace: releaseNamespace, path: '/validate', port: 443 } });
    }
  });

  it('gets its CA injected by cert-manager, or takes an explicit URL and caBundle', () => {
    expect(config.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe(`${releaseNamespace}/${fullname}-webhook`);
    const byUrl = only(render({ webhook: { clientConfig: { mode: 'url', url: 'https://127.0.0.1:9443/validate' }, caBundle: 'Q0E=', timeoutSeconds: 10 } }), 'ValidatingWebhookConfiguration');
    expect(byUrl.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBeUndefined();
    for (const h of byUrl['webhooks'] as Spec[]) {
      expect(h['clientConfig']).toEqual({ url: 'https://127.0.0.1:9443/validate', caBundle: 'Q0E=' });
      expect(h['timeoutSeconds']).toBe(10);
    }
  });

  it('issues the serving certificate from a long-lived CA (selfSigned Issuer -> CA Certificate -> CA Issuer -> leaf), so leaf renewals leave the injected caBundle alone', () => {
    const issuers = Object.fromEntries(find(defaults, 'Issuer').filter((o) => o.metadata.namespace === releaseNamespace).map((o) => [o.metadata.name, spec(o)]));
    expect(issuers).toEqual({
      [`${fullname}-webhook-selfsigned`]: { selfSigned: {} },
      [`${fullname}-webhook-ca`]: { ca: { secretName: `${fullname}-webhook-ca` } },
    });
    const ca = spec(only(defaults, 'Certificate', `${fullname}-webhook-ca`));
    expect(ca).toMatchObject({
      isCA: true,
      secretName: `${fullname}-webhook-ca`,
      duration: '43800h',
      renewBefore: '8760h',
      // The key survives CA renewals: leaves signed before a renewal still verify against the renewed CA.
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Never' },
      issuerRef: { name: `${fullname}-webhook-selfsigned`, kind: 'Issuer', group: 'cert-manager.io' },
    });
    const leaf = spec(only(defaults, 'Certificate', `${fullname}-webhook`));
    expect(leaf).toMatchObject({ duration: '2160h', renewBefore: '720h', usages: ['server auth'], privateKey: { rotationPolicy: 'Always' } });
    expect(leaf['isCA']).toBeUndefined();
    expect(leaf['issuerRef']).toEqual({ name: `${fullname}-webhook-ca`, kind: 'Issuer', group: 'cert-manager.io' });
    // cainjector copies the leaf Secret's ca.crt, which the CA Issuer fills with the CA.
    expect(config.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe(`${releaseNamespace}/${fullname}-webhook`);

    const custom = render({ webhook: { servingCertificate: { ca: { duration: '17520h', renewBefore: '4380h', rotationPolicy: 'Always' } } } });
    expect(spec(only(custom, 'Certificate', `${fullname}-webhook-ca`))).toMatchObject({ duration: '17520h', renewBefore: '4380h', privateKey: { rotationPolicy: 'Always' } });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a CA renewBefore not shorter than its duration', { ca: { duration: '8760h', renewBefore: '8760h' } }, 'webhook.servingCertificate.ca.renewBefore (8760h) must be shorter than webhook.servingCertificate.ca.duration (8760h)'],
    ['a leaf that outlives its CA', { duration: '9000h', renewBefore: '720h', ca: { duration: '8760h', renewBefore: '720h' } }, 'webhook.servingCertificate.duration (9000h) must be shorter than webhook.servingCertificate.ca.renewBefore (720h)'],
  ])('refuses %s at render time', (_what, servingCertificate, message) => {
    expect(renderError({ webhook: { servingCertificate } })).toContain(message);
  });

  it('lets namespace deletion and garbage collection through', () => {
    expect(hooks[0]!['matchConditions'][1].expression).toContain("'system:serviceaccount:kube-system:namespace-controller'");
  });

  it('renders nothing of the webhook when turned off', () => {
    const objects = render({ webhook: { enabled: false } });
    expect(objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'webhook')).toEqual([]);
    expect(find(objects, 'Service').map((o) => o.metadata.name)).toEqual([`${fullname}-metrics`]);
    expect(find(objects, 'Deployment').map((o) => o.metadata.name)).toEqual([`${fullname}-exporter`]);
  });
});

describe('exporter', () => {
  const deployment = only(defaults, 'Deployment', `${fullname}-exporter`);
  const pod = spec(deployment)['template']['spec'] as PodSpec & { volumes: { name: string }[] };
  const container = pod.containers[0]!;
  const env = (c: Container) => Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));

  it("runs dist/exporter.js of the webhook image, one replica, configured by env as its flags' names (fleet.clusterName: CLUSTER_NAME, the cluster label)", () => {
    expect(spec(deployment)['replicas']).toBe(1);
    expect(container.command).toEqual(['/nodejs/bin/node', '--enable-source-maps', '--max-semi-space-size=2', '--optimize-for-size', 'dist/exporter.js']);
    expect(container.args).toBeUndefined();
    expect(env(container)).toEqual({ LOG_LEVEL: 'info', METRICS_PORT: '9090', EXPORTER_WATCH_PODS: 'true', MESHED_POD_SELECTOR: 'linkerd.io/control-plane-ns', CLUSTER_NAME: '', WEBHOOK_CONFIGURATION: fullname });
    const changed = only(render({ exporter: { watchPods: false, meshedPodSelector: '', metricsPort: 9102, logLevel: 'debug' }, fleet: { clusterName: 'east-1' } }), 'Deployment', `${fullname}-exporter`);
    const changedContainer = (spec(changed)['template']['spec'] as PodSpec).containers[0]!;
    expect(env(changedContainer)).toEqual({ LOG_LEVEL: 'debug', METRICS_PORT: '9102', EXPORTER_WATCH_PODS: 'false', MESHED_POD_SELECTOR: '', CLUSTER_NAME: 'east-1', WEBHOOK_CONFIGURATION: fullname });
    expect(changedContainer).toMatchObject({ ports: [{ name: 'metrics', containerPort: 9102 }] });
  });

  it('needs no TLS files: no Secret volume, probes on its metrics port', () => {
    expect(pod.volumes.map((v) => v.name)).toEqual(['tmp']);
    expect(container).toMatchObject({ livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' } }, readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' } } });
  });

  it('renders nothing of the exporter when turned off (with the webhook, which needs it): no Deployment, RBAC, guard or metrics Service', () => {
    const objects = render({ exporter: { enabled: false }, webhook: { enabled: false } });
    expect(objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'exporter')).toEqual([]);
    expect(find(objects, 'Service')).toEqual([]);
  });
});

/** The CronJob's strategy arguments with the chart's defaults. */
const CROSS_SIGNED_DEFAULTS = ['--strategy', 'cross-signed', '--cross-sign-margin', '168h', '--leaf-lifetime', '24h'];

describe('runner workloads', () => {
  it('run rotate from a CronJob that never overlaps and has deadlines', () => {
    const cron = spec(only(defaults, 'CronJob'));
    expect(cron).toMatchObject({ schedule: '17 */4 * * *', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 3600, suspend: false });
    expect(cron['jobTemplate']['spec']).toMatchObject({ backoffLimit: 2, activeDeadlineSeconds: 21600 });
    const pod = cron['jobTemplate']['spec']['template']['spec'];
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.containers[0].args).toEqual(['rotate', '--only-if-older-than', '720h', '--max-concurrent-rollouts', '2', '--restart-concurrency', '10', '--phase-timeout', '30m', ...CROSS_SIGNED_DEFAULTS]);
  });

  it('passes the strategy and its settings through', () => {
    const args = (values: Record<string, unknown>) => spec(only(render({ runner: { rotation: values } }), 'CronJob'))['jobTemplate']['spec']['template']['spec'].containers[0].args;
    expect(args({ strategy: 'restart' })).toEqual(expect.arrayContaining(['--strategy', 'restart']));
    expect(args({ rollAfterPromote: true, crossSignMargin: '336h', leafLifetime: '2h' }).slice(9)).toEqual(['--strategy', 'cross-signed', '--cross-sign-margin', '336h', '--leaf-lifetime', '2h', '--roll-after-promote']);
  });

  it('recovers an expiry incident from the CronJob only with recover.auto (issue 15)', () => {
    const args = (values: Record<string, unknown>) => spec(only(render(values), 'CronJob'))['jobTemplate']['spec']['template']['spec'].containers[0].args as string[];
    expect(args({}).filter((a) => a.startsWith('--recover'))).toEqual([]);
    expect(args({ recover: { auto: true } }).slice(15)).toEqual(['--recover-auto', '--recover-concurrency', '50', '--recover-leaf-grace', '2m']);
    expect(args({ recover: { auto: true, concurrency: 200, leafGrace: '5m' } }).slice(15)).toEqual(['--recover-auto', '--recover-concurrency', '200', '--recover-leaf-grace', '5m']);
  });

  it('passes gentle mode, limits and the schedule through', () => {
    const cron = spec(only(render({ runner: { rotation: { gentle: true, maxConcurrentRollouts: 5, restartConcurrency: 3, schedule: '0 * * * *', timeZone: 'Etc/UTC', onlyIfOlderThan: '1440h' } } }), 'CronJob'));
    expect(cron['schedule']).toBe('0 * * * *');
    expect(cron['timeZone']).toBe('Etc/UTC');
    expect(cron['jobTemplate']['spec']['template']['spec'].containers[0].args).toEqual(['rotate', '--only-if-older-than', '1440h', '--max-concurrent-rollouts', '5', '--restart-concurrency', '3', '--phase-timeout', '30m', ...CROSS_SIGNED_DEFAULTS, '--gentle']);
  });

  it('bootstraps from a post-install/post-upgrade hook that is recreated and cleaned up', () => {
    const job = only(defaults, 'Job');
    expect(job.metadata.annotations).toMatchObject({
      'helm.sh/hook': 'post-install,post-upgrade',
      'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded',
    });
    expect(spec(job)['template']['spec'].containers[0].args).toEqual(['bootstrap']);
    expect(only(defaults, 'Pod').metadata.annotations?.['helm.sh/hook']).toBe('test');
    expect(find(render({ runner: { bootstrap: { enabled: false }, rotation: { enabled: false } } }), 'CronJob')).toHaveLength(0);
  });

  it("runs the helm test's check with the CronJob's expiry margin and leaf lifetime, so it escalates when the scheduled run starts a rotation, not at the defaults' margin (issue 15)", () => {
    const checkArgs = (rotation: Record<string, unknown>) => spec(only(render({ runner: { rotation } }), 'Pod'))['containers'][0].args as string[];
    const marginOf = (options: Parameters<typeof resolveOptions>[0]) => `${expiryMarginOf(resolveOptions(options)) / 1000}s`;
    expect(checkArgs({})).toEqual(['check', '--leaf-lifetime', '24h', '--expiry-margin', marginOf({})]);
    expect(checkArgs({ phaseTimeout: '3m', leafLifetime: '1m' })).toEqual(['check', '--leaf-lifetime', '1m', '--expiry-margin', marginOf({ phaseTimeoutMs: 180_000, leafLifetimeMs: 60_000 })]);
    expect(checkArgs({ expiryMargin: '240h', rollAfterPromote: true })).toEqual(['check', '--leaf-lifetime', '24h', '--expiry-margin', marginOf({ expiryMarginMs: 240 * 3_600_000 }), '--roll-after-promote']);
  });
});

describe('PKI', () => {
  it('renders the prepared anchor as a one-year ECDSA P-256 CA renewed monthly with new keys', () => {
    const anchor = only(defaults, 'Certificate', 'linkerd-trust-anchor');
    expect(anchor.metadata.namespace).toBe('cert-manager');
    expect(spec(anchor)).toMatchObject({
      isCA: true,
      secretName: 'linkerd-trust-anchor',
      duration: '8760h',
      renewBefore: '8030h',
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      issuerRef: { name: 'linkerd-trust-root-issuer', kind: 'Issuer' },
    });
    expect(spec(only(defaults, 'Issuer', 'linkerd-trust-root-issuer'))).toEqual({ selfSigned: {} });
  });

  it('signs the identity issuer from the active anchor only', () => {
    expect(spec(only(defaults, 'ClusterIssuer'))).toEqual({ ca: { secretName: 'linkerd-active-anchor' } });
    const issuer = only(defaults, 'Certificate', 'linkerd-identity-issuer');
    expect(issuer.metadata.namespace).toBe('linkerd');
    expect(spec(issuer)).toMatchObject({ isCA: true, duration: '48h', renewBefore: '25h', privateKey: { algorithm: 'ECDSA', size: 256 }, issuerRef: { name: 'linkerd-identity-issuer', kind: 'ClusterIssuer' } });
    // The runner reads the issuer's chain from the request of the current revision: kept through a renewal.
    expect(spec(issuer)['revisionHistoryLimit']).toBe(2);
  });

  // The active Secret's tls.crt is what the identity issuer is signed with (the cross-signature X
  // during a cross-signed rotation); the bundle reads its anchor.crt (ANCHOR_CERT_KEY).
  const SOURCES = [
    { name: 'linkerd-trust-anchor', key: 'tls.crt' },
    { name: 'linkerd-active-anchor', key: ANCHOR_CERT_KEY },
    { name: 'linkerd-previous-anchor', key: 'tls.crt' },
  ];

  it('publishes prepared, active and previous through a Bundle or a ClusterBundle', () => {
    const bundle = only(defaults, 'Bundle');
    expect(bundle.apiVersion).toBe('trust.cert-manager.io/v1alpha1');
    expect(spec(bundle)['sources'].map((s: Spec) => s['secret'])).toEqual(SOURCES);
    expect(spec(bundle)['target']).toEqual({ configMap: { key: 'ca-bundle.crt' }, namespaceSelector: { matchLabels: { 'linkerd.io/is-control-plane': 'true' } } });
    expect(bundle.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');

    const objects = render({ pki: { bundle: { kind: 'ClusterBundle' } } });
    expect(find(objects, 'Bundle')).toHaveLength(0);
    const cluster = only(objects, 'ClusterBundle');
    expect(cluster.apiVersion).toBe('trust-manager.io/v1alpha2');
    expect(spec(cluster)['sourceRefs']).toEqual(SOURCES.map((source) => ({ kind: 'Secret', ...source })));
    expect(spec(cluster)['target']['configMap']).toEqual({ data: [{ key: 'ca-bundle.crt' }] });
    const runner = grantsOf(objects, `${fullname}-runner`);
    expect(allows(runner, '', 'trust-manager.io', 'clusterbundles', 'get', 'linkerd-identity-trust-roots')).toBe(true);
    expect(allows(runner, '', 'trust.cert-manager.io', 'bundles', 'get', 'linkerd-identity-trust-roots')).toBe(false);
  });

  it.each([
    ['rootIssuer', 'Issuer', 'linkerd-trust-root-issuer'],
    ['trustAnchor', 'Certificate', 'linkerd-trust-anchor'],
    ['identityIssuer', 'ClusterIssuer', 'linkerd-identity-issuer'],
    ['issuerCertificate', 'Certificate', 'linkerd-identity-issuer'],
    ['bundle', 'Bundle', 'linkerd-identity-trust-roots'],
  ])('can turn off pki.%s for adoption, leaving the other pieces', (piece, kind, name) => {
    const objects = render({ pki: { [piece]: { enabled: false } } });
    expect(find(objects, kind, name)).toHaveLength(0);
    expect(find(objects, 'CronJob')).toHaveLength(1);
    const pkiCount = (os: K8sObject[]) => os.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'pki').length;
    expect(pkiCount(objects)).toBe(pkiCount(defaults) - 1);
  });

  it('follows renamed objects and namespaces everywhere', () => {
    const objects = render({ namespaces: { trust: 'trust', linkerd: 'mesh' }, names: { activeAnchorSecret: 'anchor-now', issuerSecret: 'issuer-now' } });
    expect(spec(only(objects, 'ClusterIssuer'))['ca']['secretName']).toBe('anchor-now');
    expect(only(objects, 'Certificate', 'linkerd-trust-anchor').metadata.namespace).toBe('trust');
    expect(spec(only(objects, 'Certificate', 'linkerd-identity-issuer'))['secretName']).toBe('issuer-now');
    const runner = grantsOf(objects, `${fullname}-runner`);
    expect(allows(runner, 'trust', '', 'secrets', 'update', 'anchor-now')).toBe(true);
    expect(allows(runner, 'mesh', 'cert-manager.io', 'certificaterequests', 'list')).toBe(true);
    expect(allows(runner, 'mesh', 'cert-manager.io', 'certificates/status', 'update', 'linkerd-identity-issuer')).toBe(true);
    expect(allows(runner, 'mesh', '', 'secrets', 'get', 'issuer-now')).toBe(false);
    const hooks = only(objects, 'ValidatingWebhookConfiguration')['webhooks'] as Spec[];
    expect(hooks[1]!['namespaceSelector']['matchLabels']['kubernetes.io/metadata.name']).toBe('mesh');
  });

  it('creates the Linkerd namespace with its labels only when asked, and keeps it on uninstall', () => {
    expect(find(defaults, 'Namespace')).toHaveLength(0);
    const ns = only(render({ linkerdNamespace: { create: true } }), 'Namespace');
    expect(ns.metadata.name).toBe('linkerd');
    expect(ns.metadata.labels).toMatchObject({ 'linkerd.io/is-control-plane': 'true', 'config.linkerd.io/admission-webhooks': 'disabled' });
    expect(ns.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
  });
});

describe('monitoring, network policy and ArgoCD', () => {
  it("ships only the metrics Services by default (the exporter's and the webhook's), and the ServiceMonitor, rules and dashboard on request", () => {
    const selected = (name: string) => spec(only(defaults, 'Service', name))['selector']['app.kubernetes.io/component'];
    expect(selected(`${fullname}-metrics`)).toBe('exporter');
    expect(selected(`${fullname}-webhook-metrics`)).toBe('webhook');
    expect(find(defaults, 'ServiceMonitor')).toHaveLength(0);
    const objects = render({ monitoring: { serviceMonitor: { enabled: true, labels: { release: 'prom' } }, prometheusRule: { enabled: true }, dashboard: { enabled: true } } });
    const monitor = only(objects, 'ServiceMonitor');
    expect(monitor.metadata.labels?.['release']).toBe('prom');
    const selector = spec(monitor)['selector']['matchLabels'] as Record<string, string>;
    expect(selector).toEqual({ 'app.kubernetes.io/name': 'linkerd-rotator', 'app.kubernetes.io/instance': 'rot', 'app.kubernetes.io/component': 'metrics' });
    expect(only(objects, 'Service', `${fullname}-metrics`).metadata.labels).toMatchObject(selector);
    expect(only(objects, 'Service', `${fullname}-webhook-metrics`).metadata.labels).toMatchObject(selector);
    // Without a jobLabel prometheus-operator names each target's job after its Service: the exporter's
    // Service name is then the job the exporter-absent alert looks for.
    expect(spec(monitor)['jobLabel']).toBeUndefined();
    const rule = spec(only(objects, 'PrometheusRule'))['groups'][0]['rules'][0];
    expect(rule.alert).toBe('LinkerdRotatorExporterAbsent');
    expect(rule.expr).toBe(`absent(up{job="${fullname}-metrics", namespace="${releaseNamespace}"} == 1)`);
    for (const r of spec(only(objects, 'PrometheusRule'))['groups'].flatMap((g: Spec) => g['rules'])) {
      expect(r.annotations.runbook_url).toBe(`https://github.com/linkerd-rotator/linkerd-rotator/blob/main/docs/runbooks/${r.alert}.md`);
      expect(existsSync(path.join(repoRoot, 'docs/runbooks', `${r.alert}.md`))).toBe(true);
    }
    const dashboard = only(objects, 'ConfigMap', `${fullname}-dashboard`);
    expect(dashboard.metadata.labels?.['grafana_dashboard']).toBe('1');
    expect(JSON.parse((dashboard['data'] as Record<string, string>)['linkerd-rotator.json']!).uid).toBe('linkerd-rotator');
  });

  it('renders NetworkPolicies only when enabled: runner pods take no traffic, exporter pods only scrapes', () => {
    expect(find(defaults, 'NetworkPolicy')).toHaveLength(0);
    const metricsFrom = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
    const policies = find(render({ networkPolicy: { enabled: true, metricsFrom } }), 'NetworkPolicy');
    expect(policies.map((p) => p.metadata.name).sort()).toEqual([`${fullname}-exporter`, `${fullname}-runner`, `${fullname}-webhook`]);
    const policy = (app: string) => spec(policies.find((p) => p.metadata.name === `${fullname}-${app}`)!);
    expect(policy('runner')).toMatchObject({ policyTypes: ['Ingress'], ingress: [] });
    expect(policy('exporter')['podSelector']['matchLabels']['app.kubernetes.io/component']).toBe('exporter');
    expect(policy('exporter')['ingress']).toEqual([{ ports: [{ port: 'metrics', protocol: 'TCP' }], from: metricsFrom }]);
    expect(policy('webhook')['ingress']).toEqual([{ ports: [{ port: 'https', protocol: 'TCP' }] }, { ports: [{ port: 'metrics', protocol: 'TCP' }], from: metricsFrom }]);
  });

  it('orders an ArgoCD sync in waves and lets custom resources skip the dry run while CRDs arrive', () => {
    const wave = (o: K8sObject) => o.metadata.annotations?.['argocd.argoproj.io/sync-wave'];
    expect(wave(only(defaults, 'ServiceAccount', `${fullname}-runner`))).toBe('-1');
    expect(wave(only(defaults, 'Certificate', 'linkerd-trust-anchor'))).toBe('0');
    expect(wave(only(defaults, 'Deployment', `${fullname}-webhook`))).toBe('1');
    expect(wave(only(defaults, 'Deployment', `${fullname}-exporter`))).toBe('1');
    expect(only(defaults, 'Bundle').metadata.annotations?.['argocd.argoproj.io/sync-options']).toBe('Delete=false,SkipDryRunOnMissingResource=true');
    const off = render({ argocd: { syncWaves: false } });
    expect(off.filter((o) => Object.keys(o.metadata.annotations ?? {}).some((k) => k === 'argocd.argoproj.io/sync-wave'))).toEqual([]);
  });

  it('labels every object with the app.kubernetes.io set and commonLabels', () => {
    for (const o of render({ commonLabels: { team: 'platform' } })) {
      expect(o.metadata.labels).toMatchObject({ 'app.kubernetes.io/name': 'linkerd-rotator', 'app.kubernetes.io/instance': 'rot', 'app.kubernetes.io/managed-by': 'Helm', team: 'platform' });
    }
  });
});
