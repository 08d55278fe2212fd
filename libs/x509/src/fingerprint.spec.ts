import { sha256Hex, shortFingerprint } from './fingerprint.js';

describe('sha256Hex', () => {
  it('hashes bytes to lower-case hex', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
  it('shortens to 16 characters', () => {
    expect(shortFingerprint(sha256Hex('abc'))).toBe('ba7816bf8f01cfea');
  });
});
