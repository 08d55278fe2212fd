// The exporter's metrics from plain snapshots and real generated certificates: every certificate role,
// bundle health, stale proxies, rotation phases and failures, and series that disappear with their object.
import { createHash } from 'node:crypto';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { ExporterSnapshot, MeshedPodView } from '@linkerd-rotator/kube/caches';
import { StaticExporterSource } from '@linkerd-rotator/kube/testing';
import { DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
import { serializeState, type RotationState } from '@linkerd-rotator/rotation';
import { crossSign, shortFingerprint } from '@linkerd-rotator/x509';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { EXPORTER_METRICS as M, labelSeriesWithCluster, registerExporterMetrics } from './metrics.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough of it for prom-client's output). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const unix = (d: Date) => Math.floor(d.getTime() / 1000);
const NOW = new Date('2030-01-01T00:00:00Z');

let prepared: Credentials;
let active: Credentials;
let previous: Credentials;
let issuer: Credentials;

beforeAll(async () => {
  // notBefore/notAfter are whole seconds in X.509; pick them so the expected values are exact.
  active = await fixtures.makeAnchor({ notBefore: new Date('2029-06-01T00:00:00Z'), notAfter: new Date('2030-06-01T00:00:00Z') });
  previous = await fixtures.makeAnchor({ cn: 'old.root', notBefore: new Date('2029-01-01T00:00:00Z'), notAfter: new Date('2030-01-05T00:00:00Z') });
  prepared = await fixtures.makeAnchor({ notBefore: new Date('2029-12-30T00:00:00Z'), notAfter: new Date('2030-12-30T00:00:00Z') });
  issuer = await fixtures.makeIssuer(active, { notBefore: new Date('2029-12-31T12:00:00Z'), notAfter: new Date('2030-01-02T12:00:00Z') });
});

const cm = (namespace: string, pem: string | undefined) => ({ namespace, source: `ConfigMap ${namespace}/${names.trustRootsConfigMap}`, ...(pem === undefined ? {} : { pem }) });
const pod = (namespace: string, name: string, facts: Partial<MeshedPodView> = {}): MeshedPodView => ({ namespace, name, trustFromConfigMap: false, ...facts });

/** The certificates of the exporter's snapshot (the anchor and issuer Secrets). */
type Certificates = Pick<ExporterSnapshot, 'preparedAnchor' | 'activeAnchor' | 'previousAnchor' | 'issuer'>;
/** Everything else the exporter's snapshot holds. */
type Cluster = Omit<ExporterSnapshot, keyof Certificates>;

function trustOf(overrides: Partial<Certificates> = {}): Certificates {
  return {
    preparedAnchor: { source: 'Secret cert-manager/linkerd-trust-anchor', certPem: prepared.certPem },
    activeAnchor: { source: 'Secret cert-manager/linkerd-active-anchor', certPem: active.certPem },
    previousAnchor: { source: 'Secret cert-manager/linkerd-previous-anchor', certPem: previous.certPem },
    issuer: { source: 'Secret linkerd/linkerd-identity-issuer', certPem: issuer.certPem, caPem: active.certPem },
    ...overrides,
  };
}

function stateOf(state: RotationState): Cluster['state'] {
  return { source: 'ConfigMap linkerd-rotator/linkerd-rotator-state', data: serializeState(state) };
}

const fp = (c: Credentials) => c.fingerprint;

function setup(trust: Certificates, cluster: Cluster, opts: { synced?: boolean; clusterName?: string; processMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.processMetrics) collectDefaultMetrics({ register: registry });
  labelSeriesWithCluster(registry, opts.clusterName);
  let certificates = trust;
  let rest = cluster;
  const source = new StaticExporterSource({ ...certificates, ...rest }, opts.synced ?? true);
  let now = NOW;
  registerExporterMetrics(registry, {
    source,
    names,
    now: () => now,
  });
  return {
    /** Replaces the certificates, keeping the rest of the snapshot. */
    setTrust: (next: Certificates) => source.set({ ...(certificates = next), ...rest }),
    /** Replaces everything but the certificates. */
    setCluster: (next: Cluster) => source.set({ ...certificates, ...(rest = next) }),
    setNow: (d: Date) => (now = d),
    scrape: async () => parse(await registry.metrics()),
  };
}

