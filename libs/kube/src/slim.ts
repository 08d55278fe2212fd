// In-place reductions of the objects a cache holds: a Secret keeps its certificates but never a key,
// and a skeleton keeps only what ListWatch itself needs to follow an object.
import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';

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

/** Reduces a cached object to what ListWatch itself needs (name, namespace, resourceVersion, uid), in place. */
export function skeleton<T extends KubernetesObject>(obj: T): T {
  const { name, namespace, resourceVersion, uid } = obj.metadata ?? {};
  for (const key of Object.keys(obj)) {
    if (key !== 'apiVersion' && key !== 'kind') delete (obj as Record<string, unknown>)[key];
  }
  obj.metadata = { name, namespace, resourceVersion, uid };
  return obj;
}
