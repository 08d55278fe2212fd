// issue 14 item 11 in the runner's reader: Linkerd identity's issuance lifetime, read from its
// Deployment's args as upstream reads them (the runner refuses a shorter --leaf-lifetime), and the
// namespaces of another Linkerd control plane that the trust-roots Bundle targets (`check` warns).
import type { V1ConfigMap, V1Deployment, V1Namespace } from '@kubernetes/client-node';
import { DEFAULT_OBJECT_NAMES } from '@linkerd-rotator/names';
import { fixtures } from '@linkerd-rotator/x509/testing';
import { bundleTargetsOf, otherControlPlaneTargets, type BundleObject } from '../src/rotation/bundle-targets.js';
import type { ClusterCache } from '../src/rotation/cache.js';
import type { AdapterContext } from '../src/rotation/context.js';
import type { InjectorProbe } from '../src/rotation/injector.js';
import { identityIssuanceLifetimeOf, KubeClusterReader } from '../src/rotation/reader.js';

const HOUR = 3_600_000;
const NAME = DEFAULT_OBJECT_NAMES.trustRootsConfigMap;
const CONTROL_PLANE = { matchLabels: { 'linkerd.io/is-control-plane': 'true' } };

/** Deployment linkerd-identity as Linkerd's chart renders it, with these args for its identity container. */
function identityDeployment(namespace: string, args: string[] | undefined, extra: { resourceVersion?: string; container?: string } = {}): V1Deployment {
  return {
    metadata: { namespace, name: 'linkerd-identity', resourceVersion: extra.resourceVersion ?? '1' },
    spec: {
      selector: {},
      template: { spec: { containers: [{ name: extra.container ?? 'identity', image: 'cr.l5d.io/linkerd/controller', ...(args ? { args } : {}) }, { name: 'linkerd-proxy' }] } },
    },
  };
}
const chartArgs = (lifetime?: string) => ['identity', '-log-level=info', '-controller-namespace=linkerd', '-identity-trust-domain=cluster.local', ...(lifetime === undefined ? [] : [`-identity-issuance-lifetime=${lifetime}`]), '-identity-scheme=kubernetes.io/tls'];

describe("identity's issuance lifetime, as upstream's controller/cmd/identity/main.go reads it", () => {
  it.each([
    ['the chart default 24h0m0s', chartArgs('24h0m0s'), 24 * HOUR],
    ['48h', chartArgs('48h'), 48 * HOUR],
    ['1h30m', chartArgs('1h30m'), 1.5 * HOUR],
    ['absent: identity.DefaultIssuanceLifetime', chartArgs(), 24 * HOUR],
    ['empty: the default', chartArgs(''), 24 * HOUR],
    ['unparsable by Go (upstream warns and keeps the default)', chartArgs('2d'), 24 * HOUR],
    ['--flag=value', ['identity', '--identity-issuance-lifetime=36h'], 36 * HOUR],
    ['-flag value', ['identity', '-identity-issuance-lifetime', '10m'], 10 * 60_000],
    ['the last one wins, as in Go', [...chartArgs('24h'), '-identity-issuance-lifetime=72h'], 72 * HOUR],
  ])('%s', (_what, args, ms) => expect(identityIssuanceLifetimeOf(identityDeployment('linkerd', args))).toBe(ms));

  it('is unknown without an identity container', () => {
    expect(identityIssuanceLifetimeOf(identityDeployment('linkerd', chartArgs('48h'), { container: 'controller' }))).toBeUndefined();
  });
});

function collection<T extends { metadata?: { namespace?: string; name?: string } }>(objects: T[]) {
  return {
    version: 1,
    items: () => objects,
    get: (ns: string | undefined, name: string) => objects.find((o) => (o.metadata?.namespace ?? undefined) === ns && o.metadata?.name === name),
  };
}
const namespace = (name: string, labels: Record<string, string> = {}): V1Namespace => ({ metadata: { name, labels } });
const bundleObject = (namespaceSelector?: object): BundleObject => ({ metadata: { name: NAME }, spec: { target: { ...(namespaceSelector ? { namespaceSelector } : {}) } } });

/** A reader over stand-in collections; the identity Deployment's GET answers `served` (or throws it) and is counted. */
function reader(parts: { namespaces: V1Namespace[]; deployments: V1Deployment[]; served?: () => V1Deployment; bundle?: BundleObject; configMaps?: V1ConfigMap[] }) {
  const gets: string[] = [];
  const empty = collection([]);
  const cache = {
    synced: async () => undefined,
    namespaces: collection(parts.namespaces),
    deployments: collection(parts.deployments),
    statefulSets: empty,
    daemonSets: empty,
    replicaSets: empty,
    pods: empty,
    trustRoots: collection(parts.configMaps ?? []),
    bundleKind: 'Bundle',
    bundle: collection(parts.bundle ? [parts.bundle] : []),
    preparedCertificate: empty,
    issuerCertificate: empty,
    preparedSecret: empty,
    activeSecret: empty,
    previousSecret: empty,
    issuerRequests: empty,
    publicPki: empty,
    identityEvents: empty,
  } as unknown as ClusterCache;
  const notFound = Object.assign(new Error('not found'), { kind: 'not-found' });
  const ctx = {
    names: DEFAULT_OBJECT_NAMES,
    now: () => Date.parse('2026-03-01T12:00:00Z'),
    apiTimeoutMs: 1000,
    logger: { debug: () => undefined, info: () => undefined, warn: () => undefined },
    transientForbidden: () => false,
    call: (_op: unknown, fn: () => Promise<unknown>) => fn(),
    core: { readNamespacedSecret: () => Promise.reject(notFound) },
    apps: {
      readNamespacedDeployment: async ({ namespace: ns, name }: { namespace: string; name: string }) => {
        gets.push(`${ns}/${name}`);
        if (!parts.served) throw notFound;
        return parts.served();
      },
    },
  } as unknown as AdapterContext;
  const probe = { answer: async () => ({}) } as unknown as InjectorProbe;
  return { reader: new KubeClusterReader(ctx, { cache, probe, strictInjector: false }), gets };
}

