// The webhook registrations that close the bypasses of the trust roots' DELETE guard (issue 14 item 2)
// as `helm template` renders them: a collection delete (empty request.name) still reaches the webhook,
// and trust-manager's Bundle, which owns every trust-roots ConfigMap, is sent to it. What the API
// server does with them is shown on the local cluster (e2e/scenarios/manual-edits.ts).
import { find, releaseNamespace, render, type K8sObject } from './support/render.js';

type Hook = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const fullname = 'rot-linkerd-rotator';
const hooksOf = (objects: K8sObject[]): Hook[] => {
  const configs = find(objects, 'ValidatingWebhookConfiguration');
  expect(configs.map((c) => c.metadata.name)).toEqual([fullname]);
  return configs[0]!['webhooks'] as Hook[];
};
const hook = (objects: K8sObject[], name: string): Hook => {
  const found = hooksOf(objects).find((h) => h['name'] === name);
  if (!found) throw new Error(`expected a webhook named ${name}, found ${hooksOf(objects).map((h) => h['name']).join(', ')}`);
  return found;
};
/** The name condition: the request's name, or the old object's name when a collection delete leaves it empty. */
// The API server omits request.name then (the key is absent, so only has() may test it: e2e/scenarios/manual-edits.ts).
const named = (name: string) =>
  `(has(request.name) && request.name != '' ? request.name : (oldObject != null && has(oldObject.metadata.name) ? oldObject.metadata.name : '')) == '${name}'`;