const find = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
const one = (samples: Sample[], name: string, labels: Record<string, string> = {}): number => {
  const found = find(samples, name, labels);
  if (found.length !== 1) throw new Error(`expected one ${name}${JSON.stringify(labels)}, found ${found.length}: ${JSON.stringify(found)}`);
  return found[0]!.value;
};

describe('the cluster label (fleet.clusterName)', () => {
  const everything = (): Cluster => ({ trustRoots: [cm('linkerd', fixtures.bundleOf(prepared, active, previous))], pods: [pod('shop', 'web')], podsWatched: true });

  it('labels every series cluster="<name>", the process metrics included, next to each series\' own labels', async () => {
    const s = await setup(trustOf(), everything(), { clusterName: 'east-1', processMetrics: true }).scrape();
    const names = new Set(s.map((x) => x.name));
    for (const name of [M.synced, M.notAfter, M.bundleActive, M.meshedPods, M.phase, 'process_cpu_user_seconds_total', 'nodejs_heap_size_used_bytes']) expect(names).toContain(name);
    expect(s.filter((x) => x.labels['cluster'] !== 'east-1')).toEqual([]);
    expect(one(s, M.notAfter, { role: 'active-anchor', cluster: 'east-1' })).toBe(unix(active.cert.notAfter));
    expect(one(s, M.phase, { phase: 'Idle', cluster: 'east-1' })).toBe(1);
  });

  it('adds no label without a name: the series are those of a single cluster', async () => {
    const s = await setup(trustOf(), everything(), { processMetrics: true }).scrape();
    expect(s.length).toBeGreaterThan(20);
    expect(s.filter((x) => 'cluster' in x.labels)).toEqual([]);
  });
});

describe('certificate expiry', () => {
  it('exports not-after and not-before of every role but the webhook\'s own, labelled by role, namespace, short fingerprint and subject', async () => {
    const bundle = fixtures.bundleOf(prepared, active, previous);
    const { scrape } = setup(trustOf(), { trustRoots: [cm('linkerd', bundle), cm('linkerd-viz', bundle)], pods: [], podsWatched: true });
    const s = await scrape();
    const expected: Array<[string, string, Credentials]> = [
      ['prepared-anchor', 'cert-manager', prepared],
      ['active-anchor', 'cert-manager', active],
      ['previous-anchor', 'cert-manager', previous],
      ['identity-issuer', 'linkerd', issuer],
      ['identity-issuer-chain', 'linkerd', active],
      ['trust-bundle', 'linkerd', prepared],
      ['trust-bundle', 'linkerd', active],
      ['trust-bundle', 'linkerd', previous],
      ['trust-bundle', 'linkerd-viz', active],
    ];
    for (const [role, namespace, cert] of expected) {
      const labels = { role, namespace, fingerprint: shortFingerprint(fp(cert)) };
      expect(one(s, M.notAfter, labels)).toBe(unix(cert.cert.notAfter));
      expect(one(s, M.notBefore, labels)).toBe(unix(cert.cert.notBefore));
      expect(find(s, M.notAfter, labels)[0]!.labels['subject']).toBe(cert.cert.subject);
    }
    expect(one(s, M.notAfter, { role: 'active-anchor' })).toBe(unix(new Date('2030-06-01T00:00:00Z')));
    // 5 singletons + 3 certificates in each of two bundles; webhook-serving is the webhook's own series.
    expect(find(s, M.notAfter)).toHaveLength(11);
    expect(find(s, M.notAfter, { role: 'webhook-serving' })).toEqual([]);
    expect(one(s, M.synced)).toBe(1);
  });

  it('drops the series of a certificate that disappears, and of a bundle certificate that was replaced', async () => {
    const { scrape, setTrust, setCluster } = setup(trustOf(), { trustRoots: [cm('linkerd', fixtures.bundleOf(active, previous))], pods: [], podsWatched: true });
    expect(find(await scrape(), M.notAfter, { fingerprint: shortFingerprint(fp(previous)) })).toHaveLength(2);
    setTrust(trustOf({ previousAnchor: { source: 'Secret cert-manager/linkerd-previous-anchor', certPem: active.certPem } }));
    setCluster({ trustRoots: [cm('linkerd', fixtures.bundleOf(active))], pods: [], podsWatched: true });
    const after = await scrape();
    expect(find(after, M.notAfter, { fingerprint: shortFingerprint(fp(previous)) })).toEqual([]);
    expect(find(after, M.notBefore, { fingerprint: shortFingerprint(fp(previous)) })).toEqual([]);
    expect(one(after, M.notAfter, { role: 'previous-anchor' })).toBe(unix(active.cert.notAfter));
  });

  it('reports a duplicated bundle certificate once', async () => {
    const { scrape } = setup(trustOf(), { trustRoots: [cm('linkerd', fixtures.bundleOf(active, active))], pods: [], podsWatched: true });
    const s = await scrape();
    expect(find(s, M.notAfter, { role: 'trust-bundle' })).toHaveLength(1);
    expect(one(s, M.bundleCertificates, { namespace: 'linkerd' })).toBe(2);
  });

  it('exports nothing but exporter_synced 0 until the caches have listed their objects', async () => {
    const { scrape } = setup(trustOf(), { trustRoots: [], pods: [], podsWatched: true }, { synced: false });
    const s = await scrape();
    expect(s).toEqual([{ name: M.synced, labels: {}, value: 0 }]);
  });
});

