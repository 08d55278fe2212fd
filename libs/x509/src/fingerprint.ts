// SHA-256 fingerprints of DER bytes: the identity of a certificate everywhere in the product.
// Certificates are matched by these, never by subject.
import { createHash } from 'node:crypto';

/** Lower-case hex SHA-256 of the given bytes. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The first 16 hex characters of a fingerprint, for logs and metric labels. */
export function shortFingerprint(fingerprint: string): string {
  return fingerprint.slice(0, 16);
}
