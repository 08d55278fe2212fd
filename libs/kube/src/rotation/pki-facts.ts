// The PKI objects as rotation facts: anchor Secrets as fingerprints, cert-manager Certificates as
// Issuing/revision, trust-roots ConfigMaps as bundle hashes, identity Events as timestamps.
// Certificates are parsed once per distinct text; no key material is ever read here (I5).
import type { CoreV1Event, KubernetesObject, V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { AnchorFacts, BundleFacts, IdentityEvent, IdentityEventReason, IssuerSigningFacts, IssuingFacts, PublicViewFacts } from '@linkerd-rotator/rotation';
import { BundleCache, sha256Hex, type ParsedCertificate } from '@linkerd-rotator/x509';
import { decodePublicPki } from '../caches/public-pki.js';
import { anchorPemOf } from '../slim.js';

/** The fields of a cert-manager.io/v1 Certificate the rotator reads and writes. */
export interface CertificateObject extends KubernetesObject {
  spec?: { secretName?: string; issuerRef?: { name?: string; kind?: string; group?: string } };
  status?: {
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string; observedGeneration?: number }>;
    revision?: number;
    lastFailureTime?: string;
    failedIssuanceAttempts?: number;
    notBefore?: string;
    notAfter?: string;
    renewalTime?: string;
  };
}

type Condition = { type: string; status: string; reason?: string; message?: string };

/** The fields of a cert-manager.io/v1 ClusterIssuer the rotator reads: the Secret of a CA issuer, and why it is not Ready. */
export interface ClusterIssuerObject extends KubernetesObject {
  spec?: { ca?: { secretName?: string } };
  status?: { conditions?: Condition[] };
}

/** Keeps a ClusterIssuer's name, `spec.ca.secretName` and a Ready condition that is not True (why it cannot sign). */
export function slimClusterIssuer(issuer: ClusterIssuerObject): void {
  const secretName = issuer.spec?.ca?.secretName;
  const notReady = issuer.status?.conditions?.find((c) => c.type === 'Ready' && c.status !== 'True');
  if (issuer.metadata) delete issuer.metadata.managedFields;
  issuer.spec = secretName !== undefined ? { ca: { secretName } } : {};
  if (notReady) issuer.status = { conditions: [{ type: notReady.type, status: notReady.status, ...(notReady.reason ? { reason: notReady.reason } : {}), ...(notReady.message ? { message: notReady.message } : {}) }] };
  else delete issuer.status;
}

/** "reason: message" of a condition, for the operator. */
function conditionText(c: Condition): string {
  return [c.reason, c.message].filter(Boolean).join(': ') || `${c.type}=${c.status}`;
}

/**
 * What signs the identity issuer: the issuer Certificate's `spec.issuerRef` (cert-manager's defaults:
 * kind Issuer, group cert-manager.io; another group is named in the kind, so it never passes for
 * ours) and the configured ClusterIssuer's CA Secret.
 */
export function issuerSigningFactsOf(clusterIssuer: ClusterIssuerObject | undefined, certificate: CertificateObject | undefined): IssuerSigningFacts {
  const ref = certificate?.spec?.issuerRef;
  const group = ref?.group;
  const kind = `${ref?.kind || 'Issuer'}${group && group !== 'cert-manager.io' ? `.${group}` : ''}`;
  const secretName = clusterIssuer?.spec?.ca?.secretName;
  const notReady = clusterIssuer?.status?.conditions?.find((c) => c.type === 'Ready' && c.status !== 'True');
  return {
    clusterIssuer: clusterIssuer
      ? { found: true, ...(secretName !== undefined ? { caSecretName: secretName } : {}), ...(notReady ? { notReady: conditionText(notReady) } : {}) }
      : { found: false },
    ...(ref?.name ? { certificateIssuerRef: { kind, name: ref.name } } : {}),
  };
}

const parsed = new BundleCache(256);

/** Certificates in a PEM text (cached by the text's hash: bundles and env values repeat a lot). */
export function certificatesOf(pem: string): readonly ParsedCertificate[] {
  return parsed.parse(pem).certificates;
}

export { secretText as decodeSecretKey } from '../slim.js';

export function anchorFactsOfCertificate(cert: ParsedCertificate): AnchorFacts {
  return { fingerprint: cert.fingerprint, publicKeyFingerprint: cert.spkiFingerprint, notBefore: cert.notBefore.getTime(), notAfter: cert.notAfter.getTime() };
}

