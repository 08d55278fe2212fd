// The caches of the admission webhook and the PKI health exporter (`@linkerd-rotator/kube/caches`):
// snapshots projected from the shared list+watch layer, read by the apps without any I/O.
export * from './snapshot.js';
export { TrustCache, type CacheOptions } from './trust-cache.js';
export { ExporterCache, type ExporterCacheOptions } from './exporter-cache.js';
export { issuerChainOf, type IssuerChain, type IssuerChainInput } from './issuer-chain.js';
export { WebhookConfigurationCache, webhookTargetsOf, type WebhookEndpoint, type WebhookTarget, type WebhookTargetSource } from './webhook-configuration.js';
