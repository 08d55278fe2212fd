// Pure projections from Kubernetes objects to snapshot views: decode the certificate fields and
// drop everything else, so private keys never reach the snapshot.
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { BundleView, CertificateView, IssuerView, RotationStateView } from './snapshot.js';

export function describeObject(kind: string, namespace: string | undefined, name: string | undefined): string {
  return `${kind} ${namespace ?? ''}/${name ?? ''}`;
}

function decode(value: string | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

/** tls.crt of an anchor Secret; undefined when the Secret has none. */
export function certificateViewOf(secret: V1Secret): CertificateView | undefined {
  const certPem = decode(secret.data?.['tls.crt']);
  if (certPem === undefined) return undefined;
  return { source: describeObject('Secret', secret.metadata?.namespace, secret.metadata?.name), certPem };
}

export function issuerViewOf(secret: V1Secret): IssuerView | undefined {
  const view = certificateViewOf(secret);
  if (view === undefined) return undefined;
  const caPem = decode(secret.data?.['ca.crt']);
  return caPem === undefined ? view : { ...view, caPem };
}

export function bundleViewOf(configMap: V1ConfigMap, key: string): BundleView | undefined {
  const pem = configMap.data?.[key] ?? decode(configMap.binaryData?.[key]);
  if (pem === undefined) return undefined;
  return { source: describeObject('ConfigMap', configMap.metadata?.namespace, configMap.metadata?.name), pem };
}

const FINGERPRINT = /^[0-9a-f]{64}$/;

/**
 * The rotation state's view for the webhook: `data.phase` and `data.requiredAnchors` (SHA-256 DER
 * fingerprints, separated by commas or whitespace). Unreadable content becomes `problem`.
 */
export function rotationStateViewOf(configMap: V1ConfigMap): RotationStateView {
  const source = describeObject('ConfigMap', configMap.metadata?.namespace, configMap.metadata?.name);
  const phase = configMap.data?.['phase']?.trim() ?? '';
  const raw = configMap.data?.['requiredAnchors'] ?? '';
  const entries = raw.split(/[\s,]+/).filter((s) => s !== '').map((s) => s.toLowerCase());
  const bad = entries.filter((e) => !FINGERPRINT.test(e));
  const view: RotationStateView = { source, phase, requiredAnchorFingerprints: entries.filter((e) => FINGERPRINT.test(e)) };
  if (bad.length > 0) {
    view.problem = `data.requiredAnchors of ${source} holds ${bad.length} entr${bad.length === 1 ? 'y' : 'ies'} that are not SHA-256 hex fingerprints`;
  }
  return view;
}

const KEPT_SECRET_KEYS = new Set(['tls.crt', 'ca.crt']);
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Removes private material from a Secret in place: every data key but tls.crt and ca.crt, and the
 * `kubectl apply` annotation, which holds a full copy of the Secret's data. Done in place because
 * the informer's own cache holds this very object.
 */
export function stripSecret(secret: V1Secret): V1Secret {
  if (secret.data) {
    for (const key of Object.keys(secret.data)) {
      if (!KEPT_SECRET_KEYS.has(key)) delete secret.data[key];
    }
  }
  delete (secret as { stringData?: unknown }).stringData;
  if (secret.metadata) {
    delete secret.metadata.managedFields;
    if (secret.metadata.annotations) delete secret.metadata.annotations[LAST_APPLIED];
  }
  return secret;
}
