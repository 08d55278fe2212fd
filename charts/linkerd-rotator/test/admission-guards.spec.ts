// The admission guards of issue 14 as `helm template` renders them: the anchor Secrets guard (item 4:
// only the runner writes linkerd-active-anchor and linkerd-previous-anchor) and the workload guard
// (item 7: the runner's workload patches change only the restart marker). What the API server does
// with them is shown on the local cluster (e2e/integration/chart.spec.ts, RBAC).
import { RESTARTED_AT_ANNOTATION } from '@linkerd-rotator/kube';
import { ANCHOR_CERT_KEY } from '@linkerd-rotator/names';
import { find, only, releaseNamespace, render, type K8sObject } from './support/render.js';

interface ResourceRule {
  apiGroups: string[];
  apiVersions: string[];
  operations: string[];
  resources: string[];
}
interface Expression {
  name?: string;
  expression: string;
  message?: string;
  messageExpression?: string;
  reason?: string;
}
interface PolicySpec {
  failurePolicy: string;
  matchConstraints: { resourceRules: ResourceRule[]; namespaceSelector?: { matchLabels: Record<string, string> } };
  matchConditions: Expression[];
  variables?: Expression[];
  validations: Expression[];
}

const fullname = 'rot-linkerd-rotator';
const runnerUser = `system:serviceaccount:${releaseNamespace}:${fullname}-runner`;
const anchorGuard = `${fullname}-anchor-guard`;
const workloadGuard = `${fullname}-workload-guard`;
const defaults = render();

const policy = (objects: K8sObject[], name: string) => only(objects, 'ValidatingAdmissionPolicy', name)['spec'] as PolicySpec;
const condition = (p: PolicySpec, name: string) => {
  const found = p.matchConditions.find((c) => c.name === name);
  if (!found) throw new Error(`expected a matchCondition named ${name}, found ${p.matchConditions.map((c) => c.name).join(', ')}`);
  return found.expression;
};
const variable = (p: PolicySpec, name: string) => {
  const found = (p.variables ?? []).find((v) => v.name === name);
  if (!found) throw new Error(`expected a variable named ${name}, found ${(p.variables ?? []).map((v) => v.name).join(', ')}`);
  return found.expression;
};

describe('admission guards', () => {
  it('renders the four guards with a Deny binding each, failing closed', () => {
    const policies = find(defaults, 'ValidatingAdmissionPolicy').map((o) => o.metadata.name).sort();
    expect(policies).toEqual([anchorGuard, `${fullname}-exporter-guard`, `${fullname}-runner-guard`, workloadGuard]);
    for (const name of policies) {
      expect(policy(defaults, name).failurePolicy).toBe('Fail');
      expect(only(defaults, 'ValidatingAdmissionPolicyBinding', name)['spec']).toEqual({ policyName: name, validationActions: ['Deny'] });
    }
  });

  it('renders none of them with rbac.admissionGuard.enabled false', () => {
    const off = render({ rbac: { admissionGuard: { enabled: false } } });
    expect(find(off, 'ValidatingAdmissionPolicy')).toEqual([]);
    expect(find(off, 'ValidatingAdmissionPolicyBinding')).toEqual([]);
  });
});

describe('the exporter guard (issue 14, item 6)', () => {
  const exporterGuard = `${fullname}-exporter-guard`;

  it("lets the exporter's ServiceAccount create only the public PKI view ConfigMap, which RBAC cannot narrow for create", () => {
    const p = policy(defaults, exporterGuard);
    expect(p.matchConstraints.resourceRules).toEqual([{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }]);
    expect(condition(p, 'exporter-service-account')).toBe(`request.userInfo.username == 'system:serviceaccount:${releaseNamespace}:${fullname}-exporter'`);
    expect(p.validations).toEqual([
      {
        expression: `request.namespace == '${releaseNamespace}' && object.metadata.name == 'linkerd-rotator-public-pki'`,
        message: `the exporter may create only the ConfigMap ${releaseNamespace}/linkerd-rotator-public-pki (the public PKI view)`,
        reason: 'Forbidden',
      },
    ]);
  });

  it('follows a renamed view, and is not rendered without the exporter', () => {
    expect(policy(render({ names: { publicPkiConfigMap: 'pki-view' } }), exporterGuard).validations[0]?.expression).toContain("'pki-view'");
    expect(find(render({ exporter: { enabled: false }, webhook: { enabled: false } }), 'ValidatingAdmissionPolicy').map((o) => o.metadata.name)).not.toContain(exporterGuard);
  });
});