describe('bundle health', () => {
  it('says which target ConfigMaps hold the active anchor and the issuer anchor, with their size and hash', async () => {
    const good = fixtures.bundleOf(prepared, active);
    const stale = fixtures.bundleOf(previous);
    const { scrape } = setup(trustOf(), { trustRoots: [cm('linkerd', good), cm('linkerd-viz', stale)], pods: [], podsWatched: true });
    const s = await scrape();
    expect(one(s, M.bundleActive, { namespace: 'linkerd' })).toBe(1);
    expect(one(s, M.bundleIssuer, { namespace: 'linkerd' })).toBe(1);
    expect(one(s, M.bundleActive, { namespace: 'linkerd-viz' })).toBe(0);
    expect(one(s, M.bundleIssuer, { namespace: 'linkerd-viz' })).toBe(0);
    expect(one(s, M.bundleCertificates, { namespace: 'linkerd' })).toBe(2);
    expect(one(s, M.bundleInfo, { namespace: 'linkerd', sha256: sha256(good) })).toBe(1);
    expect(one(s, M.bundleInfo, { namespace: 'linkerd-viz', sha256: sha256(stale) })).toBe(1);
  });

  it('matches the active anchor by DER: an impostor with the same subject does not count', async () => {
    const impostor = await fixtures.makeImpostor(active);
    const { scrape } = setup(trustOf(), { trustRoots: [cm('linkerd', impostor.certPem)], pods: [], podsWatched: true });
    const s = await scrape();
    expect(one(s, M.bundleActive, { namespace: 'linkerd' })).toBe(0);
    expect(one(s, M.bundleIssuer, { namespace: 'linkerd' })).toBe(0);
  });

  it("reports Linkerd's namespace as empty when its trust-roots ConfigMap is missing", async () => {
    const { scrape } = setup(trustOf(), { trustRoots: [cm('linkerd-viz', active.certPem)], pods: [], podsWatched: true });
    const s = await scrape();
    expect(one(s, M.bundleCertificates, { namespace: 'linkerd' })).toBe(0);
    expect(one(s, M.bundleActive, { namespace: 'linkerd' })).toBe(0);
    expect(one(s, M.bundleIssuer, { namespace: 'linkerd' })).toBe(0);
    expect(find(s, M.bundleInfo, { namespace: 'linkerd' })).toEqual([]);
    expect(one(s, M.bundleActive, { namespace: 'linkerd-viz' })).toBe(1);
  });

  it('leaves contains-active and contains-issuer out while their Secrets are missing', async () => {
    const { scrape } = setup(trustOf({ activeAnchor: undefined, issuer: undefined }), { trustRoots: [cm('linkerd', active.certPem)], pods: [], podsWatched: true });
    const s = await scrape();
    expect(find(s, M.bundleActive)).toEqual([]);
    expect(find(s, M.bundleIssuer)).toEqual([]);
    expect(find(s, M.preparedWaiting)).toEqual([]);
    expect(one(s, M.bundleCertificates, { namespace: 'linkerd' })).toBe(1);
  });
});

