import { BundleCache, normalizeBundle, parseBundle } from './bundle.js';
import { sha256Hex } from './fingerprint.js';
import { bundleOf, makeAnchor, type Credentials } from './testing/fixtures.js';

describe('parseBundle', () => {
  let a: Credentials;
  let b: Credentials;

  beforeAll(async () => {
    a = await makeAnchor({ cn: 'a' });
    b = await makeAnchor({ cn: 'b' });
  });

  it('parses certificates in order and hashes the exact text', () => {
    const text = bundleOf(b, a);
    const parsed = parseBundle(text);
    expect(parsed.certificates.map((c) => c.fingerprint)).toEqual([b.fingerprint, a.fingerprint]);
    expect(parsed.textSha256).toBe(sha256Hex(text));
    expect(parsed.problems).toEqual([]);
  });

  it('normalises CRLF, blank lines and comments away', () => {
    const messy = `# anchors\r\n\r\n${a.certPem.replace(/\n/g, '\r\n')}\r\n\r\nsome text\r\n${b.certPem}`;
    expect(normalizeBundle(messy)).toBe(bundleOf(a, b));
    expect(parseBundle(messy).strayTextLines).toBe(2);
  });

  it('reports non-certificate blocks and unparsable certificates by block number', () => {
    const crl = '-----BEGIN X509 CRL-----\nMAMCAQU=\n-----END X509 CRL-----\n';
    const junk = '-----BEGIN CERTIFICATE-----\nMAMCAQU=\n-----END CERTIFICATE-----\n';
    const parsed = parseBundle(a.certPem + crl + junk);
    expect(parsed.certificates).toHaveLength(1);
    expect(parsed.problems.map((p) => [p.index, p.kind])).toEqual([
      [2, 'not-a-certificate-block'],
      [3, 'unparsable-certificate'],
      // Linkerd stops at the CRL: it would never read block 3.
      [3, 'linkerd-drops'],
    ]);
  });

  describe("Linkerd identity's reading (DecodePEMCertificates over Go's pem.Decode)", () => {
    const kinds = (text: string) => parseBundle(text).problems.map((p) => [p.kind, p.line]);

    it('accepts what trust-manager and cert-manager write: no final line break, or exactly one', () => {
      expect(kinds(bundleOf(a, b).trimEnd())).toEqual([]);
      expect(kinds(bundleOf(a, b))).toEqual([]);
      expect(kinds(bundleOf(a, b).replace(/\n/g, '\r\n'))).toEqual([]);
      expect(kinds(`junk before\n\n${a.certPem}between\n${b.certPem}`)).toEqual([]);
    });

    it('refuses anything after the last END line, naming the line where it starts', () => {
      const n = bundleOf(a, b).split('\n').length;
      expect(kinds(bundleOf(a, b) + '\n')).toEqual([['linkerd-refuses', n]]);
      expect(kinds(bundleOf(a, b) + ' \t\n')).toEqual([['linkerd-refuses', n]]);
      expect(kinds(bundleOf(a, b).replace(/\n/g, '\r\n') + '\r\n')).toEqual([['linkerd-refuses', n]]);
      expect(kinds(bundleOf(a, b) + '# a comment')).toEqual([['linkerd-refuses', n]]);
      expect(parseBundle(bundleOf(a) + '\n').problems[0]?.message).toMatch(/an extra blank or whitespace-only line/);
    });

    it('drops every certificate after a non-CERTIFICATE block, and reports a private key without echoing it', () => {
      const parsed = parseBundle(a.certPem + a.keyPem + b.certPem);
      expect(parsed.problems.map((p) => [p.index, p.kind])).toEqual([
        [2, 'private-key'],
        [3, 'linkerd-drops'],
      ]);
      expect(JSON.stringify(parsed.problems)).not.toContain(a.keyPem.split('\n')[1]);
    });

    it('reports a first block behind a byte-order mark, which Go does not find', () => {
      expect(parseBundle(`\uFEFF${bundleOf(a, b)}`).problems.map((p) => [p.kind, p.index])).toEqual([['linkerd-drops', 1]]);
    });

    it('refuses a bare-CR text, which Go does not split into lines', () => {
      expect(parseBundle(a.certPem.replace(/\n/g, '\r')).problems.map((p) => p.kind)).toEqual(['linkerd-drops', 'linkerd-refuses']);
    });
  });

  it('flags a pasted private key', () => {
    const parsed = parseBundle(a.certPem + a.keyPem);
    expect(parsed.containsPrivateKey).toBe(true);
    expect(parsed.normalizedPem).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(parsed.problems)).not.toContain(a.keyPem.split('\n')[1]);
  });
});

describe('BundleCache', () => {
  it('parses each distinct text once and evicts beyond its capacity', async () => {
    const [x, y] = [await makeAnchor(), await makeAnchor()];
    const cache = new BundleCache(1);
    const first = cache.parse(x.certPem);
    expect(cache.parse(x.certPem)).toBe(first);
    expect([cache.hits, cache.misses]).toEqual([1, 1]);
    cache.parse(y.certPem);
    expect(cache.parse(x.certPem)).not.toBe(first);
    expect(cache.misses).toBe(3);
  });

  it('keys long texts (over 16,383 characters, keyed by SHA-256) apart from short ones: each hits, neither evicts the other', async () => {
    const anchors: Credentials[] = [];
    for (let i = 0; i < 40; i++) anchors.push(await makeAnchor({ cn: `long-${i}` }));
    const long = bundleOf(...anchors);
    expect(long.length).toBeGreaterThan(16_383);
    const cache = new BundleCache(1);
    const [parsedLong, parsedShort] = [cache.parse(long), cache.parse(anchors[0]!.certPem)];
    expect(parsedLong.certificates).toHaveLength(40);
    expect(cache.parse(`${long}`)).toBe(parsedLong);
    expect(cache.parse(anchors[0]!.certPem)).toBe(parsedShort);
    // A short text that spells the long one's SHA-256 is just text: no certificate, no hit.
    expect(cache.parse(sha256Hex(long)).certificates).toEqual([]);
    expect([cache.hits, cache.misses]).toEqual([2, 3]);
  });
});
