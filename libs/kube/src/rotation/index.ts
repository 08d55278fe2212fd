// The rotation engine's Kubernetes adapter (`@linkerd-rotator/kube/rotation`): every port of
// libs/rotation over list+watch caches and API calls, created with `createRotationAdapter`.
export { createRotationAdapter, type RotationAdapter, type RotationAdapterOptions } from './adapter.js';
export type { AnchorSecretFacts } from './anchors.js';
export type { ClusterCache } from './cache.js';
export type { AdapterContext, AdapterLogger } from './context.js';
export type { InjectorAnswer } from './injector.js';
export { anchorFactsOf, type CertificateObject, type CertificateRequestObject } from './pki-facts.js';
export { manuallyTriggered } from './renewals.js';
export type { KubeClusterReader, ReadOptions } from './reader.js';
export type { RequestCount, RequestStats } from './request-stats.js';
export { wakeOn, type WakeOptions } from './wake.js';