describe('stale proxies', () => {
  it('counts meshed pods per namespace and those whose trust-root-sha256 is not the current bundle', async () => {
    const current = fixtures.bundleOf(active, prepared);
    const old = fixtures.bundleOf(active);
    const { scrape, setCluster } = setup(trustOf(), {
      trustRoots: [cm('linkerd', current)],
      pods: [
        pod('shop', 'web-1', { trustRootSha256: sha256(current) }),
        pod('shop', 'web-2', { trustRootSha256: sha256(old) }),
        pod('pay', 'api-1', { trustRootSha256: sha256(old) }),
        pod('pay', 'unknown-1'),
      ],
      podsWatched: true,
    });
    let s = await scrape();
    expect(one(s, M.meshedPods, { namespace: 'shop' })).toBe(2);
    expect(one(s, M.staleProxies, { namespace: 'shop' })).toBe(1);
    expect(one(s, M.meshedPods, { namespace: 'pay' })).toBe(2);
    expect(one(s, M.staleProxies, { namespace: 'pay' })).toBe(1);

    // Pods rolled: the stale count returns to zero; a namespace without meshed pods leaves the output.
    setCluster({ trustRoots: [cm('linkerd', current)], pods: [pod('shop', 'web-3', { trustRootSha256: sha256(current) })], podsWatched: true });
    s = await scrape();
    expect(one(s, M.staleProxies, { namespace: 'shop' })).toBe(0);
    expect(find(s, M.meshedPods, { namespace: 'pay' })).toEqual([]);
    expect(find(s, M.staleProxies, { namespace: 'pay' })).toEqual([]);
  });

  it('judges configMapKeyRef proxies by start time against when every target held the bundle (state knownBundles)', async () => {
    const current = fixtures.bundleOf(active, prepared);
    const state: RotationState = {
      version: 1,
      phase: 'Idle',
      knownBundles: { [sha256(current)]: { anchors: [fp(active), fp(prepared)], firstSeenAt: '2029-12-30T00:00:00.000Z', syncedAt: '2029-12-30T00:01:00.400Z' } },
    };
    const { scrape } = setup(trustOf(), {
      trustRoots: [cm('linkerd', current)],
      pods: [
        pod('linkerd', 'identity-old', { trustFromConfigMap: true, trustRootSha256: 'helm-value-hash', startTime: Date.parse('2029-12-30T00:00:30Z') }),
        pod('linkerd', 'identity-new', { trustFromConfigMap: true, trustRootSha256: 'helm-value-hash', startTime: Date.parse('2029-12-30T00:01:00Z') }),
        // Started in the second the bundle synced (00:01:00.400): start times have whole seconds, so it counts as fresh.
        pod('linkerd', 'destination-new', { trustFromConfigMap: true, trustRootSha256: 'helm-value-hash', startTime: Date.parse('2029-12-30T00:01:00Z') }),
        pod('linkerd', 'destination-old', { trustFromConfigMap: true, trustRootSha256: 'helm-value-hash', startTime: Date.parse('2029-12-30T00:00:59Z') }),
      ],
      podsWatched: true,
      state: stateOf(state),
    });
    const s = await scrape();
    expect(one(s, M.meshedPods, { namespace: 'linkerd' })).toBe(4);
    expect(one(s, M.staleProxies, { namespace: 'linkerd' })).toBe(2);
  });

  it('exports meshed pods but no stale count while the current bundle is unknown', async () => {
    const { scrape } = setup(trustOf(), { trustRoots: [], pods: [pod('shop', 'web-1', { trustRootSha256: 'x' })], podsWatched: true });
    const s = await scrape();
    expect(one(s, M.meshedPods, { namespace: 'shop' })).toBe(1);
    expect(find(s, M.staleProxies)).toEqual([]);
  });
});

