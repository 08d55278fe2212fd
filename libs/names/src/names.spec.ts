// The names table: every row's env follows the flag, defaults are valid names, keys and flags are unique.
import { DEFAULT_OBJECT_NAMES, OBJECT_NAME_PATTERN, OBJECT_NAME_TABLE, nameRowsFor } from './names.js';

describe('OBJECT_NAME_TABLE', () => {
  it('has unique keys, flags and environment variables', () => {
    for (const field of ['key', 'flag', 'env'] as const) {
      const values = OBJECT_NAME_TABLE.map((r) => r[field]);
      expect(new Set(values).size).toBe(values.length);
    }
  });

  it('derives each env from its flag, as docs/chart.md promises', () => {
    for (const r of OBJECT_NAME_TABLE) expect(r.env).toBe(r.flag.replace(/-/g, '_').toUpperCase());
  });

  it('has defaults that are valid object names and match Linkerd docs', () => {
    for (const r of OBJECT_NAME_TABLE) expect(r.default).toMatch(OBJECT_NAME_PATTERN);
    expect(DEFAULT_OBJECT_NAMES.activeAnchorSecret).toBe('linkerd-active-anchor');
    expect(DEFAULT_OBJECT_NAMES.trustRootsConfigMap).toBe('linkerd-identity-trust-roots');
  });

  it('gives the webhook only what admission reads', () => {
    const webhook = nameRowsFor('webhook').map((r) => r.key);
    expect(webhook).toContain('issuerSecret');
    expect(webhook).not.toContain('lease');
  });
});