describe('the anchor Secrets guard (issue 14, item 4)', () => {
  const p = policy(defaults, anchorGuard);

  it('matches every write of the active and previous anchor Secrets in the trust namespace, by the name in the object', () => {
    expect(p.matchConstraints.namespaceSelector).toEqual({ matchLabels: { 'kubernetes.io/metadata.name': 'cert-manager' } });
    expect(p.matchConstraints.resourceRules).toEqual([{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['secrets'] }]);
    // deletecollection reaches admission with an empty request.name: the name comes from oldObject on DELETE.
    expect(condition(p, 'anchor-secret')).toBe(
      "(request.operation == 'DELETE' ? oldObject.metadata.name : object.metadata.name) in ['linkerd-active-anchor', 'linkerd-previous-anchor']",
    );
    expect(condition(p, 'anchor-secret')).not.toContain('request.name');
  });

  it('lets the namespace controller and the garbage collector delete them, and nothing else', () => {
    const controllers = condition(p, 'not-namespace-or-garbage-collection');
    expect(controllers).toMatch(/^request\.operation != 'DELETE' \|\| !\(request\.userInfo\.username in \[/);
    for (const user of ['system:serviceaccount:kube-system:namespace-controller', 'system:serviceaccount:kube-system:generic-garbage-collector', 'system:kube-controller-manager']) {
      expect(controllers).toContain(`'${user}'`);
    }
  });

  it("allows only the runner's ServiceAccount, with a message that names the Secret and says to use the runner", () => {
    expect(p.validations).toHaveLength(1);
    const [v] = p.validations;
    expect(v!.expression).toBe(`request.userInfo.username == '${runnerUser}'`);
    expect(v!.reason).toBe('Forbidden');
    expect(v!.messageExpression).toContain("'Secret cert-manager/' + (request.operation == 'DELETE' ? oldObject.metadata.name : object.metadata.name)");
    expect(v!.messageExpression).toContain(`written only by the rotation runner (${runnerUser})`);
    expect(v!.messageExpression).toContain(`rotate (kubectl -n ${releaseNamespace} create job --from=cronjob/${fullname}-rotate rotate-now)`);
    expect(v!.messageExpression).toContain('bootstrap (helm upgrade runs it)');
  });

  it('follows renamed anchors, the trust namespace and a disabled CronJob', () => {
    const renamed = policy(
      render({
        namespaces: { trust: 'pki' },
        names: { activeAnchorSecret: 'mesh-active', previousAnchorSecret: 'mesh-previous' },
        runner: { rotation: { enabled: false }, bootstrap: { enabled: false } },
      }),
      anchorGuard,
    );
    expect(renamed.matchConstraints.namespaceSelector).toEqual({ matchLabels: { 'kubernetes.io/metadata.name': 'pki' } });
    expect(condition(renamed, 'anchor-secret')).toContain("in ['mesh-active', 'mesh-previous']");
    expect(renamed.validations[0]!.messageExpression).toContain("'Secret pki/'");
    expect(renamed.validations[0]!.messageExpression).not.toContain('create job');
    expect(renamed.validations[0]!.messageExpression).toContain('Run the runner instead: rotate or, when the Secret is missing, bootstrap.');
  });
});

describe('the anchor Secrets guard in a fleet member (issue 17)', () => {
  const member = { fleet: { role: 'member' }, pki: { trustAnchor: { enabled: false } } };
  const p = policy(render(member), anchorGuard);
  const keyless = p.validations[1];

  it('guards the prepared Secret too: the fleet driver writes it there as the runner, nobody else', () => {
    expect(condition(p, 'anchor-secret')).toBe(
      "(request.operation == 'DELETE' ? oldObject.metadata.name : object.metadata.name) in ['linkerd-trust-anchor', 'linkerd-active-anchor', 'linkerd-previous-anchor']",
    );
    expect(p.validations[0]!.expression).toBe(`request.userInfo.username == '${runnerUser}'`);
    // With any role the runner does not rotate on a schedule: the message sends to the fleet driver, and a member gets its Secret by copy.
    expect(p.validations[0]!.messageExpression).toContain('Run the runner instead: the fleet driver (rotator fleet run --primary <context> --member <context>...)');
    expect(p.validations[0]!.messageExpression).toContain('when the Secret is missing, a copy of the fleet anchor Secret written as the runner');
    expect(p.validations[0]!.messageExpression).not.toContain('create job');
    expect(policy(render({ fleet: { role: 'primary' } }), anchorGuard).validations[0]!.messageExpression).toContain('the fleet driver (rotator fleet run');
  });

  it('admits a write of the prepared Secret only with no private key: tls.crt and anchor.crt, and tls.key absent or empty', () => {
    expect(p.validations).toHaveLength(2);
    // anchor.crt is the key the runner writes (ANCHOR_CERT_KEY); an empty tls.key is what it leaves in a kubernetes.io/tls Secret.
    expect(keyless!.expression).toBe(
      `request.operation == 'DELETE' || object.metadata.name != 'linkerd-trust-anchor' || !has(object.data) || object.data.all(k, k in ['tls.crt', '${ANCHOR_CERT_KEY}'] || (k == 'tls.key' && size(object.data[k]) == 0))`,
    );
    expect(keyless!.reason).toBe('Forbidden');
    expect(keyless!.message).toContain('Secret cert-manager/linkerd-trust-anchor of a fleet member holds the fleet\'s prepared anchor as its certificate only');
    expect(keyless!.message).toContain('the key stays in the primary');
  });

  it('follows a renamed prepared Secret and trust namespace', () => {
    const renamed = policy(render({ ...member, namespaces: { trust: 'pki' }, names: { preparedAnchorSecret: 'mesh-prepared' } }), anchorGuard);
    expect(condition(renamed, 'anchor-secret')).toContain("in ['mesh-prepared', 'linkerd-active-anchor', 'linkerd-previous-anchor']");
    expect(renamed.validations[1]!.expression).toContain("object.metadata.name != 'mesh-prepared'");
    expect(renamed.validations[1]!.message).toContain('Secret pki/mesh-prepared');
  });

  it('leaves the prepared Secret unguarded outside a member, where cert-manager writes it', () => {
    for (const values of [{}, { fleet: { role: 'primary' } }]) {
      const other = policy(render(values), anchorGuard);
      expect(condition(other, 'anchor-secret')).not.toContain('linkerd-trust-anchor');
      expect(other.validations).toHaveLength(1);
    }
  });
});

// No CEL evaluator runs here, and the API server rejects a whole policy whose string literal ends early
// (fleet-check.spec caught "the fleet's Secret" in a member's messageExpression): with every
// single-quoted literal taken out, no quote may be left, in every role's render.
describe('CEL string literals in the guards', () => {
  const literals = /'(?:[^'\\]|\\.)*'/g;
  const renders = { defaults, primary: render({ fleet: { role: 'primary' } }), member: render({ fleet: { role: 'member' }, pki: { trustAnchor: { enabled: false } } }) };
  it.each(Object.entries(renders))('every messageExpression and expression closes its literals (%s)', (_, objects) => {
    const cel = objects
      .filter((o) => o.kind === 'ValidatingAdmissionPolicy')
      .flatMap((o) => ((o['spec'] as PolicySpec).validations ?? []).flatMap((v) => [v.expression, v.messageExpression]))
      .filter((e): e is string => typeof e === 'string');
    expect(cel.length).toBeGreaterThan(0);
    expect(cel.filter((e) => e.replace(literals, '').includes("'"))).toEqual([]);
  });
});