describe('cross-signatures (strategy cross-signed)', () => {
  // A (old) and B (new) named alike, as Linkerd's cert-manager setup makes them; X is B's subject and
  // key signed by A, so it ends with A; the issuer Secret holds [I_B, X] as cert-manager writes it.
  let oldA: Credentials;
  let newB: Credentials;
  let x: string;
  let issuerB: Credentials;
  const bundleA = () => fixtures.bundleOf(oldA);
  const bundleAB = () => fixtures.bundleOf(oldA, newB);
  const bundleB = () => fixtures.bundleOf(newB);

  beforeAll(async () => {
    oldA = await fixtures.makeAnchor({ notBefore: new Date('2029-01-01T00:00:00Z'), notAfter: new Date('2030-03-01T00:00:00Z') });
    newB = await fixtures.makeAnchor({ notBefore: new Date('2029-12-01T00:00:00Z'), notAfter: new Date('2031-01-01T00:00:00Z') });
    x = await crossSign({ subject: newB.certPem, issuer: oldA.certPem, issuerKey: oldA.keyPem, now: NOW });
    issuerB = await fixtures.makeIssuer(newB, { notBefore: new Date('2029-12-31T12:00:00Z'), notAfter: new Date('2030-01-02T12:00:00Z') });
  });

  const promoted = (previousPem: string): Certificates => ({
    preparedAnchor: { source: 'Secret cert-manager/linkerd-trust-anchor', certPem: newB.certPem },
    activeAnchor: { source: 'Secret cert-manager/linkerd-active-anchor', certPem: newB.certPem },
    previousAnchor: { source: 'Secret cert-manager/linkerd-previous-anchor', certPem: previousPem },
    issuer: { source: 'Secret linkerd/linkerd-identity-issuer', certPem: fixtures.bundleOf(issuerB) + x, caPem: x },
  });
  const knownBundles = () => ({
    [sha256(bundleA())]: { anchors: [fp(oldA)], firstSeenAt: '2029-01-01T00:00:00.000Z', syncedAt: '2029-01-01T00:00:10.000Z' },
    [sha256(bundleAB())]: { anchors: [fp(oldA), fp(newB)].sort(), firstSeenAt: '2029-12-30T00:00:00.000Z', syncedAt: '2029-12-30T00:00:10.000Z' },
    [sha256(bundleB())]: { anchors: [fp(newB)], firstSeenAt: '2029-12-31T20:00:00.000Z', syncedAt: '2029-12-31T20:00:10.000Z' },
  });
  const literal = (pem: string, anchors: Credentials[]) => ({ trustRootSha256: sha256(pem), trustedAnchors: anchors.map(fp) });

  const crossSignedDone = (): RotationState => ({
    version: 1,
    phase: 'Done',
    knownBundles: knownBundles(),
    last: { id: 'r1', from: fp(oldA), to: fp(newB), startedAt: '2029-12-30T00:00:00.000Z', finishedAt: '2029-12-31T20:01:00.000Z', strategy: 'cross-signed' },
  });
  const afterRetire = (state: RotationState): Cluster => ({
    trustRoots: [cm('linkerd', bundleB())],
    pods: [
      // Injected pods carry the anchors literally: A is held by them alone after Retire, and verifies X.
      pod('shop', 'old', literal(bundleA(), [oldA])),
      pod('shop', 'old-annotation-only', { trustRootSha256: sha256(bundleA()) }),
      pod('shop', 'both', { trustRootSha256: sha256(bundleAB()) }),
      pod('pay', 'new', literal(bundleB(), [newB])),
      pod('pay', 'stranger', { trustRootSha256: 'f'.repeat(64) }),
    ],
    podsWatched: true,
    podAnchors: [oldA.certPem, newB.certPem],
    state: stateOf(state),
  });

  it('after a cross-signed rotation: pods that trust only A rely on X until its expiry and are not stale; X\'s expiry is exported', async () => {
    const { scrape, setNow } = setup(promoted(newB.certPem), afterRetire(crossSignedDone()));
    let s = await scrape();
    expect(one(s, M.relyingOnCrossSignature, { namespace: 'shop' })).toBe(2);
    // 'both' trusts B, which the issuer chains to: not stale, although its bundle is not the current one.
    expect(one(s, M.staleProxies, { namespace: 'shop' })).toBe(0);
    expect(one(s, M.relyingOnCrossSignature, { namespace: 'pay' })).toBe(0);
    // Its trust cannot be inferred and its bundle is not the current one: stale, as before.
    expect(one(s, M.staleProxies, { namespace: 'pay' })).toBe(1);
    const expiry = find(s, M.crossSignatureExpiry);
    expect(expiry).toEqual([
      { name: M.crossSignatureExpiry, labels: expect.objectContaining({ anchor: shortFingerprint(fp(newB)), signed_by: shortFingerprint(fp(oldA)) }), value: unix(oldA.cert.notAfter) },
    ]);
    expect(one(s, M.notAfter, { role: 'identity-issuer-chain', fingerprint: expiry[0]!.labels['fingerprint']! })).toBe(unix(oldA.cert.notAfter));
    // The active anchor is B (anchor.crt), never X.
    expect(one(s, M.notAfter, { role: 'active-anchor' })).toBe(unix(newB.cert.notAfter));

    // X ends with A: the same snapshot, one second later, counts those pods stale.
    setNow(new Date(oldA.cert.notAfter.getTime() + 1000));
    s = await scrape();
    expect(one(s, M.relyingOnCrossSignature, { namespace: 'shop' })).toBe(0);
    expect(one(s, M.staleProxies, { namespace: 'shop' })).toBe(2);
  });

  it('after a restart rotation, a pod is stale while it holds another bundle (that strategy rolls them), never while relying on X', async () => {
    const restarted = crossSignedDone();
    const { scrape } = setup(promoted(newB.certPem), afterRetire({ ...restarted, last: { ...restarted.last!, strategy: 'restart' } }));
    const s = await scrape();
    expect(one(s, M.relyingOnCrossSignature, { namespace: 'shop' })).toBe(2);
    expect(one(s, M.staleProxies, { namespace: 'shop' })).toBe(1);
  });

  it("after Retire, with A held by no Secret, bundle or literal env: the active Secret's cross-signer.crt names A, so pods on A rely on X", async () => {
    // A pod whose trust is known from its bundle hash alone (state knownBundles) carries no anchors, so
    // only the cross-signer verifies X.
    const cluster: Cluster = {
      trustRoots: [cm('linkerd', bundleB())],
      pods: [pod('shop', 'old', { trustRootSha256: sha256(bundleA()) })],
      podsWatched: true,
      state: stateOf(crossSignedDone()),
    };
    const withSigner = promoted(newB.certPem);
    const { scrape, setTrust } = setup({ ...withSigner, activeAnchor: { ...withSigner.activeAnchor!, crossSignerPem: oldA.certPem } }, cluster);
    let s = await scrape();
    expect(one(s, M.relyingOnCrossSignature, { namespace: 'shop' })).toBe(1);
    expect(find(s, M.crossSignatureExpiry)).toEqual([expect.objectContaining({ labels: expect.objectContaining({ signed_by: shortFingerprint(fp(oldA)) }) })]);
    // Without cross-signer.crt (a Secret written before it existed), X's signer is unknown: nobody relies on it.
    setTrust(withSigner);
    s = await scrape();
    expect(one(s, M.relyingOnCrossSignature, { namespace: 'shop' })).toBe(0);
    expect(find(s, M.crossSignatureExpiry)).toEqual([]);
  });

  const promoting = (): RotationState => ({
    version: 1,
    phase: 'Promote',
    knownBundles: knownBundles(),
    rotation: {
      id: 'r1',
      strategy: 'cross-signed',
      from: { fingerprint: fp(oldA), publicKeyFingerprint: oldA.cert.spkiFingerprint },
      to: { fingerprint: fp(newB), publicKeyFingerprint: newB.cert.spkiFingerprint },
      startedAt: '2029-12-30T00:00:00.000Z',
      phaseStartedAt: '2029-12-31T12:00:00.000Z',
      preparedRevisionAtStart: 1,
      prepareRequests: 0,
      retargets: [],
      issuerRenewals: 0,
    },
  });

  it('during Promote: pods that trust only A rely on X (A is still in the bundle and the previous Secret)', async () => {
    const { scrape } = setup(promoted(oldA.certPem), {
      trustRoots: [cm('linkerd', bundleAB()), cm('linkerd-viz', bundleAB())],
      pods: [pod('shop', 'old', { trustRootSha256: sha256(bundleA()) }), pod('shop', 'both', { trustRootSha256: sha256(bundleAB()) })],
      podsWatched: true,
      state: stateOf(promoting()),
    });
    const s = await scrape();
    expect(one(s, M.relyingOnCrossSignature, { namespace: 'shop' })).toBe(1);
    expect(one(s, M.staleProxies, { namespace: 'shop' })).toBe(0);
  });

  it('without X in the chain, the same pods are stale and rely on nothing', async () => {
    const { scrape } = setup(
      { ...promoted(oldA.certPem), issuer: { source: 'Secret linkerd/linkerd-identity-issuer', certPem: issuerB.certPem } },
      {
        trustRoots: [cm('linkerd', bundleAB())],
        pods: [pod('shop', 'old', { trustRootSha256: sha256(bundleA()) })],
        podsWatched: true,
        state: stateOf(promoting()),
      },
    );
    const s = await scrape();
    expect(one(s, M.relyingOnCrossSignature, { namespace: 'shop' })).toBe(0);
    expect(one(s, M.staleProxies, { namespace: 'shop' })).toBe(1);
    expect(find(s, M.crossSignatureExpiry)).toEqual([]);
  });
});

