// The caches of the admission webhook and the PKI health exporter (`@linkerd-rotator/kube/caches`):
// snapshots projected from the shared list+watch layer, read by the apps without any I/O.
export * from './snapshot.js';
export { TrustCache, type CacheOptions } from './trust-cache.js';
export { ExporterCache, type ExporterCacheOptions } from './exporter-cache.js';
export { issuerChainOf, type IssuerChain, type IssuerChainInput } from './issuer-chain.js';
export { WebhookConfigurationCache, webhookTargetsOf, type WebhookEndpoint, type WebhookTarget, type WebhookTargetSource } from './webhook-configuration.js';
export * from './public-pki.js';
export { PublicPkiPublisher, PUBLIC_PKI_FIELD_MANAGER, type PublicPkiPublisherOptions, type PublicPkiSourceCache } from './public-pki-publisher.js';
export { publicPkiViewsOf } from './trust-cache.js';