describe('webhook registrations against the bypasses of the DELETE guard (issue 14 item 2)', () => {
  const defaults = render();

  it('(b) the trust-roots name condition also matches a collection delete, whose request.name is empty', () => {
    const roots = hook(defaults, 'trust-roots.linkerd-rotator.io');
    expect(roots['matchConditions'][0]).toEqual({ name: 'trust-roots-configmap', expression: named('linkerd-identity-trust-roots') });
    expect(roots['rules'][0].operations).toContain('DELETE');
    // Namespace deletion and garbage collection after it still pass (docs/webhook.md: deliberately allowed).
    expect(roots['matchConditions'][1].expression).toContain("'system:serviceaccount:kube-system:namespace-controller'");
  });

  it("(a) sends UPDATE and DELETE of trust-manager's Bundle and ClusterBundle of the trust-roots name, not their status, failing closed", () => {
    expect(hooksOf(defaults).map((h) => h['name'])).toEqual([
      'trust-roots.linkerd-rotator.io',
      'identity-issuer.linkerd-rotator.io',
      'trust-bundle.linkerd-rotator.io',
      'target-namespace.linkerd-rotator.io',
    ]);
    const bundle = hook(defaults, 'trust-bundle.linkerd-rotator.io');
    expect(bundle['rules']).toEqual([
      { apiGroups: ['trust.cert-manager.io'], apiVersions: ['*'], operations: ['UPDATE', 'DELETE'], resources: ['bundles'], scope: 'Cluster' },
      { apiGroups: ['trust-manager.io'], apiVersions: ['*'], operations: ['UPDATE', 'DELETE'], resources: ['clusterbundles'], scope: 'Cluster' },
    ]);
    expect(bundle['matchConditions']).toEqual([{ name: 'trust-roots-bundle', expression: named('linkerd-identity-trust-roots') }]);
    // Cluster-scoped: no namespaceSelector; no user is exempt (no namespace deletion deletes it).
    expect(bundle['namespaceSelector']).toBeUndefined();
    expect(bundle).toMatchObject({ failurePolicy: 'Fail', sideEffects: 'None', matchPolicy: 'Equivalent', timeoutSeconds: 5, admissionReviewVersions: ['v1'] });
    expect(bundle['clientConfig']).toEqual({ service: { name: `${fullname}-webhook`, namespace: releaseNamespace, path: '/validate', port: 443 } });
  });

  it('follows a renamed trust-roots object, whatever pki.bundle.kind says (an adopted Bundle owns the ConfigMaps too)', () => {
    for (const objects of [render({ names: { trustRootsConfigMap: 'roots' } }), render({ names: { trustRootsConfigMap: 'roots' }, pki: { bundle: { enabled: false } } })]) {
      expect(hook(objects, 'trust-roots.linkerd-rotator.io')['matchConditions'][0].expression).toBe(named('roots'));
      expect(hook(objects, 'trust-bundle.linkerd-rotator.io')['matchConditions'][0].expression).toBe(named('roots'));
    }
    const clusterBundle = render({ pki: { bundle: { kind: 'ClusterBundle' } } });
    expect(hook(clusterBundle, 'trust-bundle.linkerd-rotator.io')['rules'].map((r: Hook) => r['resources'][0])).toEqual(['bundles', 'clusterbundles']);
  });

  it("(c) sends a namespace UPDATE only when it takes the namespace out of the Bundle's target: the selector, in CEL, holds for oldObject and not for object", () => {
    const ns = hook(defaults, 'target-namespace.linkerd-rotator.io');
    expect(ns['rules']).toEqual([{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['namespaces'], scope: 'Cluster' }]);
    expect(ns['namespaceSelector']).toBeUndefined();
    expect(ns).toMatchObject({ failurePolicy: 'Fail', sideEffects: 'None', timeoutSeconds: 5 });
    const label = (o: string) => `(has(${o}.metadata.labels) && 'linkerd.io/is-control-plane' in ${o}.metadata.labels && ${o}.metadata.labels['linkerd.io/is-control-plane'] == 'true')`;
    expect(ns['matchConditions']).toEqual([{ name: 'leaves-bundle-target', expression: `(${label('oldObject')}) && !(${label('object')})` }]);

    // null drops the default matchLabels (Helm merges values).
    const selector = {
      matchLabels: null,
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['mesh', 'edge'] },
        { key: 'skip', operator: 'NotIn', values: ['yes'] },
        { key: 'meshed', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    };
    const custom = hook(render({ pki: { bundle: { namespaceSelector: selector } } }), 'target-namespace.linkerd-rotator.io');
    const l = 'oldObject.metadata.labels';
    const has = 'has(oldObject.metadata.labels)';
    const old = [
      `(${has} && 'tier' in ${l} && ${l}['tier'] in ['mesh', 'edge'])`,
      `(!${has} || !('skip' in ${l}) || !(${l}['skip'] in ['yes']))`,
      `(${has} && 'meshed' in ${l})`,
      `(!${has} || !('legacy' in ${l}))`,
    ].join(' && ');
    const expression = custom['matchConditions'][0].expression as string;
    expect(expression).toBe(`(${old}) && !(${old.replace(/oldObject/g, 'object')})`);
  });

  it('needs no RBAC on Bundles: the webhook judges the request alone', () => {
    const webhookRoles = [...find(defaults, 'Role'), ...find(defaults, 'ClusterRole')].filter((r) => r.metadata.name.startsWith(`${fullname}-webhook`));
    expect(webhookRoles.length).toBeGreaterThan(0);
    for (const role of webhookRoles) {
      for (const rule of role['rules'] as { apiGroups?: string[] }[]) expect(rule.apiGroups).toEqual(['']);
    }
  });

  it('passes no flag for the users that may change ownerReferences: the webhook derives trust-manager from TRUST_NAMESPACE', () => {
    const deployment = find(defaults, 'Deployment').find((d) => d.metadata.name === `${fullname}-webhook`)!;
    const args = (deployment['spec'] as Hook)['template']['spec']['containers'][0]['args'] as string[];
    expect(args.join(' ')).not.toContain('allow-owner-references-by');
    const config = find(render({ namespaces: { trust: 'trust' } }), 'ConfigMap').find((c) => c.metadata.name === `${fullname}-config`);
    expect((config?.['data'] as Record<string, string>)['TRUST_NAMESPACE']).toBe('trust');
  });
});
