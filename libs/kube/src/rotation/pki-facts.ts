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
  spec?: { secretName?: string; issuerRef?: { name?: string; kind?: string; group?: string }; revisionHistoryLimit?: number };
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

/** cert-manager's annotation on a CertificateRequest: the revision of its Certificate it issues. */
export const CERTIFICATE_REVISION_ANNOTATION = 'cert-manager.io/certificate-revision';

/**
 * The fields of a cert-manager.io/v1 CertificateRequest the runner reads (after `slimCertificateRequest`):
 * its owner, revision, Ready condition and `status.certificate` (base64 PEM, public; a request never
 * holds a private key).
 */
export interface CertificateRequestObject extends KubernetesObject {
  status?: { certificate?: string; conditions?: Condition[] };
}

/** Keeps a CertificateRequest's name, owners, revision annotation, issued chain and Ready condition (no CSR). */
export function slimCertificateRequest(request: CertificateRequestObject): void {
  const meta = request.metadata;
  if (meta) {
    delete meta.managedFields;
    delete meta.labels;
    const revision = meta.annotations?.[CERTIFICATE_REVISION_ANNOTATION];
    if (revision !== undefined) meta.annotations = { [CERTIFICATE_REVISION_ANNOTATION]: revision };
    else delete meta.annotations;
    const owners = meta.ownerReferences?.filter((o) => o.kind === 'Certificate');
    if (owners?.length) meta.ownerReferences = owners;
    else delete meta.ownerReferences;
  }
  delete (request as { spec?: unknown }).spec;
  const certificate = request.status?.certificate;
  const ready = request.status?.conditions?.find((c) => c.type === 'Ready');
  request.status = { ...(certificate ? { certificate } : {}), ...(ready ? { conditions: [{ type: ready.type, status: ready.status, ...(ready.reason ? { reason: ready.reason } : {}) }] } : {}) };
}

/**
 * The chain cert-manager wrote into a Certificate's Secret (`tls.crt`), read without the Secret: the
 * `status.certificate` of the CertificateRequest that issued the Certificate's current revision.
 * cert-manager's issuing controller writes the Secret from that request and only then sets
 * `status.revision` to the request's revision annotation, so the two always name the same chain.
 * Undefined when the Certificate does not exist or has no certificate yet (also while its first
 * revision is being issued, Issuing=True); `missing` when it has one
 * whose request cannot be found (pruned by `revisionHistoryLimit`, deleted, or never issued by
 * cert-manager).
 */
export function issuedChainOf(certificate: CertificateObject | undefined, requests: Iterable<CertificateRequestObject>): { pem: string; revision: number } | { missing: string } | undefined {
  if (!certificate) return undefined;
  const revision = certificate.status?.revision;
  if (revision === undefined) {
    // Still issuing its first revision: cert-manager writes the Secret, then sets status.revision and
    // removes Issuing in one update, and its readiness controller may set notAfter in between.
    const issuing = certificate.status?.conditions?.some((c) => c.type === 'Issuing' && c.status === 'True');
    if (certificate.status?.notAfter === undefined || issuing) return undefined;
    return { missing: 'found no revision: cert-manager never issued it (it took over a Secret that already held a valid certificate), so no CertificateRequest holds its chain' };
  }
  const name = certificate.metadata?.name;
  const uid = certificate.metadata?.uid;
  let found: CertificateRequestObject | undefined;
  for (const request of requests) {
    if (request.metadata?.namespace !== certificate.metadata?.namespace || request.metadata?.annotations?.[CERTIFICATE_REVISION_ANNOTATION] !== String(revision)) continue;
    if (!request.metadata?.ownerReferences?.some((o) => o.kind === 'Certificate' && o.name === name && (uid === undefined || o.uid === uid))) continue;
    const ready = request.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status !== 'True' || !request.status?.certificate) continue;
    if (!found || createdAt(request) > createdAt(found)) found = request;
  }
  if (!found?.status?.certificate) return { missing: 'found none (pruned by the Certificate\'s spec.revisionHistoryLimit, deleted, or issued before cert-manager kept requests)' };
  return { pem: Buffer.from(found.status.certificate, 'base64').toString('utf8'), revision };
}

/**
 * The CertificateRequest of a Certificate's next revision when cert-manager has signed it (Ready=True,
 * `status.certificate`) but not stored it yet: while Issuing=True, after signing, the issuing
 * controller only retries writing the Secret (a write the webhook refuses is retried for ever).
 */
export function signedNextRequestOf(certificate: CertificateObject | undefined, requests: Iterable<CertificateRequestObject>, discarded: ReadonlySet<string> = new Set()): { name: string; pem: string } | undefined {
  const issuing = certificate?.status?.conditions?.some((c) => c.type === 'Issuing' && c.status === 'True');
  if (!certificate || !issuing) return undefined;
  const next = String((certificate.status?.revision ?? 0) + 1);
  const uid = certificate.metadata?.uid;
  for (const request of requests) {
    if (request.metadata?.namespace !== certificate.metadata?.namespace || request.metadata?.annotations?.[CERTIFICATE_REVISION_ANNOTATION] !== next) continue;
    if (!request.metadata?.ownerReferences?.some((o) => o.kind === 'Certificate' && o.name === certificate.metadata?.name && (uid === undefined || o.uid === uid))) continue;
    if (request.metadata.uid !== undefined && discarded.has(request.metadata.uid)) continue;
    const ready = request.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True' && request.status?.certificate && request.metadata.name) return { name: request.metadata.name, pem: Buffer.from(request.status.certificate, 'base64').toString('utf8') };
  }
  return undefined;
}

function createdAt(obj: KubernetesObject): number {
  const at = obj.metadata?.creationTimestamp;
  return at === undefined ? 0 : new Date(at).getTime();
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
    ...(certificate?.spec?.revisionHistoryLimit !== undefined ? { revisionHistoryLimit: certificate.spec.revisionHistoryLimit } : {}),
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