describe('the workload guard (issue 14, item 7)', () => {
  const p = policy(defaults, workloadGuard);

  it("matches the runner's updates of the workloads it may patch, and only those", () => {
    expect(condition(p, 'runner-service-account')).toBe(`request.userInfo.username == '${runnerUser}'`);
    expect(p.matchConstraints.resourceRules).toEqual([
      { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['deployments', 'statefulsets', 'daemonsets'] },
      { apiGroups: ['argoproj.io'], apiVersions: ['*'], operations: ['UPDATE'], resources: ['rollouts'] },
    ]);
    // Without the Rollouts grant (rbac.argoRollouts) there is nothing to guard there.
    const noRollouts = policy(render({ rbac: { argoRollouts: false } }), workloadGuard);
    expect(noRollouts.matchConstraints.resourceRules.map((r) => r.resources)).toEqual([['deployments', 'statefulsets', 'daemonsets']]);
  });

  it("exempts exactly the restart marker the runner writes (libs/kube restartPatch): the template's restartedAt annotation, a Rollout's spec.restartAt", () => {
    expect(variable(p, 'restartedAt')).toBe(`'${RESTARTED_AT_ANNOTATION}'`);
    expect(variable(p, 'rollout')).toBe("request.resource.group == 'argoproj.io'");
    const spec = variable(p, 'changedSpec');
    expect(spec).toContain("!(k in [variables.rollout ? 'restartAt' : 'template'])");
    const template = variable(p, 'changedTemplate');
    expect(template).toMatch(/^variables\.rollout \? \[\] : /);
    expect(template).toContain("!(k in ['metadata'])");
    expect(template).toContain("!(k in ['annotations'])");
    expect(template).toContain('!(k in [variables.restartedAt])');
  });

  it('compares the rest of spec, the template, and the labels, annotations, ownerReferences and finalizers, both ways (added and removed keys)', () => {
    const all = ['changedSpec', 'changedTemplate', 'changedMetadata'].map((name) => variable(p, name)).join('\n');
    for (const [object, old] of [
      ['variables.spec', 'variables.oldSpec'],
      ['variables.template', 'variables.oldTemplate'],
      ['variables.templateMetadata', 'variables.oldTemplateMetadata'],
      ['variables.templateAnnotations', 'variables.oldTemplateAnnotations'],
      ['variables.labels', 'variables.oldLabels'],
      ['variables.annotations', 'variables.oldAnnotations'],
    ]) {
      expect(all).toContain(`${object}.filter(k, `);
      expect(all).toContain(`${old}.filter(k, `);
      expect(all).toContain(`${object}[k] != ${old}[k]`);
    }
    expect(all).toContain("object.metadata.?ownerReferences.orValue([]) != oldObject.metadata.?ownerReferences.orValue([])");
    expect(all).toContain("object.metadata.?finalizers.orValue([]) != oldObject.metadata.?finalizers.orValue([])");
    // The API server bumps a DaemonSet's template generation annotation on a template change.
    expect(variable(p, 'serverAnnotations')).toBe("request.resource.resource == 'daemonsets' ? ['deprecated.daemonset.template.generation'] : []");
    expect(variable(p, 'changed')).toBe('variables.changedSpec + variables.changedTemplate + variables.changedMetadata');
  });

  it('denies any other change with a message that names the workload and every changed path', () => {
    expect(p.validations).toHaveLength(1);
    const [v] = p.validations;
    expect(v!.expression).toBe('size(variables.changed) == 0');
    expect(v!.reason).toBe('Forbidden');
    expect(v!.messageExpression).toContain(`change spec.template.metadata.annotations[${RESTARTED_AT_ANNOTATION}], or spec.restartAt of a Rollout`);
    expect(v!.messageExpression).toContain("request.kind.kind + ' ' + request.namespace + '/' + request.name + ' also changes ' + variables.changed.join(', ')");
  });
});
