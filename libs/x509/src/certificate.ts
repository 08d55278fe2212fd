// Facts about one X.509 certificate (fingerprints, names, validity, CA constraints, algorithms),
// read once from DER with @peculiar/x509 so every rule works on plain, already-parsed values.
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, X509Certificate } from './peculiar.js';
import { sha256Hex, shortFingerprint } from './fingerprint.js';
import { encodePem } from './pem.js';

export type KeyAlgorithm =
  | { kind: 'ecdsa'; curve: string }
  | { kind: 'rsa'; bits: number }
  | { kind: 'other'; name: string };

export interface ParsedCertificate {
  der: Uint8Array;
  /** SHA-256 of the DER: the certificate's identity. */
  fingerprint: string;
  /** SHA-256 of the SubjectPublicKeyInfo DER: the key's identity. */
  spkiFingerprint: string;
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** basicConstraints cA=TRUE. */
  isCA: boolean;
  pathLength: number | undefined;
  /** undefined when the certificate has no keyUsage extension (then every usage is allowed). */
  canSignCertificates: boolean | undefined;
  keyAlgorithm: KeyAlgorithm;
  /** e.g. `{ name: 'ECDSA', hash: 'SHA-256' }`. */
  signatureAlgorithm: { name: string; hash: string | undefined };
  /** The parsed certificate, for signature checks. */
  x509: X509Certificate;
}

export class CertificateParseError extends Error {
  override readonly name = 'CertificateParseError';
}

/** Parses DER bytes; throws CertificateParseError (without echoing the input) when they are not a certificate. */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  let cert: X509Certificate;
  let subject: string;
  try {
    cert = new X509Certificate(der);
    subject = cert.subject;
  } catch (err) {
    throw new CertificateParseError(`not a DER X.509 certificate (${(err as Error).message})`);
  }
  const basic = safely(() => cert.getExtension(BasicConstraintsExtension));
  const usage = safely(() => cert.getExtension(KeyUsagesExtension));
  const sig = cert.signatureAlgorithm as { name: string; hash?: { name: string } };
  return {
    der,
    fingerprint: sha256Hex(der),
    spkiFingerprint: sha256Hex(new Uint8Array(cert.publicKey.rawData)),
    subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    isCA: basic?.ca === true,
    pathLength: basic?.pathLength,
    canSignCertificates: usage ? (usage.usages & KeyUsageFlags.keyCertSign) !== 0 : undefined,
    keyAlgorithm: keyAlgorithmOf(cert),
    signatureAlgorithm: { name: sig.name, hash: sig.hash?.name },
    x509: cert,
  };
}

function safely<T>(read: () => T | null): T | undefined {
  try {
    return read() ?? undefined;
  } catch {
    return undefined;
  }
}

function keyAlgorithmOf(cert: X509Certificate): KeyAlgorithm {
  const alg = cert.publicKey.algorithm as { name: string; namedCurve?: string; modulusLength?: number };
  if (alg.name === 'ECDSA' || alg.name === 'ECDH') return { kind: 'ecdsa', curve: alg.namedCurve ?? 'unknown' };
  if (alg.name.startsWith('RSA') && alg.modulusLength !== undefined) return { kind: 'rsa', bits: alg.modulusLength };
  return { kind: 'other', name: alg.name };
}

/** Human-readable key algorithm, e.g. "ECDSA P-256" or "RSA 2048". */
export function describeKeyAlgorithm(alg: KeyAlgorithm): string {
  switch (alg.kind) {
    case 'ecdsa':
      return `ECDSA ${alg.curve}`;
    case 'rsa':
      return `RSA ${alg.bits}`;
    default:
      return alg.name;
  }
}

/** How a certificate is named in messages and logs: subject plus short fingerprint, never the PEM. */
export function describeCertificate(cert: Pick<ParsedCertificate, 'subject' | 'fingerprint'>): string {
  return `"${cert.subject || '(empty subject)'}" (sha256:${shortFingerprint(cert.fingerprint)})`;
}

export function isValidAt(cert: Pick<ParsedCertificate, 'notBefore' | 'notAfter'>, at: Date): boolean {
  return cert.notBefore.getTime() <= at.getTime() && at.getTime() <= cert.notAfter.getTime();
}

export function toPem(cert: Pick<ParsedCertificate, 'der'>): string {
  return encodePem('CERTIFICATE', cert.der);
}