describe('the snapshot carries what the runner cross-checks', () => {
  const cluster = [namespace('linkerd', { 'linkerd.io/is-control-plane': 'true' }), namespace('linkerd-viz', { 'linkerd.io/extension': 'viz' }), namespace('apps')];

  it("reads identity's lifetime with one GET of its Deployment (the cache keeps no args), again only after the Deployment changed", async () => {
    const deployments = [identityDeployment('linkerd', undefined)];
    let served = identityDeployment('linkerd', chartArgs('48h'));
    const { reader: r, gets } = reader({ namespaces: cluster, deployments, served: () => served });
    expect((await r.readSnapshot()).identityIssuanceLifetimeMs).toBe(48 * HOUR);
    expect((await r.readSnapshot()).identityIssuanceLifetimeMs).toBe(48 * HOUR);
    expect(gets).toEqual(['linkerd/linkerd-identity']);
    deployments[0] = identityDeployment('linkerd', undefined, { resourceVersion: '2' });
    served = identityDeployment('linkerd', chartArgs('12h'), { resourceVersion: '2' });
    expect((await r.readSnapshot()).identityIssuanceLifetimeMs).toBe(12 * HOUR);
    expect(gets).toHaveLength(2);
  });

  it('has no lifetime without the Deployment, and no GET', async () => {
    const { reader: r, gets } = reader({ namespaces: cluster, deployments: [] });
    expect(await r.readSnapshot()).not.toHaveProperty('identityIssuanceLifetimeMs');
    expect(gets).toEqual([]);
  });

  it('names the namespaces of another control plane that the default selector targets, and none once the selector is scoped', async () => {
    const a = await fixtures.makeAnchor({ cn: 'root.linkerd.cluster.local' });
    const namespaces = [...cluster, namespace('linkerd-tenant-b', { 'linkerd.io/is-control-plane': 'true' }), namespace('mesh-c')];
    const deployments = [identityDeployment('linkerd', chartArgs()), identityDeployment('mesh-c', chartArgs())];
    const configMaps = ['linkerd', 'linkerd-tenant-b'].map((ns) => ({ metadata: { namespace: ns, name: NAME }, data: { 'ca-bundle.crt': fixtures.bundleOf(a) } }));
    const everywhere = reader({ namespaces, deployments, bundle: bundleObject(), configMaps }).reader;
    expect((await everywhere.readSnapshot()).otherControlPlaneTargets).toEqual([
      { namespace: 'linkerd-tenant-b', why: 'labelled linkerd.io/is-control-plane=true' },
      { namespace: 'mesh-c', why: 'holds Deployment linkerd-identity' },
    ]);
    const byLabel = reader({ namespaces, deployments, bundle: bundleObject(CONTROL_PLANE), configMaps }).reader;
    expect((await byLabel.readSnapshot()).otherControlPlaneTargets).toEqual([{ namespace: 'linkerd-tenant-b', why: 'labelled linkerd.io/is-control-plane=true' }]);
    const scoped = reader({ namespaces, deployments, bundle: bundleObject({ matchLabels: { 'kubernetes.io/metadata.name': 'linkerd' } }), configMaps }).reader;
    expect(await scoped.readSnapshot()).not.toHaveProperty('otherControlPlaneTargets');
  });

  it('otherControlPlaneTargets: both reasons at once; none without a readable Bundle (only Linkerd\'s namespace counts then)', () => {
    const namespaces = [namespace('linkerd', { 'linkerd.io/is-control-plane': 'true' }), namespace('other', { 'linkerd.io/is-control-plane': 'true' })];
    const cluster = { namespaces, identityNamespaces: ['linkerd', 'other'], namespace: (n: string) => namespaces.find((ns) => ns.metadata?.name === n) };
    expect(otherControlPlaneTargets(bundleTargetsOf('Bundle', bundleObject(CONTROL_PLANE), NAME), cluster, DEFAULT_OBJECT_NAMES)).toEqual([
      { namespace: 'other', why: 'labelled linkerd.io/is-control-plane=true and holds Deployment linkerd-identity' },
    ]);
    expect(otherControlPlaneTargets(bundleTargetsOf(undefined, undefined, NAME), cluster, DEFAULT_OBJECT_NAMES)).toEqual([]);
  });
});
