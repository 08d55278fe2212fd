// Pure certificate logic for linkerd-rotator: PEM parsing, fingerprints, chain checks.
// Takes bytes and returns facts or decisions; imports nothing from Kubernetes or HTTP.
import './peculiar.js';

export * from './fingerprint.js';
export * from './pem.js';
export * from './linkerd-pem.js';
export * from './certificate.js';
export * from './bundle.js';
export * from './chain.js';
export * from './keys.js';
export * from './linkerd-rules.js';
export * from './policy.js';
export * from './cross-sign.js';
export { LruCache } from './lru.js';
export * from './serving.js';
