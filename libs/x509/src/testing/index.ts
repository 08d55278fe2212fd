// Test-only entry point of libs/x509 (`@linkerd-rotator/x509/testing`): real certificates made in
// the test (`fixtures.makeAnchor()`, `fixtures.makeIssuer(anchor)`, ...). Never imported by production code.
import '../peculiar.js';

export * as fixtures from './fixtures.js';
export type { Credentials, CertOptions, KeySpec } from './fixtures.js';
