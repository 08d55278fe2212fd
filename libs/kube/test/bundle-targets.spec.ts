// issue 14 in the runner's reader: only trust-roots ConfigMaps in the Bundle's target namespaces are
// the bundle (item 5), and the identity issuer's signer is read from its Certificate and the
// ClusterIssuer (item 1). Real certificates; the reader runs over stand-in collections.
import type { V1ConfigMap, V1Namespace } from '@kubernetes/client-node';
import { DEFAULT_OBJECT_NAMES } from '@linkerd-rotator/names';
import { decide, initialState, resolveOptions, type ClusterSnapshot } from '@linkerd-rotator/rotation';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { bundleTargetsOf, isBundleTarget, slimBundle, type BundleKind, type BundleObject } from '../src/rotation/bundle-targets.js';
import type { ClusterCache } from '../src/rotation/cache.js';
import type { AdapterContext } from '../src/rotation/context.js';
import type { InjectorProbe } from '../src/rotation/injector.js';
import { issuerSigningFactsOf, slimClusterIssuer, type ClusterIssuerObject } from '../src/rotation/pki-facts.js';
import { KubeClusterReader } from '../src/rotation/reader.js';

const NAME = DEFAULT_OBJECT_NAMES.trustRootsConfigMap;
const CONTROL_PLANE = { matchLabels: { 'linkerd.io/is-control-plane': 'true' } };
let a: Credentials;
let b: Credentials;
let evil: Credentials;

beforeAll(async () => {
  a = await fixtures.makeAnchor({ cn: 'root.linkerd.cluster.local' });
  b = await fixtures.makeAnchor({ cn: 'root.linkerd.cluster.local' });
  evil = await fixtures.makeAnchor({ cn: 'tenant' });
});

const namespace = (name: string, labels: Record<string, string> = {}): V1Namespace => ({ metadata: { name, labels } });
const configMap = (ns: string, ...anchors: Credentials[]): V1ConfigMap => ({ metadata: { namespace: ns, name: NAME }, data: { 'ca-bundle.crt': fixtures.bundleOf(...anchors) } });
const bundleObject = (namespaceSelector?: object): BundleObject => ({ metadata: { name: NAME }, spec: { target: { ...(namespaceSelector ? { namespaceSelector } : {}) } } });

/** A stand-in collection over fixed objects, keyed like the real one (namespace/name). */
function collection<T extends { metadata?: { namespace?: string; name?: string } }>(objects: T[]) {
  return {
    items: () => objects,
    get: (ns: string | undefined, name: string) => objects.find((o) => (o.metadata?.namespace ?? undefined) === ns && o.metadata?.name === name),
  };
}

/** A reader over these namespaces, trust-roots ConfigMaps and Bundle (kind undefined: no trust-manager kind can be listed). */
function reader(parts: { namespaces: V1Namespace[]; configMaps: V1ConfigMap[]; kind?: BundleKind; bundle?: BundleObject }): KubeClusterReader {
  const cache = {
    namespaces: collection(parts.namespaces),
    trustRoots: collection(parts.configMaps),
    bundleKind: parts.kind,
    bundle: parts.kind ? collection(parts.bundle ? [parts.bundle] : []) : undefined,
  } as unknown as ClusterCache;
  const ctx = { names: DEFAULT_OBJECT_NAMES } as unknown as AdapterContext;
  return new KubeClusterReader(ctx, { cache, probe: {} as InjectorProbe, strictInjector: false });
}

const cluster = [namespace('linkerd', { 'linkerd.io/is-control-plane': 'true' }), namespace('linkerd-viz', { 'linkerd.io/extension': 'viz' }), namespace('tenant')];

