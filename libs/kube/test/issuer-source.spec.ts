// issue 14 item 6: the runner reads the identity issuer without read access to its Secret. The chain
// comes from the issuer Certificate's CertificateRequest of the current revision, whose
// status.certificate is what cert-manager's issuing controller wrote into the Secret's tls.crt
// (pkg/controller/certificates/issuing/issuing_controller.go, issueCertificate); e2e/integration/
// cross-sign-cert-manager.spec.ts checks that equality against real cert-manager.
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { DEFAULT_OBJECT_NAMES } from '@linkerd-rotator/names';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import type { ClusterCache } from '../src/rotation/cache.js';
import type { AdapterContext } from '../src/rotation/context.js';
import type { InjectorProbe } from '../src/rotation/injector.js';
import { CERTIFICATE_REVISION_ANNOTATION, signedNextRequestOf, slimCertificateRequest, type CertificateObject, type CertificateRequestObject } from '../src/rotation/pki-facts.js';
import { KubeClusterReader } from '../src/rotation/reader.js';
import { KubeApiError } from '../src/errors.js';

const n = DEFAULT_OBJECT_NAMES;
const CERT_UID = 'c0ffee00-0000-4000-8000-000000000001';

/** A stand-in collection over a mutable array: what a watch has delivered so far. */
function collection<T extends { metadata?: { namespace?: string; name?: string } }>(objects: T[]) {
  return {
    version: 1,
    items: () => objects,
    get: (ns: string | undefined, name: string) => objects.find((o) => (o.metadata?.namespace ?? undefined) === ns && o.metadata?.name === name),
    remember: (obj: T) => {
      const i = objects.findIndex((o) => o.metadata?.namespace === obj.metadata?.namespace && o.metadata?.name === obj.metadata?.name);
      if (i >= 0) objects[i] = obj;
      else objects.push(obj);
    },
  };
}

const issuerCertificate = (revision: number | undefined, resourceVersion: string, extra: Partial<NonNullable<CertificateObject['status']>> = {}): CertificateObject => ({
  metadata: { namespace: n.linkerdNamespace, name: n.issuerCertificate, uid: CERT_UID, resourceVersion },
  spec: { secretName: n.issuerSecret, issuerRef: { name: n.identityClusterIssuer, kind: 'ClusterIssuer', group: 'cert-manager.io' } },
  status: { ...(revision !== undefined ? { revision } : {}), ...extra },
});

