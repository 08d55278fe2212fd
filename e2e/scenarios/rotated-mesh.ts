// The end state of a zero-downtime rotation (scenarios 1 and 3 of issue 6), checked the same way on
// both tiers: one anchor trusted everywhere, the issuer under it, every meshed pod restarted onto it.
import { X509Certificate } from 'node:crypto';
import { sha256Hex } from '@linkerd-rotator/x509';
import { fingerprintOf, fingerprintsOf } from '../support/certs.js';
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