describe('the trust-roots ConfigMaps that count (issue 14, item 5)', () => {
  it("ignores a ConfigMap of that name in a namespace the Bundle's selector does not pick", () => {
    const r = reader({ namespaces: cluster, configMaps: [configMap('linkerd', a), configMap('tenant', evil)], kind: 'Bundle', bundle: bundleObject(CONTROL_PLANE) });
    expect(r.bundles().map((b) => b.namespace)).toEqual(['linkerd']);
  });

  it('so a tenant copy does not stall the bundles-synced gate: the rotation passes it', () => {
    const r = reader({ namespaces: cluster, configMaps: [configMap('linkerd', a, b), configMap('tenant', evil)], kind: 'Bundle', bundle: bundleObject(CONTROL_PLANE) });
    const [bundle] = r.bundles();
    const anchorOf = (c: Credentials) => ({ fingerprint: c.fingerprint, publicKeyFingerprint: c.cert.spkiFingerprint, notBefore: 0, notAfter: Date.parse('2100-01-01') });
    const snapshot: ClusterSnapshot = {
      observedAt: Date.parse('2026-03-01T12:00:00Z'),
      prepared: { revision: 2, issuing: 'absent', anchor: anchorOf(b) },
      active: anchorOf(a),
      previous: anchorOf(a),
      bundles: r.bundles(),
      injector: { trustRootSha256: bundle!.sha256 },
      pods: [],
      workloads: [],
      identityEvents: [],
    };
    const state = { ...initialState(), phase: 'TrustBoth' as const, rotation: { id: 'r', from: { fingerprint: a.fingerprint, publicKeyFingerprint: a.cert.spkiFingerprint }, to: { fingerprint: b.fingerprint, publicKeyFingerprint: b.cert.spkiFingerprint }, startedAt: '2026-03-01T11:00:00.000Z', phaseStartedAt: '2026-03-01T11:00:00.000Z', preparedRevisionAtStart: 1, prepareRequests: 0, retargets: [], issuerRenewals: 0 } };
    expect(decide(snapshot, state, resolveOptions({}))).toMatchObject({ kind: 'action', action: { kind: 'record-transition', to: 'Promote' } });
    const counted = { ...snapshot, bundles: [...snapshot.bundles, { namespace: 'tenant', sha256: 'e'.repeat(64), anchors: [evil.fingerprint] }] };
    expect(decide(counted, state, resolveOptions({}))).toMatchObject({ kind: 'gate', gate: { name: 'bundles-synced' } });
  });

  it('follows matchExpressions, a selector-less Bundle (every namespace) and a ClusterBundle alike', () => {
    const expressions = { matchExpressions: [{ key: 'linkerd.io/extension', operator: 'Exists' }] };
    const configMaps = [configMap('linkerd', a), configMap('linkerd-viz', a), configMap('tenant', evil)];
    expect(reader({ namespaces: cluster, configMaps, kind: 'ClusterBundle', bundle: bundleObject(expressions) }).bundles().map((b) => b.namespace)).toEqual(['linkerd-viz']);
    expect(reader({ namespaces: cluster, configMaps, kind: 'Bundle', bundle: bundleObject() }).bundles().map((b) => b.namespace)).toEqual(['linkerd', 'linkerd-viz', 'tenant']);
  });

  it('counts a namespace the cache does not hold yet (holding the gate is safe, passing it is not)', () => {
    const r = reader({ namespaces: [cluster[0]!], configMaps: [configMap('linkerd', a), configMap('new-ns', a)], kind: 'Bundle', bundle: bundleObject(CONTROL_PLANE) });
    expect(r.bundles().map((b) => b.namespace)).toEqual(['linkerd', 'new-ns']);
  });

  it("without a readable Bundle counts only Linkerd's own namespace", () => {
    const configMaps = [configMap('linkerd', a), configMap('linkerd-viz', a), configMap('tenant', evil)];
    expect(reader({ namespaces: cluster, configMaps }).bundles().map((b) => b.namespace)).toEqual(['linkerd']);
    expect(reader({ namespaces: cluster, configMaps, kind: 'Bundle' }).bundles().map((b) => b.namespace)).toEqual(['linkerd']);
    expect(bundleTargetsOf('Bundle', undefined, NAME)).toEqual({ found: false, why: `Bundle ${NAME} does not exist` });
    expect(bundleTargetsOf(undefined, undefined, NAME)).toMatchObject({ found: false, why: expect.stringMatching(/neither Bundle nor ClusterBundle/) });
  });

  it('isBundleTarget: the selector against the namespace labels', () => {
    const targets = bundleTargetsOf('Bundle', bundleObject(CONTROL_PLANE), NAME);
    expect(isBundleTarget(targets, 'linkerd', cluster[0], 'linkerd')).toBe(true);
    expect(isBundleTarget(targets, 'tenant', cluster[2], 'linkerd')).toBe(false);
  });

  it('slims a Bundle to its target selector', () => {
    const full = { metadata: { name: NAME, managedFields: [{ manager: 'helm' }] }, spec: { sources: [{ secret: { name: 'x', key: 'tls.crt' } }], target: { configMap: { key: 'ca-bundle.crt' }, namespaceSelector: CONTROL_PLANE } }, status: { conditions: [] } } as unknown as BundleObject;
    slimBundle(full);
    expect(full).toEqual({ metadata: { name: NAME }, spec: { target: { namespaceSelector: CONTROL_PLANE } } });
  });
});