/** A CertificateRequest as cert-manager's requestmanager creates it, issued with `chain` (spec.request is a CSR). */
function request(revision: number, chain: Credentials[] | undefined, extra: { owner?: string; uid?: string; name?: string } = {}): CertificateRequestObject {
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'CertificateRequest',
    metadata: {
      namespace: n.linkerdNamespace,
      name: extra.name ?? `${n.issuerCertificate}-${revision}`,
      resourceVersion: String(100 + revision),
      creationTimestamp: new Date(Date.parse('2026-03-01T00:00:00Z') + revision * 60_000),
      annotations: { [CERTIFICATE_REVISION_ANNOTATION]: String(revision), 'cert-manager.io/certificate-name': extra.owner ?? n.issuerCertificate, 'cert-manager.io/private-key-secret-name': `${n.issuerCertificate}-x` },
      ownerReferences: [{ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', name: extra.owner ?? n.issuerCertificate, uid: extra.uid ?? CERT_UID, controller: true, blockOwnerDeletion: true }],
    },
    spec: { request: Buffer.from('-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n').toString('base64') },
    status: {
      ...(chain ? { certificate: Buffer.from(chain.map((c) => c.certPem).join('')).toString('base64') } : {}),
      conditions: chain
        ? [{ type: 'Approved', status: 'True', reason: 'cert-manager.io' }, { type: 'Ready', status: 'True', reason: 'Issued', message: 'Certificate fetched from issuer successfully' }]
        : [{ type: 'Approved', status: 'True', reason: 'cert-manager.io' }, { type: 'Ready', status: 'False', reason: 'Pending', message: 'Waiting on certificate issuance' }],
    },
  } as CertificateRequestObject;
}

/**
 * A reader whose caches hold `watched` (what the watches delivered) and whose API answers a fresh
 * list of CertificateRequests with `served` (what the API server holds now). Lists are counted.
 */
function reader(parts: { certificate: CertificateObject[]; watched: CertificateRequestObject[]; served: () => CertificateRequestObject[]; anchors: Credentials[] }) {
  const lists: string[] = [];
  const empty = () => collection<never>([]);
  const anchorSecret = (name: string, a: Credentials): V1Secret => ({ metadata: { namespace: n.trustNamespace, name }, data: { 'tls.crt': Buffer.from(a.certPem).toString('base64') } });
  const [active, prepared] = parts.anchors;
  const trustRoots: V1ConfigMap[] = [{ metadata: { namespace: n.linkerdNamespace, name: n.trustRootsConfigMap }, data: { [n.trustRootsKey]: fixtures.bundleOf(...parts.anchors) } }];
  const cache = {
    synced: async () => undefined,
    namespaces: collection([{ metadata: { name: n.linkerdNamespace, labels: { 'linkerd.io/is-control-plane': 'true' } } }]),
    deployments: empty(),
    statefulSets: empty(),
    daemonSets: empty(),
    replicaSets: empty(),
    pods: empty(),
    trustRoots: collection(trustRoots),
    bundleKind: undefined,
    bundle: undefined,
    preparedCertificate: empty(),
    issuerCertificate: collection(parts.certificate),
    issuerRequests: collection(parts.watched),
    preparedSecret: collection(prepared ? [anchorSecret(n.preparedAnchorSecret, prepared)] : []),
    activeSecret: collection(active ? [anchorSecret(n.activeAnchorSecret, active)] : []),
    previousSecret: empty(),
    publicPki: empty(),
    identityEvents: empty(),
  } as unknown as ClusterCache;
  const forbidden = (what: string) => () => Promise.reject(new KubeApiError('forbidden', 403, { verb: 'get', resource: what }, `the runner may not read ${what}`));
  const ctx = {
    names: n,
    now: () => Date.parse('2026-03-01T12:00:00Z'),
    apiTimeoutMs: 1000,
    logger: { debug: () => undefined, info: () => undefined, warn: () => undefined },
    transientForbidden: () => false,
    call: (_op: unknown, fn: () => Promise<unknown>) => fn(),
    // The runner holds no read access to any Secret of the linkerd namespace.
    core: { readNamespacedSecret: ({ namespace, name }: { namespace: string; name: string }) => (namespace === n.linkerdNamespace ? forbidden(`secrets ${namespace}/${name}`)() : Promise.reject(Object.assign(new Error('not found'), { kind: 'not-found' }))) },
    custom: {
      listNamespacedCustomObject: async (args: { group: string; plural: string; namespace: string }) => {
        lists.push(`${args.plural}.${args.group} ${args.namespace}`);
        return { items: structuredClone(parts.served()) };
      },
    },
    apps: { readNamespacedDeployment: () => Promise.reject(Object.assign(new Error('not found'), { kind: 'not-found' })) },
  } as unknown as AdapterContext;
  const probe = { answer: async () => ({}) } as unknown as InjectorProbe;
  return { reader: new KubeClusterReader(ctx, { cache, probe, strictInjector: false }), lists };
}

describe('the identity issuer, from the CertificateRequest of the current revision (no Secret read)', () => {
  let a: Credentials;
  let b: Credentials;
  let issuerA: Credentials;
  let issuerB: Credentials;
  beforeAll(async () => {
    a = await fixtures.makeAnchor({ cn: 'root-a.linkerd.cluster.local' });
    b = await fixtures.makeAnchor({ cn: 'root-b.linkerd.cluster.local' });
    issuerA = await fixtures.makeIssuer(a);
    issuerB = await fixtures.makeIssuer(b);
  });

  it('takes the chain of the request whose revision annotation is status.revision: earlier and later revisions are ignored', async () => {
    const requests = [request(1, [issuerB]), request(2, [issuerA]), request(3, undefined)];
    const { reader: r } = reader({ certificate: [issuerCertificate(2, '10', { conditions: [{ type: 'Issuing', status: 'True' }] })], watched: requests, served: () => requests, anchors: [a, b] });
    const issuer = (await r.readSnapshot()).issuer;
    expect(issuer).toMatchObject({ fingerprint: issuerA.fingerprint, chainsTo: a.fingerprint, revision: 2, issuing: 'true' });
    expect(issuer?.notAfter).toBe(issuerA.cert.notAfter.getTime());
    expect(issuer?.notBefore).toBe(issuerA.cert.notBefore.getTime());
  });

  it('reports the next revision signed but not stored, and the anchor it chains to (recover discards one signed under a replaced anchor)', async () => {
    const issuing = issuerCertificate(2, '10', { conditions: [{ type: 'Issuing', status: 'True' }] });
    const signed = [request(2, [issuerA]), request(3, [issuerB])];
    const read = async (certificate: CertificateObject, requests: CertificateRequestObject[]) => (await reader({ certificate: [certificate], watched: requests, served: () => requests, anchors: [a, b] }).reader.readSnapshot()).issuer;
    expect(await read(issuing, signed)).toMatchObject({ fingerprint: issuerA.fingerprint, chainsTo: a.fingerprint, signedRequest: { name: `${n.issuerCertificate}-3`, chainsTo: b.fingerprint } });
    // not signed yet, or not issuing (a request left from an earlier attempt): nothing to report
    expect((await read(issuing, [request(2, [issuerA]), request(3, undefined)]))?.signedRequest).toBeUndefined();
    expect((await read(issuerCertificate(2, '10'), signed))?.signedRequest).toBeUndefined();
    // one this process deleted is not reported again while the watch catches up
    const withUid = { ...signed[1]!, metadata: { ...signed[1]!.metadata, uid: 'request-uid-3' } };
    expect(signedNextRequestOf(issuing, [signed[0]!, withUid])?.name).toBe(`${n.issuerCertificate}-3`);
    expect(signedNextRequestOf(issuing, [signed[0]!, withUid], new Set(['request-uid-3']))).toBeUndefined();
  });

  it("ignores a request of the same revision owned by another Certificate or an earlier Certificate of the same name", async () => {
    const requests = [request(1, [issuerB], { owner: 'other', name: 'other-1' }), request(1, [issuerB], { uid: 'deleted-uid', name: 'old-1' }), request(1, [issuerA])];
    const { reader: r } = reader({ certificate: [issuerCertificate(1, '10')], watched: requests, served: () => requests, anchors: [a, b] });
    expect((await r.readSnapshot()).issuer?.fingerprint).toBe(issuerA.fingerprint);
  });

  it('never pairs a new revision with an old chain: after the Certificate moved, the requests are listed again before the snapshot', async () => {
    // The Certificate's watch delivered revision 2; the requests' watch has not delivered revision 2's issuance yet.
    const certificate = [issuerCertificate(1, '10')];
    const watched = [request(1, [issuerA]), request(2, undefined)];
    const served = [request(1, [issuerA]), request(2, undefined)];
    const { reader: r, lists } = reader({ certificate, watched, served: () => served, anchors: [a, b] });
    expect((await r.readSnapshot()).issuer?.fingerprint).toBe(issuerA.fingerprint);
    const before = lists.length;
    // cert-manager issues revision 2 (its request becomes Ready with the chain), then bumps status.revision.
    served[1] = { ...request(2, [issuerB]), metadata: { ...request(2, [issuerB]).metadata, resourceVersion: '202' } };
    certificate[0] = issuerCertificate(2, '11');
    const issuer = (await r.readSnapshot()).issuer;
    expect(lists.length).toBe(before + 1);
    expect(lists.at(-1)).toBe(`certificaterequests.cert-manager.io ${n.linkerdNamespace}`);
    expect(issuer).toMatchObject({ fingerprint: issuerB.fingerprint, chainsTo: b.fingerprint, revision: 2 });
    // Nothing moved: no further list.
    await r.readSnapshot();
    expect(lists.length).toBe(before + 1);
  });

  it('stops with what to do when the request of the current revision is gone (pruned, or issued before it was kept)', async () => {
    const requests = [request(1, [issuerA]), request(3, undefined)];
    const { reader: r } = reader({ certificate: [issuerCertificate(2, '10')], watched: requests, served: () => requests, anchors: [a, b] });
    const err = await r.readSnapshot().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as Error).message).toMatch(
      /^expected the CertificateRequest of Certificate linkerd\/linkerd-identity-issuer at revision 2 .*found none .*revisionHistoryLimit.*cmctl renew -n linkerd linkerd-identity-issuer.*then run again\. Its spec\.revisionHistoryLimit is unset \(1 since cert-manager v1\.18\).*set it to 2 or more\.$/,
    );
  });

  it('keeps the chain of the current revision through a renewal whose new request made cert-manager delete it (revisionHistoryLimit 1, its default)', async () => {
    const certificate = [issuerCertificate(2, '10')];
    const watched = [request(2, [issuerA])];
    const served = [request(2, [issuerA])];
    const { reader: r } = reader({ certificate, watched, served: () => served, anchors: [a, b] });
    expect((await r.readSnapshot()).issuer?.fingerprint).toBe(issuerA.fingerprint);
    // A renewal: the request of revision 3 is created, cert-manager's revisionmanager deletes revision 2's.
    watched.splice(0, 1, request(3, undefined));
    served.splice(0, 1, request(3, undefined));
    certificate[0] = issuerCertificate(2, '11', { conditions: [{ type: 'Issuing', status: 'True' }] });
    expect((await r.readSnapshot()).issuer).toMatchObject({ fingerprint: issuerA.fingerprint, revision: 2, issuing: 'true' });
    // Control: a reader that never saw revision 2's request cannot know its chain, and stops.
    const fresh = reader({ certificate, watched, served: () => served, anchors: [a, b] }).reader;
    await expect(fresh.readSnapshot()).rejects.toThrow(/at revision 2 .*found none/);
  });

  it('stops the same way when cert-manager took a Secret it never issued (Ready, no revision)', async () => {
    const { reader: r } = reader({ certificate: [issuerCertificate(undefined, '10', { notAfter: '2026-03-02T00:00:00Z' })], watched: [], served: () => [], anchors: [a, b] });
    await expect(r.readSnapshot()).rejects.toThrow(/found no revision: cert-manager never issued it/);
  });

  it('is absent while cert-manager is still issuing the first revision: the Secret written and the readiness controller already set notAfter, the issuing controller not yet status.revision (Issuing=True)', async () => {
    // cert-manager's issuing controller writes the Secret, then sets status.revision and removes
    // Issuing in one status update (pkg/controller/certificates/issuing/issuing_controller.go,
    // issueCertificate); its readiness controller, woken by the Secret, can set notAfter in between.
    const issuing = issuerCertificate(undefined, '10', { notAfter: '2026-03-02T00:00:00Z', conditions: [{ type: 'Issuing', status: 'True' }] });
    expect((await reader({ certificate: [issuing], watched: [request(1, [issuerA])], served: () => [request(1, [issuerA])], anchors: [a] }).reader.readSnapshot()).issuer).toBeUndefined();
  });

  it('is absent, as before the first issuance, when the Certificate has no revision and no certificate yet, or does not exist', async () => {
    expect((await reader({ certificate: [issuerCertificate(undefined, '10')], watched: [], served: () => [], anchors: [a] }).reader.readSnapshot()).issuer).toBeUndefined();
    expect((await reader({ certificate: [], watched: [request(1, [issuerA])], served: () => [request(1, [issuerA])], anchors: [a] }).reader.readSnapshot()).issuer).toBeUndefined();
  });

  it('keeps of a request only what the reader uses (no CSR, no other annotations)', () => {
    const cr = request(4, [issuerA]);
    slimCertificateRequest(cr);
    expect(cr).toEqual({
      apiVersion: 'cert-manager.io/v1',
      kind: 'CertificateRequest',
      metadata: {
        namespace: n.linkerdNamespace,
        name: `${n.issuerCertificate}-4`,
        resourceVersion: '104',
        creationTimestamp: new Date(Date.parse('2026-03-01T00:04:00Z')),
        annotations: { [CERTIFICATE_REVISION_ANNOTATION]: '4' },
        ownerReferences: [{ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', name: n.issuerCertificate, uid: CERT_UID, controller: true, blockOwnerDeletion: true }],
      },
      status: { certificate: Buffer.from(issuerA.certPem).toString('base64'), conditions: [{ type: 'Ready', status: 'True', reason: 'Issued' }] },
    });
  });
});
