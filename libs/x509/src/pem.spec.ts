import { encodePem, parsePem } from './pem.js';

const der = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05]);
const block = (label: string, body = Buffer.from(der).toString('base64')) =>
  `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
const SECRET_BODY = 'TUlHSEFnRUFNQk1HQnlxR1NNNDlBZ0VHQ0NxR1NNNDlBd0VIQkcwd2F3SUJBUVFn';

describe('parsePem', () => {
  it('reads blocks in order with their labels and DER', () => {
    const parsed = parsePem(block('CERTIFICATE') + block('X509 CRL'));
    expect(parsed.problems).toEqual([]);
    expect(parsed.blocks.map((b) => [b.index, b.label])).toEqual([
      [1, 'CERTIFICATE'],
      [2, 'X509 CRL'],
    ]);
    expect(parsed.blocks[0]?.der).toEqual(der);
  });

  it('tolerates CRLF, bare CR, blank lines, indentation and text between blocks', () => {
    const messy =
      'subject=CN=root\r\n\r\n' +
      block('CERTIFICATE').replace(/\n/g, '\r\n') +
      '\n\n   # a comment\n' +
      block('CERTIFICATE').replace(/\n/g, '\r') +
      '  ' +
      block('CERTIFICATE').split('\n').join('\n  ');
    const parsed = parsePem(messy);
    expect(parsed.problems).toEqual([]);
    expect(parsed.blocks).toHaveLength(3);
    expect(parsed.strayTextLines).toBe(2);
  });

  it.each(['PRIVATE KEY', 'EC PRIVATE KEY', 'RSA PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'OPENSSH PRIVATE KEY'])(
    'reports a %s block as a private key and never echoes it',
    (label) => {
      const parsed = parsePem(block('CERTIFICATE') + block(label, SECRET_BODY));
      expect(parsed.containsPrivateKey).toBe(true);
      expect(parsed.blocks.map((b) => b.label)).toEqual(['CERTIFICATE']);
      expect(parsed.problems).toEqual([expect.objectContaining({ kind: 'private-key', index: 2, label })]);
      expect(JSON.stringify(parsed.problems)).not.toContain(SECRET_BODY.slice(0, 12));
    },
  );

  it('detects a private key without an END line, or glued to other text', () => {
    expect(parsePem(`-----BEGIN PRIVATE KEY-----\n${SECRET_BODY}\n`).problems).toEqual([
      expect.objectContaining({ kind: 'private-key', index: 1 }),
    ]);
    const glued = parsePem(`junk-----BEGIN EC PRIVATE KEY-----\n${SECRET_BODY}\n-----END EC PRIVATE KEY-----`);
    expect(glued.containsPrivateKey).toBe(true);
  });

  it('reports unterminated, mismatched, non-base64, header-carrying and stray END blocks', () => {
    const text =
      '-----BEGIN CERTIFICATE-----\nAAAA\n' + // unterminated: a new BEGIN follows
      block('CERTIFICATE', 'not base64!') +
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n' +
      '-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END CERTIFICATE-----\n' +
      '-----END CERTIFICATE-----\n';
    const kinds = parsePem(text).problems.map((p) => [p.index, p.kind]);
    expect(kinds).toEqual([
      [1, 'unterminated'],
      [2, 'bad-base64'],
      [3, 'mismatched-end'],
      [4, 'headers'],
      [5, 'stray-end'],
    ]);
  });

  it('treats an empty body as invalid', () => {
    expect(parsePem('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n').problems[0]?.kind).toBe('bad-base64');
  });
});

describe('encodePem', () => {
  it('wraps at 64 columns and round-trips', () => {
    const long = new Uint8Array(200).map((_, i) => i);
    const pem = encodePem('CERTIFICATE', long);
    const lines = pem.trim().split('\n');
    expect(lines.slice(1, -1).every((l) => l.length <= 64)).toBe(true);
    expect(lines[1]).toHaveLength(64);
    expect(parsePem(pem).blocks[0]?.der).toEqual(long);
  });
});