describe('rotation', () => {
  const base = (phase: RotationState['phase'], extra: Partial<RotationState> = {}): RotationState => ({ version: 1, phase, knownBundles: {}, ...extra });
  const rotationRecord = (phaseStartedAt: string) => ({
    id: 'r1',
    from: { fingerprint: fp(active), publicKeyFingerprint: active.cert.spkiFingerprint },
    to: { fingerprint: fp(prepared), publicKeyFingerprint: prepared.cert.spkiFingerprint },
    startedAt: '2029-12-31T00:00:00.000Z',
    phaseStartedAt,
    preparedRevisionAtStart: 1,
    prepareRequests: 0,
    retargets: [],
    issuerRenewals: 0,
  });

  it('is Idle with a valid state when the state ConfigMap does not exist yet', async () => {
    const { scrape } = setup(trustOf(), { trustRoots: [], pods: [], podsWatched: true });
    const s = await scrape();
    expect(one(s, M.phase, { phase: 'Idle' })).toBe(1);
    expect(find(s, M.phase).filter((x) => x.value === 1)).toHaveLength(1);
    expect(find(s, M.phase)).toHaveLength(8);
    expect(one(s, M.stateValid)).toBe(1);
    expect(find(s, M.phaseStart)).toEqual([]);
    expect(find(s, M.waitingUntil)).toEqual([]);
    expect(find(s, M.lastSuccess)).toEqual([]);
    expect(find(s, M.lastFailure)).toEqual([]);
  });

  it('exports the phase as an enum, when it started, and the last success', async () => {
    const state = base('TrustBoth', {
      rotation: rotationRecord('2029-12-31T06:00:00.000Z'),
      last: { id: 'r0', from: fp(previous), to: fp(active), startedAt: '2029-06-01T00:00:00.000Z', finishedAt: '2029-06-01T02:00:00.000Z' },
    });
    const { scrape } = setup(trustOf(), { trustRoots: [], pods: [], podsWatched: true, state: stateOf(state) });
    const s = await scrape();
    expect(one(s, M.phase, { phase: 'TrustBoth' })).toBe(1);
    expect(one(s, M.phase, { phase: 'Idle' })).toBe(0);
    expect(one(s, M.phaseStart)).toBe(unix(new Date('2029-12-31T06:00:00Z')));
    expect(find(s, M.waitingUntil)).toEqual([]);
    expect(one(s, M.lastSuccess)).toBe(unix(new Date('2029-06-01T02:00:00Z')));
  });

  it('exports when the long gate a parked rotation waits on opens, also once that time has passed, and nothing when no wait is recorded', async () => {
    // Cross-signed, parked in Promote on old-leaves-expired: a run recorded waitingUntil and exited 0.
    const parked = base('Promote', {
      rotation: { ...rotationRecord('2029-12-31T06:00:00.000Z'), strategy: 'cross-signed', identityFreshAt: '2029-12-31T07:00:00.000Z', waitingUntil: '2030-01-01T07:00:20.000Z' },
    });
    const { scrape, setCluster, setNow } = setup(trustOf(), { trustRoots: [], pods: [], podsWatched: true, state: stateOf(parked) });
    let s = await scrape();
    expect(one(s, M.phase, { phase: 'Promote' })).toBe(1);
    expect(one(s, M.phaseStart)).toBe(unix(new Date('2029-12-31T06:00:00Z')));
    expect(one(s, M.waitingUntil)).toBe(unix(new Date('2030-01-01T07:00:20Z')));
    // The gate opened and no run has come yet: the alert counts a stuck phase from this time.
    setNow(new Date('2030-01-01T09:00:00Z'));
    expect(one(await scrape(), M.waitingUntil)).toBe(unix(new Date('2030-01-01T07:00:20Z')));
    // The next run moved the rotation on (Retire): no wait is recorded, no series.
    setCluster({ trustRoots: [], pods: [], podsWatched: true, state: stateOf(base('Retire', { rotation: { ...rotationRecord('2030-01-01T11:00:00.000Z'), strategy: 'cross-signed' } })) });
    s = await scrape();
    expect(one(s, M.phase, { phase: 'Retire' })).toBe(1);
    expect(find(s, M.waitingUntil)).toEqual([]);
  });

  it('exports a stop with its bounded reason, and remembers it after the next run resumes', async () => {
    const stopped = base('Stopped', {
      rotation: rotationRecord('2029-12-31T06:00:00.000Z'),
      stopped: { reason: 'deadline', phase: 'TrustBoth', message: 'gate bundles-synced timed out', at: '2029-12-31T07:00:00.000Z' },
    });
    const { scrape, setCluster } = setup(trustOf(), { trustRoots: [], pods: [], podsWatched: true, state: stateOf(stopped) });
    let s = await scrape();
    expect(one(s, M.phase, { phase: 'Stopped' })).toBe(1);
    expect(one(s, M.lastFailure, { reason: 'deadline' })).toBe(unix(new Date('2029-12-31T07:00:00Z')));

    setCluster({ trustRoots: [], pods: [], podsWatched: true, state: stateOf(base('TrustBoth', { rotation: rotationRecord('2029-12-31T08:00:00.000Z') })) });
    s = await scrape();
    expect(one(s, M.phase, { phase: 'TrustBoth' })).toBe(1);
    expect(one(s, M.lastFailure, { reason: 'deadline' })).toBe(unix(new Date('2029-12-31T07:00:00Z')));
  });

  it('says the state is invalid (and claims no phase) when state.json cannot be read', async () => {
    const { scrape } = setup(trustOf(), { trustRoots: [], pods: [], podsWatched: true, state: { source: 'x', data: { 'state.json': '{"version": 2}' } } });
    const s = await scrape();
    expect(one(s, M.stateValid)).toBe(0);
    expect(find(s, M.phase).every((x) => x.value === 0)).toBe(true);
  });

  it('counts the seconds a prepared anchor with a new key has waited, and 0 when prepared and active share a key', async () => {
    const { scrape, setTrust, setNow } = setup(trustOf(), { trustRoots: [], pods: [], podsWatched: true });
    expect(one(await scrape(), M.preparedWaiting)).toBe(2 * 86400);
    setNow(new Date(NOW.getTime() + 90_000));
    expect(one(await scrape(), M.preparedWaiting)).toBe(2 * 86400 + 90);
    // cert-manager re-issued the active anchor's certificate with the same key: nothing waits.
    const reissued = await fixtures.makeAnchor({ keys: active.keys, notBefore: new Date('2029-12-31T00:00:00Z') });
    setTrust(trustOf({ preparedAnchor: { source: 'Secret cert-manager/linkerd-trust-anchor', certPem: reissued.certPem } }));
    expect(one(await scrape(), M.preparedWaiting)).toBe(0);
  });
});
