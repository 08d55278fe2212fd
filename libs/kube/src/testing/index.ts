// Test-only entry point of libs/kube (`@linkerd-rotator/kube/testing`): an in-process API server and
// fixed-snapshot doubles of the caches' interfaces. Never imported by production code.
export { FakeApiServer, type FakeObject } from './fake-apiserver.js';
export { StaticExporterSource, StaticSnapshotSource } from './static-sources.js';
