// Reading the objects the e2e tests check, on either tier's cluster: any object as JSON, a Secret's
// data decoded, and the trust roots Linkerd reads. Names default to the chart's (libs/names).
import { ANCHOR_CERT_KEY } from '@linkerd-rotator/names';
import { certificatePems } from './certs.js';
import { objectNames } from './release.js';
import type { Kubectl } from './test-cluster.js';

/** `kubectl <args> -o json`, parsed. */
export async function getJson<T>(cluster: Kubectl, args: string[]): Promise<T> {
  return JSON.parse((await cluster.kubectl([...args, '-o', 'json'])).stdout) as T;
}

/** A Secret's data, base64-decoded. */
export async function secretData(cluster: Kubectl, namespace: string, name: string): Promise<Record<string, string>> {
  const secret = await getJson<{ data?: Record<string, string> }>(cluster, ['-n', namespace, 'get', 'secret', name]);
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString()]));
}

/** The trust-roots ConfigMap's bundle (ca-bundle.crt) in Linkerd's namespace, byte for byte. */
export async function trustRootsPem(cluster: Kubectl, namespace: string = objectNames.linkerdNamespace): Promise<string> {
  const configMap = await getJson<{ data?: Record<string, string> }>(cluster, ['-n', namespace, 'get', 'configmap', objectNames.trustRootsConfigMap]);
  return configMap.data?.[objectNames.trustRootsKey] ?? '';
}

/**
 * The anchor an anchor Secret holds (libs/kube's rule): `anchor.crt` when present (the active Secret
 * after a cross-signed promotion, whose `tls.crt` is the cross-signature X), else the first of `tls.crt`.
 */
export async function anchorPem(cluster: Kubectl, namespace: string, name: string): Promise<string> {
  const data = await secretData(cluster, namespace, name);
  const pem = data[ANCHOR_CERT_KEY] || (data['tls.crt'] && certificatePems(data['tls.crt'])[0]);
  if (!pem) throw new Error(`expected Secret ${namespace}/${name} to hold ${ANCHOR_CERT_KEY} or tls.crt, found keys ${Object.keys(data).join(', ') || 'none'}; check the runner's last write`);
  return pem;
}
