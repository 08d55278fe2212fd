// libs/kube, the only code in linkerd-rotator that talks to the Kubernetes API. This entry point is
// what its parts share: API errors, the one list+watch layer and its feeds, and Linkerd's constants.
// The parts: `@linkerd-rotator/kube/rotation` (the rotation engine's adapter), `/caches` (the
// webhook's and the exporter's snapshots) and `/testing` (a fake API server and test doubles).
export { KubeConfig } from '@kubernetes/client-node';
export { KubeApiError, type KubeErrorKind, type KubeOperation } from './errors.js';
export { Collection, whenSynced, type AnyCollection, type CollectionHealth, type CollectionLogger, type CollectionOptions, type Feed } from './collection.js';
export { configMapsEverywhereFeed, namedConfigMapFeed, namedSecretFeed, podsFeed, type NamedObject } from './feeds.js';
export { reuseConnections } from './connections.js';
export { loadKubeConfig } from './kubeconfig.js';
export { anchorPemOf, crossSignerPemOf, secretText } from './slim.js';
export * from './linkerd.js';