describe("the identity issuer's signer (issue 14, item 1)", () => {
  const ours = { metadata: { name: 'linkerd-identity-issuer' }, spec: { ca: { secretName: 'linkerd-active-anchor' } } } as ClusterIssuerObject;
  const certificate = (issuerRef: object) => ({ metadata: { namespace: 'linkerd', name: 'linkerd-identity-issuer' }, spec: { secretName: 'linkerd-identity-issuer', issuerRef } });

  it("reads the ClusterIssuer's CA Secret and the Certificate's issuerRef", () => {
    expect(issuerSigningFactsOf(ours, certificate({ name: 'linkerd-identity-issuer', kind: 'ClusterIssuer', group: 'cert-manager.io' }))).toEqual({
      clusterIssuer: { found: true, caSecretName: 'linkerd-active-anchor' },
      certificateIssuerRef: { kind: 'ClusterIssuer', name: 'linkerd-identity-issuer' },
    });
  });

  it("applies cert-manager's defaults (kind Issuer) and names a foreign group in the kind", () => {
    expect(issuerSigningFactsOf(undefined, certificate({ name: 'linkerd-identity-issuer' }))).toEqual({ clusterIssuer: { found: false }, certificateIssuerRef: { kind: 'Issuer', name: 'linkerd-identity-issuer' } });
    expect(issuerSigningFactsOf(ours, certificate({ name: 'linkerd-identity-issuer', kind: 'ClusterIssuer', group: 'awspca.cert-manager.io' })).certificateIssuerRef).toEqual({ kind: 'ClusterIssuer.awspca.cert-manager.io', name: 'linkerd-identity-issuer' });
    expect(issuerSigningFactsOf({ metadata: { name: 'x' }, spec: {} } as ClusterIssuerObject, undefined)).toEqual({ clusterIssuer: { found: true } });
  });

  it('slims a ClusterIssuer to its CA Secret name, and a Ready condition that is not True', () => {
    const full = { metadata: { name: 'x', managedFields: [{}] }, spec: { ca: { secretName: 's', crlDistributionPoints: ['http://x'] } }, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KeyPairVerified' }] } } as unknown as ClusterIssuerObject;
    slimClusterIssuer(full);
    expect(full).toEqual({ metadata: { name: 'x' }, spec: { ca: { secretName: 's' } } });
    const failing = {
      metadata: { name: 'x' },
      spec: { ca: { secretName: 's' } },
      status: { conditions: [{ type: 'Ready', status: 'False', reason: 'ErrGetKeyPair', message: 'Error getting keypair for CA issuer: secrets "s" not found', lastTransitionTime: '2026-12-06T00:00:00Z', observedGeneration: 1 }] },
    } as unknown as ClusterIssuerObject;
    slimClusterIssuer(failing);
    expect(failing.status).toEqual({ conditions: [{ type: 'Ready', status: 'False', reason: 'ErrGetKeyPair', message: 'Error getting keypair for CA issuer: secrets "s" not found' }] });
    expect(issuerSigningFactsOf(failing, undefined).clusterIssuer).toEqual({ found: true, caSecretName: 's', notReady: 'ErrGetKeyPair: Error getting keypair for CA issuer: secrets "s" not found' });
  });
});
