// The end state of a zero-downtime rotation, checked the same way on both tiers: one anchor in every
// bundle, the issuer under it, and every meshed pod restarted onto it (restart) or trusting it or A through X (cross-signed).
import { X509Certificate } from 'node:crypto';
import { sha256Hex } from '@linkerd-rotator/x509';
import { certificatePems, fingerprintOf, fingerprintsOf } from '../support/certs.js';
import { getJson, secretData, trustRootsPem } from '../support/objects.js';
import { isLive, podId, proxyContainer, type PodInfo } from '../support/pods.js';
import type { TestCluster } from '../support/test-cluster.js';

export interface RotatedMesh {
  /** The anchor the rotation ended on, PEM. */
  anchorPem: string;
  /** When the run started: every meshed pod must have started in that second or later. */
  rotationStartedAt: Date;
  /** The namespace of every data-plane pod expected, one entry per pod (any order). */
  dataPlaneNamespaces: string[];
}

/** Asserts the end state of a rotation to `expected.anchorPem`. */
export async function expectMeshRotatedTo(cluster: TestCluster, expected: RotatedMesh): Promise<void> {
  const { names } = cluster;
  const anchor = fingerprintOf(expected.anchorPem);
  // The new anchor is the only one trusted, and it signs Linkerd's identity issuer.
  const bundle = await trustRootsPem(cluster);
  expect(fingerprintsOf(bundle)).toEqual([anchor]);
  const issuer = (await secretData(cluster, names.linkerdNamespace, names.issuerSecret))['tls.crt']!;
  expect(new X509Certificate(issuer).verify(new X509Certificate(expected.anchorPem).publicKey)).toBe(true);

  // Every meshed pod started during the rotation (whole seconds: the API server keeps no finer time).
  const pods = (await getJson<{ items: PodInfo[] }>(cluster, ['get', 'pods', '-A', '-l', `linkerd.io/control-plane-ns=${names.linkerdNamespace}`])).items.filter(isLive);
  const startedSecond = Math.floor(expected.rotationStartedAt.getTime() / 1000) * 1000;
  expect(pods.filter((p) => new Date(p.metadata.creationTimestamp).getTime() < startedSecond).map(podId)).toEqual([]);
  // Control-plane pods read the bundle through configMapKeyRef (their annotation hashes the empty
  // chart value under externalCA): fresh means started during this rotation, as checked above.
  const controlPlane = pods.filter((p) => p.metadata.labels?.['linkerd.io/control-plane-component']);
  const dataPlane = pods.filter((p) => !p.metadata.labels?.['linkerd.io/control-plane-component']);
  expect(controlPlane.length).toBeGreaterThanOrEqual(3);
  expect(dataPlane.map((p) => p.metadata.namespace).sort()).toEqual([...expected.dataPlaneNamespaces].sort());
  // The data plane started with exactly the new bundle.
  const hash = sha256Hex(bundle);
  expect(dataPlane.filter((p) => p.metadata.annotations?.['linkerd.io/trust-root-sha256'] !== hash).map(podId)).toEqual([]);
  const literalAnchors = (p: PodInfo) => proxyContainer(p)?.env?.find((e) => e.name === 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS')?.value;
  expect(
    dataPlane
      .filter((p) => literalAnchors(p) !== undefined && JSON.stringify(fingerprintsOf(literalAnchors(p)!)) !== JSON.stringify([anchor]))
      .map(podId),
  ).toEqual([]);
}

export interface CrossSignedMesh {
  /** The anchor the rotation ended on (B), and the one it replaced (A), PEM. */
  anchorPem: string;
  previousAnchorPem: string;
  /** The namespace of every data-plane pod expected, one entry per pod (any order). */
  dataPlaneNamespaces: string[];
  /**
   * The data plane's own verdicts on a pod (namespace/name): the issuer of the last leaf its proxy's
   * rustls-webpki accepted against the roots the pod started with, and how many leaves it refused.
   */
  proxyVerdict: (pod: string) => { acceptedLeafIssuer?: string; refusedLeaves: number } | undefined;
}

const spkiOf = (cert: X509Certificate) => cert.publicKey.export({ type: 'spki', format: 'der' }).toString('hex');

/**
 * Asserts the end state of a cross-signed rotation from A to B: every bundle holds only B; the
 * issuer is signed by B and, while A is valid, its chain carries X (B's subject and key, signed by
 * A, ending no later than A); every data-plane pod trusts B or A, and webpki accepted its proxy's
 * latest leaf from that issuer. Returns the pods that rely on X (they trust A and not B).
 */
export async function expectMeshCrossSignedTo(cluster: TestCluster, expected: CrossSignedMesh): Promise<string[]> {
  const { names } = cluster;
  const anchorB = new X509Certificate(expected.anchorPem);
  const anchorA = new X509Certificate(expected.previousAnchorPem);
  const fingerprintB = fingerprintOf(expected.anchorPem);
  const fingerprintA = fingerprintOf(expected.previousAnchorPem);
  expect(fingerprintsOf(await trustRootsPem(cluster))).toEqual([fingerprintB]);

  const issuerChain = certificatePems((await secretData(cluster, names.linkerdNamespace, names.issuerSecret))['tls.crt']!).map((pem) => new X509Certificate(pem));
  const [issuer, ...intermediates] = issuerChain;
  expect(issuer!.verify(anchorB.publicKey)).toBe(true);
  if (Date.now() < new Date(anchorA.validTo).getTime()) {
    const crossSignatures = intermediates.filter((c) => spkiOf(c) === spkiOf(anchorB) && c.subject === anchorB.subject && c.verify(anchorA.publicKey));
    expect(crossSignatures.map((x) => ({ issuedByA: x.issuer === anchorA.subject, endsByA: new Date(x.validTo) <= new Date(anchorA.validTo) }))).toEqual([{ issuedByA: true, endsByA: true }]);
  }

  const pods = (await getJson<{ items: PodInfo[] }>(cluster, ['get', 'pods', '-A', '-l', `linkerd.io/control-plane-ns=${names.linkerdNamespace}`])).items.filter(isLive);
  const dataPlane = pods.filter((p) => !p.metadata.labels?.['linkerd.io/control-plane-component']);
  expect(dataPlane.map((p) => p.metadata.namespace).sort()).toEqual([...expected.dataPlaneNamespaces].sort());
  const trusted = (p: PodInfo) => fingerprintsOf(proxyContainer(p)?.env?.find((e) => e.name === 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS')?.value ?? '');
  expect(dataPlane.filter((p) => !trusted(p).includes(fingerprintB) && !trusted(p).includes(fingerprintA)).map(podId)).toEqual([]);
  // webpki decides: the leaf each proxy uses now came from the new issuer and chained to its own roots.
  const issuerFingerprint = sha256Hex(issuer!.raw);
  const verdicts = dataPlane.map((p) => ({ pod: podId(p), verdict: expected.proxyVerdict(podId(p)) }));
  expect(verdicts.filter(({ verdict }) => verdict?.acceptedLeafIssuer !== issuerFingerprint || verdict.refusedLeaves !== 0)).toEqual([]);
  return dataPlane.filter((p) => !trusted(p).includes(fingerprintB)).map(podId).sort();
}
