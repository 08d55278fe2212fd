// Private key <-> certificate matching, for the identity issuer Secret (tls.key against tls.crt).
// Accepts PKCS#8, SEC1 ("EC PRIVATE KEY") and PKCS#1 ("RSA PRIVATE KEY"); never echoes the key.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { ParsedCertificate } from './certificate.js';
import { sha256Hex } from './fingerprint.js';
import { parsePem, isPrivateKeyLabel } from './pem.js';

export type KeyMatch = { ok: true } | { ok: false; reason: string };

/** Whether the private key in `keyPem` belongs to `cert` (compares the derived public key's SPKI). */
export function checkKeyMatchesCertificate(keyPem: string, cert: ParsedCertificate): KeyMatch {
  const pem = parsePem(keyPem);
  const keyBlocks = pem.problems.filter((p) => p.kind === 'private-key');
  if (keyBlocks.length === 0) {
    return { ok: false, reason: 'the key is not a PEM private key (expected one "-----BEGIN ... PRIVATE KEY-----" block)' };
  }
  if (keyBlocks.length > 1) {
    return { ok: false, reason: `the key holds ${keyBlocks.length} private key blocks; expected exactly one` };
  }
  if (keyBlocks[0]?.label === 'ENCRYPTED PRIVATE KEY') {
    return { ok: false, reason: 'the key is encrypted; Linkerd needs an unencrypted issuer key' };
  }
  let spki: Uint8Array;
  try {
    const key = createPrivateKey({ key: keyPem, format: 'pem' });
    spki = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  } catch {
    // The OpenSSL error can quote key material in some versions: do not pass it on.
    return { ok: false, reason: 'the key could not be read as a PKCS#8, SEC1 or PKCS#1 private key' };
  }
  if (sha256Hex(spki) !== cert.spkiFingerprint) {
    return { ok: false, reason: 'the private key does not belong to the certificate (their public keys differ)' };
  }
  return { ok: true };
}

export { isPrivateKeyLabel };
