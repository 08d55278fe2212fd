// Pure certificate logic for linkerd-rotator: PEM parsing, fingerprints, chain checks.
// Takes bytes and returns facts or decisions; imports nothing from Kubernetes or HTTP.
export * from './fingerprint.js';
