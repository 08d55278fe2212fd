// The list+watch feeds more than one cache shares: a Secret or ConfigMap by name in its namespace,
// a ConfigMap by name in every namespace, and pods by label. Each is field-selected by name where
// it can be, so the chart's RBAC can name the objects (resourceNames).
import type { CoreV1Api, V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { Feed } from './collection.js';
import { stripSecret } from './slim.js';

export interface NamedObject {
  readonly namespace: string;
  readonly name: string;
}

/** The field selector of one object name. */
export const byName = (name: string) => `metadata.name=${name}`;

/** One Secret by name, with every key but tls.crt and ca.crt dropped on arrival. */
export function namedSecretFeed(core: CoreV1Api, { namespace, name }: NamedObject): Feed<V1Secret> {
  return {
    name: `Secret ${namespace}/${name}`,
    path: `/api/v1/namespaces/${namespace}/secrets`,
    fieldSelector: byName(name),
    operation: { verb: 'list', resource: 'secrets', namespace, name },
    list: () => core.listNamespacedSecret({ namespace, fieldSelector: byName(name) }),
    slim: stripSecret,
  };
}

/** One ConfigMap by name in its namespace. */
export function namedConfigMapFeed(core: CoreV1Api, { namespace, name }: NamedObject): Feed<V1ConfigMap> {
  return {
    name: `ConfigMap ${namespace}/${name}`,
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    fieldSelector: byName(name),
    operation: { verb: 'list', resource: 'configmaps', namespace, name },
    list: () => core.listNamespacedConfigMap({ namespace, fieldSelector: byName(name) }),
  };
}

/** The ConfigMaps of one name in every namespace (trust-manager's targets). */
export function configMapsEverywhereFeed(core: CoreV1Api, name: string): Feed<V1ConfigMap> {
  return {
    name: `ConfigMaps ${name} (all namespaces)`,
    path: '/api/v1/configmaps',
    fieldSelector: byName(name),
    operation: { verb: 'list', resource: 'configmaps', name },
    list: () => core.listConfigMapForAllNamespaces({ fieldSelector: byName(name) }),
  };
}

/** Pods in every namespace, all of them or those matching `labelSelector`. */
export function podsFeed(core: CoreV1Api, labelSelector?: string): Feed<V1Pod> {
  return {
    name: labelSelector ? `pods (selector ${labelSelector})` : 'pods',
    path: '/api/v1/pods',
    ...(labelSelector ? { labelSelector } : {}),
    operation: { verb: 'list', resource: 'pods' },
    list: (page) => core.listPodForAllNamespaces({ ...(labelSelector ? { labelSelector } : {}), ...page }),
  };
}
