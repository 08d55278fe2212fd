// readBundleAsLinkerd against the behaviour of linkerd2 pkg/tls/codec.go DecodePEMCertificates over
// Go's encoding/pem Decode, with real certificates.
import { readBundleAsLinkerd } from './linkerd-pem.js';
import { bundleOf, makeAnchor, type Credentials } from './testing/fixtures.js';

describe('readBundleAsLinkerd', () => {
  let a: Credentials;
  let b: Credentials;
  const der = (c: Credentials) => new Uint8Array(c.cert.der);

  beforeAll(async () => {
    a = await makeAnchor({ cn: 'a' });
    b = await makeAnchor({ cn: 'b' });
  });

  it('reads every certificate, skipping text before a block, with CRLF or no final line break', () => {
    const aLines = a.certPem.split('\n').length - 1;
    for (const text of [bundleOf(a, b), bundleOf(a, b).trimEnd(), bundleOf(a, b).replace(/\n/g, '\r\n')]) {
      const read = readBundleAsLinkerd(text);
      expect(read).toEqual({ certificates: [{ line: 1, der: der(a) }, { line: aLines + 1, der: der(b) }] });
    }
    expect(readBundleAsLinkerd(`# note\n\n${a.certPem}`).certificates.map((c) => c.line)).toEqual([3]);
  });

  it('refuses whatever follows the last END line, even one blank line, and says where it starts', () => {
    const lines = a.certPem.split('\n').length;
    expect(readBundleAsLinkerd(`${a.certPem}\n`)).toEqual({ certificates: [{ line: 1, der: der(a) }], refusedAt: { line: lines, blank: true } });
    expect(readBundleAsLinkerd(`${a.certPem}# end`).refusedAt).toEqual({ line: lines, blank: false });
  });

  it('stops at the first non-CERTIFICATE block: the anchors after it are silently dropped', () => {
    const read = readBundleAsLinkerd(a.certPem + a.keyPem + b.certPem);
    expect(read.certificates.map((c) => c.der)).toEqual([der(a)]);
    expect(read.stoppedAt).toEqual({ line: a.certPem.split('\n').length, label: 'PRIVATE KEY' });
    expect(read.refusedAt).toBeUndefined();
  });
});