/** The anchor of an anchor Secret (`anchorPemOf`: anchor.crt, else tls.crt); undefined when missing or unparsable. */
export function anchorFactsOf(secret: V1Secret | undefined): AnchorFacts | undefined {
  const pem = anchorPemOf(secret);
  const first = pem === undefined ? undefined : certificatesOf(pem)[0];
  return first ? anchorFactsOfCertificate(first) : undefined;
}

/**
 * The anchors the public PKI view holds (libs/kube caches `decodePublicPki`: the same anchorPemOf
 * rule as the Secrets); undefined when there is no view. A view that cannot be read holds none, so
 * a gate on it waits for the exporter to rewrite it.
 */
export function publicViewFactsOf(configMap: V1ConfigMap | undefined): PublicViewFacts | undefined {
  if (configMap === undefined) return undefined;
  const decoded = decodePublicPki(configMap);
  if (!decoded.ok) return {};
  const facts: { -readonly [K in keyof PublicViewFacts]: PublicViewFacts[K] } = {};
  for (const [role, view] of [['prepared', decoded.pki.preparedAnchor], ['active', decoded.pki.activeAnchor], ['previous', decoded.pki.previousAnchor]] as const) {
    const fingerprint = view && certificatesOf(view.certPem)[0]?.fingerprint;
    if (fingerprint !== undefined) facts[role] = fingerprint;
  }
  return facts;
}

/** cert-manager's view of one Certificate: issuing now, revision, last failure. */
export function issuingFactsOf(cert: CertificateObject | undefined): IssuingFacts {
  const status = cert?.status;
  const issuing = status?.conditions?.find((c) => c.type === 'Issuing');
  const failedAt = status?.lastFailureTime ? Date.parse(status.lastFailureTime) : undefined;
  const failure = issuing?.status === 'False' ? conditionText(issuing) : undefined;
  return {
    issuing: issuing?.status === 'True' ? 'true' : issuing?.status === 'False' ? 'false' : 'absent',
    revision: status?.revision ?? 0,
    ...(failedAt !== undefined && Number.isFinite(failedAt) ? { lastFailureAt: failedAt } : {}),
    ...(failure ? { lastFailureMessage: failure } : {}),
  };
}

/** A trust-roots ConfigMap as the hash Linkerd's injector stamps and the anchors it holds. */
export function bundleFactsOf(cm: V1ConfigMap, key: string): BundleFacts | undefined {
  const text = cm.data?.[key] ?? (cm.binaryData?.[key] !== undefined ? Buffer.from(cm.binaryData[key] as string, 'base64').toString('utf8') : undefined);
  if (text === undefined) return undefined;
  return { namespace: cm.metadata?.namespace ?? '', sha256: sha256Hex(text), anchors: certificatesOf(text).map((c) => c.fingerprint) };
}

const IDENTITY_REASONS = new Set<string>(['IssuerUpdated', 'IssuerUpdateSkipped', 'IssuerValidationFailed']);

function eventTime(e: CoreV1Event): number | undefined {
  const candidates = [e.lastTimestamp, e.series?.lastObservedTime, e.eventTime, e.firstTimestamp, e.metadata?.creationTimestamp];
  for (const value of candidates) {
    if (value === undefined || value === null) continue;
    const ms = value instanceof Date ? value.getTime() : Date.parse(String(value));
    if (Number.isFinite(ms)) return ms;
  }
  return undefined;
}

/** The identity controller's issuer events (an aggregated Event counts at its last timestamp). */
export function identityEventOf(e: CoreV1Event): IdentityEvent | undefined {
  if (!e.reason || !IDENTITY_REASONS.has(e.reason)) return undefined;
  const at = eventTime(e);
  if (at === undefined) return undefined;
  return { reason: e.reason as IdentityEventReason, at, ...(e.message ? { message: e.message.slice(0, 300) } : {}) };
}

/** Keeps tls.crt and ca.crt of a Secret, in place; the key and the kubectl apply copy are dropped. */
export { stripSecret as slimSecret } from '../slim.js';

/** Keeps an Event's reason, message, times and subject. */
export function slimEvent(e: CoreV1Event): void {
  if (e.metadata) delete e.metadata.managedFields;
  delete (e as { source?: unknown }).source;
  delete (e as { related?: unknown }).related;
}

/** Drops managed fields (the bulk of a Certificate or ConfigMap we only read a few fields of). */
export function slimMeta(obj: KubernetesObject): void {
  if (obj.metadata) delete obj.metadata.managedFields;
}
