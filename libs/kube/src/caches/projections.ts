// Pure projections from Kubernetes objects to snapshot views: decode the certificate fields and the
// trust facts, drop everything else, so private keys and pod specs never reach a snapshot.
import { createHash } from 'node:crypto';
import type { V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';
import { describePhase, parseState, recovering, requiredAnchors } from '@linkerd-rotator/rotation';
import { proxyContainer, TRUST_ANCHORS_ENV, TRUST_ROOT_ANNOTATION } from '../linkerd.js';
import { anchorPemOf, crossSignerPemOf, secretText } from '../slim.js';
import type { BundleView, CertificateView, IssuerView, MeshedPodView, RotationStateView, StateDataView, TrustRootsView } from './snapshot.js';

export function describeObject(kind: string, namespace: string | undefined, name: string | undefined): string {
  return `${kind} ${namespace ?? ''}/${name ?? ''}`;
}

function certificateView(secret: V1Secret, certPem: string | undefined): CertificateView | undefined {
  return certPem === undefined ? undefined : { source: describeObject('Secret', secret.metadata?.namespace, secret.metadata?.name), certPem };
}

/**
 * The anchor of an anchor Secret (`anchorPemOf`: anchor.crt, else tls.crt), never the active Secret's
 * tls.crt when that is a cross-signature; undefined when the Secret has neither.
 */
export function anchorViewOf(secret: V1Secret): CertificateView | undefined {
  const view = certificateView(secret, anchorPemOf(secret));
  const crossSignerPem = crossSignerPemOf(secret);
  return view === undefined || crossSignerPem === undefined ? view : { ...view, crossSignerPem };
}

/** The identity issuer Secret: tls.crt (the issuer, then its chain, e.g. [I_B, X]) and ca.crt, never the key. */
export function issuerViewOf(secret: V1Secret): IssuerView | undefined {
  const view = certificateView(secret, secretText(secret, 'tls.crt'));
  if (view === undefined) return undefined;
  const caPem = secretText(secret, 'ca.crt');
  return caPem === undefined ? view : { ...view, caPem };
}

export function bundleViewOf(configMap: V1ConfigMap, key: string): BundleView | undefined {
  const pem = configMap.data?.[key] ?? secretText({ data: configMap.binaryData }, key);
  if (pem === undefined) return undefined;
  return { source: describeObject('ConfigMap', configMap.metadata?.namespace, configMap.metadata?.name), pem };
}

/** A trust-roots ConfigMap in any namespace, recorded also when it lacks the bundle key. */
export function trustRootsViewOf(configMap: V1ConfigMap, key: string): TrustRootsView {
  const namespace = configMap.metadata?.namespace ?? '';
  const bundle = bundleViewOf(configMap, key);
  return { namespace, source: describeObject('ConfigMap', namespace, configMap.metadata?.name), ...(bundle ? { pem: bundle.pem } : {}) };
}

/** The state ConfigMap's data as the rotation engine wrote it. */
export function stateDataViewOf(configMap: V1ConfigMap): StateDataView {
  return { source: describeObject('ConfigMap', configMap.metadata?.namespace, configMap.metadata?.name), data: { ...(configMap.data ?? {}) } };
}

/**
 * A pod's trust facts when it runs a Linkerd proxy (as a container, an init container or a native
 * sidecar) and has not terminated; undefined otherwise. `anchorsOf` turns a literal anchors env into
 * fingerprints (the exporter keeps the certificates themselves once, not per pod).
 */
export function meshedPodViewOf(pod: V1Pod, options: { readonly anchorsOf?: (pem: string) => string[] } = {}): MeshedPodView | undefined {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  const proxy = proxyContainer(pod);
  if (!proxy) return undefined;
  const env = proxy.env?.find((e) => e.name === TRUST_ANCHORS_ENV);
  const trustFromConfigMap = env?.valueFrom?.configMapKeyRef !== undefined;
  const annotation = pod.metadata?.annotations?.[TRUST_ROOT_ANNOTATION];
  const trustRootSha256 = annotation ?? (env?.value !== undefined ? createHash('sha256').update(env.value).digest('hex') : undefined);
  const start = pod.status?.startTime ?? pod.metadata?.creationTimestamp;
  const view: MeshedPodView = { namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '', trustFromConfigMap };
  if (trustRootSha256 !== undefined) view.trustRootSha256 = trustRootSha256;
  // As the rotation adapter reads pods: a literal anchors env is what the proxy trusts, exactly.
  if (env?.value !== undefined && !trustFromConfigMap && options.anchorsOf) view.trustedAnchors = options.anchorsOf(env.value);
  if (start !== undefined) view.startTime = new Date(start).getTime();
  return view;
}

/**
 * What the rotation state requires of every bundle (libs/rotation `requiredAnchors`), read from the
 * ConfigMap with libs/rotation `parseState`: a missing key is an idle state, and a state that does
 * not parse becomes `problem` with the parser's message (the webhook then fails closed).
 */
export function rotationStateViewOf(configMap: V1ConfigMap): RotationStateView {
  const source = describeObject('ConfigMap', configMap.metadata?.namespace, configMap.metadata?.name);
  const parsed = parseState(configMap.data);
  if (!parsed.ok) return { source, phase: 'unknown', requiredAnchorFingerprints: [], problem: `${source}: ${parsed.message}` };
  return { source, phase: describePhase(parsed.state), requiredAnchorFingerprints: requiredAnchors(parsed.state), ...(recovering(parsed.state) ? { recovering: true } : {}) };
}
