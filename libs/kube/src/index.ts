// The only code in linkerd-rotator that talks to the Kubernetes API, behind small interfaces
// (TrustSnapshotSource, ...) that the webhook and the rotation engine depend on.
export * from './names.js';
export * from './snapshot.js';
export * from './projections.js';
export * from './informer-cache.js';
export { KubeConfig } from '@kubernetes/client-node';
/** Test double: an in-process API server serving list/watch of Secrets and ConfigMaps. */
export { FakeApiServer, type FakeObject } from './fake-apiserver.js';
/** The rotation engine's Kubernetes adapter (every port of libs/rotation). */
export * from './rotation/index.js';
export * from './exporter-cache.js';
