// In-place reductions of the objects a cache holds: a Secret keeps its certificates but never a key,
// and a skeleton keeps only what ListWatch itself needs to follow an object.
import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import { ANCHOR_CERT_KEY, CROSS_SIGNER_CERT_KEY } from '@linkerd-rotator/names';

const KEPT_SECRET_KEYS = new Set(['tls.crt', 'ca.crt', ANCHOR_CERT_KEY, CROSS_SIGNER_CERT_KEY]);
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Removes private material from a Secret in place: every data key but tls.crt, ca.crt, anchor.crt and cross-signer.crt (certificates only), and the
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

/** Reduces a cached object to what ListWatch itself needs (name, namespace, resourceVersion, uid), in place. */
export function skeleton<T extends KubernetesObject>(obj: T): T {
  const { name, namespace, resourceVersion, uid } = obj.metadata ?? {};
  for (const key of Object.keys(obj)) {
    if (key !== 'apiVersion' && key !== 'kind') delete (obj as Record<string, unknown>)[key];
  }
  obj.metadata = { name, namespace, resourceVersion, uid };
  return obj;
}

/** The PEM of a Secret's data key (base64-decoded); undefined when absent. */
export function secretText(secret: Pick<V1Secret, 'data'> | undefined, key: string): string | undefined {
  const value = secret?.data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

/**
 * The anchor an anchor Secret holds, as PEM: `anchor.crt` when present (the active Secret since
 * cross-signing: its `tls.crt` may be the cross-signature X), else `tls.crt` (the prepared and
 * previous Secrets, and an active Secret written before anchor.crt existed). One rule for the
 * runner, the webhook and the exporter.
 */
export function anchorPemOf(secret: Pick<V1Secret, 'data'> | undefined): string | undefined {
  return secretText(secret, ANCHOR_CERT_KEY) ?? secretText(secret, 'tls.crt');
}

/**
 * The anchor that signed the cross-signature an active-anchor Secret carries in tls.crt, as PEM
 * (`cross-signer.crt`); undefined when tls.crt is the anchor itself or the Secret predates the key.
 */
export function crossSignerPemOf(secret: Pick<V1Secret, 'data'> | undefined): string | undefined {
  return secretText(secret, CROSS_SIGNER_CERT_KEY);
}
