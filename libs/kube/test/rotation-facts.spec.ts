// The pure half of the rotation adapter: Kubernetes objects -> rotation facts (pods, owners, tiers,
// workloads, PKI objects, events), the slimming that keeps the caches small without losing a fact,
// and the patches and conditions the adapter writes. Real certificates, no cluster.
import type { V1Namespace, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { meshedPodOf, slimPod, tierOfNamespace, type PodContext } from '../src/rotation/pod-facts.js';
import { anchorFactsOf, bundleFactsOf, identityEventOf, issuingFactsOf } from '../src/rotation/pki-facts.js';
import { meshedTemplate, restartPatch, slimWorkload, workloadFactsOf } from '../src/rotation/workload-facts.js';
import { sha256Hex } from '@linkerd-rotator/x509';

const b64 = (s: string) => Buffer.from(s).toString('base64');
let a: Credentials;
let b: Credentials;

beforeAll(async () => {
  a = await fixtures.makeAnchor({ cn: 'a' });
  b = await fixtures.makeAnchor({ cn: 'b' });
});

function pod(overrides: { ns?: string; name?: string; owner?: { kind: string; name: string; apiVersion?: string }; env?: object; labels?: Record<string, string>; annotations?: Record<string, string>; phase?: string; startTime?: string; ready?: boolean; proxy?: 'container' | 'sidecar' | 'none' } = {}): V1Pod {
  const proxy = { name: 'linkerd-proxy', image: 'proxy', env: [overrides.env ?? { name: 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS', value: a.certPem }, { name: 'OTHER', value: 'x' }] };
  const app = { name: 'app', image: 'app', env: [{ name: 'SECRET', value: 'do-not-keep' }] };
  return {
    metadata: {
      namespace: overrides.ns ?? 'shop',
      name: overrides.name ?? 'web-abc12-xyz',
      creationTimestamp: new Date('2026-01-01T00:00:00Z'),
      labels: overrides.labels ?? { app: 'web', 'pod-template-hash': 'abc12' },
      annotations: { 'linkerd.io/trust-root-sha256': 'f'.repeat(64), 'kubectl.kubernetes.io/last-applied-configuration': '{}', ...(overrides.annotations ?? {}) },
      ...(overrides.owner ? { ownerReferences: [{ apiVersion: overrides.owner.apiVersion ?? 'apps/v1', kind: overrides.owner.kind, name: overrides.owner.name, uid: 'u', controller: true }] } : {}),
      managedFields: [{ manager: 'x' }],
    },
    spec: {
      containers: overrides.proxy === 'sidecar' || overrides.proxy === 'none' ? [app] : [proxy, app],
      ...(overrides.proxy === 'sidecar' ? { initContainers: [{ ...proxy, restartPolicy: 'Always' }] } : {}),
      volumes: [{ name: 'v' }],
      serviceAccountName: 'web',
    },
    status: {
      phase: overrides.phase ?? 'Running',
      ...(overrides.startTime !== undefined ? { startTime: new Date(overrides.startTime) } : { startTime: new Date('2026-01-01T00:00:05Z') }),
      conditions: [{ type: 'Ready', status: overrides.ready === false ? 'False' : 'True' }, { type: 'PodScheduled', status: 'True' }],
      containerStatuses: [],
    },
  } as unknown as V1Pod;
}

function context(extra: Partial<PodContext> = {}): PodContext {
  const replicaSets: Record<string, V1ReplicaSet> = {
    'shop/web-abc12': { metadata: { name: 'web-abc12', namespace: 'shop', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd', controller: true }] } },
    'shop/canary-1': { metadata: { name: 'canary-1', namespace: 'shop', ownerReferences: [{ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'canary', uid: 'r', controller: true }] } },
    'shop/lonely-1': { metadata: { name: 'lonely-1', namespace: 'shop' } },
  };
  const namespaces: Record<string, V1Namespace> = {
    linkerd: { metadata: { name: 'linkerd', labels: { 'linkerd.io/is-control-plane': 'true' } } },
    'linkerd-viz': { metadata: { name: 'linkerd-viz', labels: { 'linkerd.io/extension': 'viz' } } },
    shop: { metadata: { name: 'shop' } },
  };
  return {
    linkerdNamespace: 'linkerd',
    releaseNamespace: 'linkerd-rotator',
    replicaSet: (ns, name) => replicaSets[`${ns}/${name}`],
    hasDeployment: (ns, name) => ns === 'shop' && name === 'fresh',
    namespace: (name) => namespaces[name],
    anchorsOf: (pem) => (pem.includes(a.certPem.split('\n')[1] as string) ? [a.fingerprint] : []).concat(pem.includes(b.certPem.split('\n')[1] as string) ? [b.fingerprint] : []),
    ...extra,
  };
}

describe('meshed pods', () => {
  it("leaves out the rotator's own pods (runner Job, webhook, exporter) even when meshed: they never block its gates", () => {
    const own = { 'app.kubernetes.io/part-of': 'linkerd-rotator', 'app.kubernetes.io/component': 'runner' };
    const ctx = context({ releaseNamespace: 'linkerd-rotator' });
    expect(meshedPodOf(pod({ ns: 'linkerd-rotator', name: 'rotate-29000000-abcde', labels: own, owner: { kind: 'Job', name: 'rotate-29000000', apiVersion: 'batch/v1' } }), ctx)).toBeUndefined();
    // The label counts only in the release namespace, and the release namespace alone does not make a pod the rotator's.
    expect(meshedPodOf(pod({ ns: 'shop', labels: own }), ctx)).toBeDefined();
    expect(meshedPodOf(pod({ ns: 'linkerd-rotator', name: 'neighbour', labels: { app: 'neighbour' } }), ctx)).toBeDefined();
  });

  it('reads an injected pod: owner walked up ReplicaSet -> Deployment, literal anchors, hash, start, readiness', () => {
    const p = meshedPodOf(pod({ owner: { kind: 'ReplicaSet', name: 'web-abc12' } }), context());
    expect(p).toEqual({
      namespace: 'shop',
      name: 'web-abc12-xyz',
      owner: { kind: 'Deployment', name: 'web' },
      tier: 'data-plane',
      identityController: false,
      trustRootSha256: 'f'.repeat(64),
      trustFromConfigMap: false,
      trustedAnchors: [a.fingerprint],
      startedAt: Date.parse('2026-01-01T00:00:05Z'),
      ready: true,
    });
  });

  it('flags control-plane pods that read the bundle by configMapKeyRef, and the identity controller', () => {
    const env = { name: 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS', valueFrom: { configMapKeyRef: { name: 'linkerd-identity-trust-roots', key: 'ca-bundle.crt' } } };
    const p = meshedPodOf(pod({ ns: 'linkerd', name: 'linkerd-identity-1', env, labels: { 'linkerd.io/control-plane-component': 'identity' }, owner: { kind: 'ReplicaSet', name: 'missing' } }), context());
    expect(p).toMatchObject({ tier: 'control-plane', identityController: true, trustFromConfigMap: true });
    expect(p?.trustedAnchors).toBeUndefined();
    const injector = meshedPodOf(pod({ ns: 'linkerd', env, labels: { 'linkerd.io/control-plane-component': 'proxy-injector' } }), context());
    expect(injector?.identityController).toBe(false);
  });

  it('finds owners of every kind, and tells bare, Job and unknown-controller pods apart', () => {
    const ctx = context();
    const owner = (o?: { kind: string; name: string; apiVersion?: string }, labels?: Record<string, string>) => meshedPodOf(pod({ ...(o ? { owner: o } : {}), ...(labels ? { labels } : {}) }), ctx)?.owner;
    expect(owner({ kind: 'StatefulSet', name: 'db' })).toEqual({ kind: 'StatefulSet', name: 'db' });
    expect(owner({ kind: 'DaemonSet', name: 'agent' })).toEqual({ kind: 'DaemonSet', name: 'agent' });
    expect(owner({ kind: 'Job', name: 'migrate' })).toEqual({ kind: 'Job', name: 'migrate' });
    expect(owner({ kind: 'ReplicaSet', name: 'canary-1' })).toEqual({ kind: 'Rollout', name: 'canary' });
    expect(owner({ kind: 'ReplicaSet', name: 'lonely-1' })).toEqual({ kind: 'Other', name: 'ReplicaSet/lonely-1' });
    expect(owner({ kind: 'CloneSet', name: 'x', apiVersion: 'apps.kruise.io/v1alpha1' })).toEqual({ kind: 'Other', name: 'CloneSet/x' });
    expect(owner()).toBeUndefined();
    // A ReplicaSet not cached yet: <deployment>-<pod-template-hash>, if that Deployment exists.
    expect(owner({ kind: 'ReplicaSet', name: 'fresh-9f8e7' }, { 'pod-template-hash': '9f8e7' })).toEqual({ kind: 'Deployment', name: 'fresh' });
    expect(owner({ kind: 'ReplicaSet', name: 'gone-9f8e7' }, { 'pod-template-hash': '9f8e7' })).toEqual({ kind: 'Other', name: 'ReplicaSet/gone-9f8e7' });
  });

  it('skips pods without a proxy and terminated pods; keeps native-sidecar proxies and Pending pods', () => {
    expect(meshedPodOf(pod({ proxy: 'none' }), context())).toBeUndefined();
    expect(meshedPodOf(pod({ phase: 'Succeeded' }), context())).toBeUndefined();
    expect(meshedPodOf(pod({ phase: 'Failed' }), context())).toBeUndefined();
    expect(meshedPodOf(pod({ proxy: 'sidecar' }), context())?.trustedAnchors).toEqual([a.fingerprint]);
    const pending = meshedPodOf(pod({ phase: 'Pending', startTime: '', ready: false }), context());
    expect(pending).toMatchObject({ ready: false, startedAt: Date.parse('2026-01-01T00:00:00Z') });
  });

  it('assigns tiers by namespace: Linkerd or control-plane label, extension label, else data plane', () => {
    const ctx = context();
    expect(tierOfNamespace('linkerd', ctx.namespace('linkerd'), 'linkerd')).toBe('control-plane');
    expect(tierOfNamespace('linkerd', undefined, 'linkerd')).toBe('control-plane');
    expect(tierOfNamespace('linkerd-viz', ctx.namespace('linkerd-viz'), 'linkerd')).toBe('extension');
    expect(tierOfNamespace('shop', ctx.namespace('shop'), 'linkerd')).toBe('data-plane');
  });

  it('slims a pod in place to what the facts need: the same facts before and after, no other env or volume', () => {
    const full = pod({ owner: { kind: 'ReplicaSet', name: 'web-abc12' }, env: { name: 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS', value: fixtures.bundleOf(a, b) } });
    const before = meshedPodOf(full, context());
    slimPod(full);
    expect(meshedPodOf(full, context())).toEqual(before);
    const text = JSON.stringify(full);
    expect(text).not.toContain('do-not-keep');
    expect(text).not.toContain('managedFields');
    expect(text).not.toContain('last-applied');
    expect(full.spec?.volumes).toBeUndefined();
    expect(full.spec?.containers).toEqual([{ name: 'linkerd-proxy', env: [{ name: 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS', value: fixtures.bundleOf(a, b) }] }]);
    expect(full.metadata?.labels).toEqual({ app: 'web', 'pod-template-hash': 'abc12' });
  });
});

describe('workloads', () => {
  const deployment = {
    metadata: { name: 'web', namespace: 'shop', generation: 4, managedFields: [{}], annotations: { big: 'x'.repeat(1000) } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' }, annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-01-02T03:04:05Z', other: 'y' } },
        spec: { containers: [{ name: 'web', image: 'i', env: [{ name: 'K', value: 'v' }] }] },
      },
    },
    status: { readyReplicas: 2, updatedReplicas: 3, observedGeneration: 4, conditions: [{ type: 'Available' }] },
  };

  it('reads replicas, progress and the restartedAt marker; slimming keeps them', () => {
    const facts = workloadFactsOf('Deployment', deployment, 'data-plane');
    expect(facts).toEqual({ kind: 'Deployment', namespace: 'shop', name: 'web', tier: 'data-plane', generation: 4, replicas: 3, readyReplicas: 2, updatedReplicas: 3, observedGeneration: 4, restartedAt: Date.parse('2026-01-02T03:04:05Z') });
    const copy = structuredClone(deployment);
    slimWorkload(copy);
    expect(workloadFactsOf('Deployment', copy, 'data-plane')).toEqual(facts);
    expect(JSON.stringify(copy)).not.toMatch(/managedFields|"K"|xxxx/);
  });

  it('reads DaemonSets by scheduled pods and Rollouts by spec.restartAt, with a string observedGeneration', () => {
    const ds = { metadata: { name: 'agent', namespace: 'batch', generation: 2 }, spec: { template: { metadata: {} } }, status: { desiredNumberScheduled: 3, numberReady: 3, updatedNumberScheduled: 1, observedGeneration: 2 } };
    expect(workloadFactsOf('DaemonSet', ds, 'data-plane')).toMatchObject({ replicas: 3, readyReplicas: 3, updatedReplicas: 1 });
    const rollout = { metadata: { name: 'canary', namespace: 'shop', generation: 7 }, spec: { replicas: 2, restartAt: '2026-03-01T00:00:00Z' }, status: { readyReplicas: 2, updatedReplicas: 2, observedGeneration: '7' } };
    expect(workloadFactsOf('Rollout', rollout, 'data-plane')).toMatchObject({ observedGeneration: 7, restartedAt: Date.parse('2026-03-01T00:00:00Z') });
  });

  it('reads what decides whether a restart replaces the pods (OnDelete, partition, paused); slimming keeps exactly that', () => {
    const sts = {
      metadata: { name: 'db', namespace: 'shop', generation: 1 },
      spec: { replicas: 3, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2, maxUnavailable: 1 } }, podManagementPolicy: 'Parallel', template: { metadata: {}, spec: { containers: [{ name: 'db', image: 'i' }] } } },
      status: { readyReplicas: 3, updatedReplicas: 3, observedGeneration: 1 },
    };
    const ds = { metadata: { name: 'agent', namespace: 'shop', generation: 1 }, spec: { updateStrategy: { type: 'OnDelete' }, template: { metadata: {} } }, status: { desiredNumberScheduled: 1, numberReady: 1, updatedNumberScheduled: 1, observedGeneration: 1 } };
    const paused = { ...structuredClone(deployment), spec: { ...structuredClone(deployment.spec), paused: true, strategy: { type: 'Recreate' } } };
    const cases = [
      ['StatefulSet', sts, { updateStrategy: 'RollingUpdate', partition: 2 }],
      ['DaemonSet', ds, { updateStrategy: 'OnDelete' }],
      ['Deployment', paused, { paused: true }],
    ] as const;
    for (const [kind, obj, expected] of cases) {
      const facts = workloadFactsOf(kind, obj, 'data-plane');
      expect(facts).toMatchObject(expected);
      const copy = structuredClone(obj);
      slimWorkload(copy);
      expect(workloadFactsOf(kind, copy, 'data-plane')).toEqual(facts);
      expect(JSON.stringify(copy)).not.toMatch(/maxUnavailable|podManagementPolicy|Recreate/);
    }
    expect(workloadFactsOf('Deployment', deployment, 'data-plane')).not.toHaveProperty('paused');
  });

  it('restarts like kubectl rollout restart (Rollouts: spec.restartAt)', () => {
    expect(restartPatch('Deployment', 'T')).toEqual({ spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'T' } } } } });
    expect(restartPatch('Rollout', 'T')).toEqual({ spec: { restartAt: 'T' } });
  });

  it('tracks workloads whose new pods get a proxy even while they have no pods', () => {
    const w = (annotations: Record<string, string> | undefined, containers = ['app']) => ({
      metadata: { name: 'w' },
      spec: { selector: {}, template: { metadata: { ...(annotations ? { annotations } : {}) }, spec: { containers: containers.map((name) => ({ name })) } } },
    });
    expect(meshedTemplate(w({ 'linkerd.io/inject': 'enabled' }), undefined)).toBe(true);
    expect(meshedTemplate(w(undefined), 'enabled')).toBe(true);
    expect(meshedTemplate(w({ 'linkerd.io/inject': 'disabled' }), 'enabled')).toBe(false);
    expect(meshedTemplate(w(undefined, ['linkerd-proxy', 'app']), undefined)).toBe(true);
    expect(meshedTemplate(w(undefined), undefined)).toBe(false);
  });
});

describe('PKI objects', () => {
  it('reads anchor Secrets as fingerprints of tls.crt (DER and public key), never the key', () => {
    const facts = anchorFactsOf({ data: { 'tls.crt': b64(a.certPem), 'tls.key': b64(a.keyPem) } });
    expect(facts).toEqual({ fingerprint: a.fingerprint, publicKeyFingerprint: a.cert.spkiFingerprint, notBefore: a.cert.notBefore.getTime(), notAfter: a.cert.notAfter.getTime() });
    expect(anchorFactsOf({ data: { 'tls.key': b64(a.keyPem) } })).toBeUndefined();
    expect(anchorFactsOf({ data: { 'tls.crt': b64('not a certificate') } })).toBeUndefined();
    expect(anchorFactsOf(undefined)).toBeUndefined();
  });

  it('reads a Certificate the way cert-manager reports issuing: Issuing condition, revision, last failure', () => {
    expect(issuingFactsOf(undefined)).toEqual({ issuing: 'absent', revision: 0 });
    expect(issuingFactsOf({ status: { revision: 3, conditions: [{ type: 'Ready', status: 'True' }, { type: 'Issuing', status: 'True', reason: 'ManuallyTriggered' }] } })).toEqual({ issuing: 'true', revision: 3 });
    expect(
      issuingFactsOf({ status: { revision: 3, lastFailureTime: '2026-01-01T00:00:00Z', conditions: [{ type: 'Issuing', status: 'False', reason: 'Failed', message: 'issuer not ready' }] } }),
    ).toEqual({ issuing: 'false', revision: 3, lastFailureAt: Date.parse('2026-01-01T00:00:00Z'), lastFailureMessage: 'Failed: issuer not ready' });
  });

  it('hashes the bundle text exactly (what the injector stamps) and lists its anchors', () => {
    const text = fixtures.bundleOf(b, a);
    expect(bundleFactsOf({ metadata: { namespace: 'linkerd' }, data: { 'ca-bundle.crt': text } }, 'ca-bundle.crt')).toEqual({ namespace: 'linkerd', sha256: sha256Hex(text), anchors: [b.fingerprint, a.fingerprint] });
    expect(bundleFactsOf({ metadata: { namespace: 'x' }, data: {} }, 'ca-bundle.crt')).toBeUndefined();
  });

  it('takes identity events at their last timestamp (aggregated repeats) and ignores other reasons', () => {
    expect(identityEventOf({ reason: 'IssuerUpdated', message: 'Updated identity issuer', firstTimestamp: new Date('2026-01-01T00:00:00Z'), lastTimestamp: new Date('2026-01-02T00:00:00Z'), involvedObject: {}, metadata: {} })).toEqual({
      reason: 'IssuerUpdated',
      at: Date.parse('2026-01-02T00:00:00Z'),
      message: 'Updated identity issuer',
    });
    expect(identityEventOf({ reason: 'IssuerUpdateSkipped', eventTime: '2026-01-03T00:00:00.000000Z' as unknown as Date, involvedObject: {}, metadata: {} })?.at).toBe(Date.parse('2026-01-03T00:00:00Z'));
    expect(identityEventOf({ reason: 'ScalingReplicaSet', lastTimestamp: new Date(), involvedObject: {}, metadata: {} })).toBeUndefined();
  });
});
