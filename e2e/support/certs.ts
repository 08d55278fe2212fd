// Certificate facts the e2e tests compare, taken with libs/x509's own parser: the fingerprints of a
// PEM bundle's certificates, of one certificate, each certificate as PEM, and PEM text pasted by hand.
import { parseBundle, toPem, type ParsedCertificate } from '@linkerd-rotator/x509';

function certificatesOf(pem: string): ParsedCertificate[] {
  const bundle = parseBundle(pem);
  if (bundle.problems.length > 0) {
    const defects = bundle.problems.map((p) => p.message).join('; ');
    throw new Error(`expected PEM text holding only certificates, found ${bundle.problems.length} defect(s): ${defects}; check what wrote it`);
  }
  return bundle.certificates;
}

/** SHA-256 fingerprints of the certificates of a PEM bundle, in order. */
export function fingerprintsOf(pem: string): string[] {
  return certificatesOf(pem).map((c) => c.fingerprint);
}

/** The fingerprint of the one certificate in `pem` (a Secret's tls.crt). */
export function fingerprintOf(pem: string): string {
  const fingerprints = fingerprintsOf(pem);
  if (fingerprints.length !== 1) throw new Error(`expected one certificate, found ${fingerprints.length}; pass a single certificate's PEM`);
  return fingerprints[0]!;
}

/** Each certificate of a PEM bundle as its own canonical PEM block, in order. */
export function certificatePems(pem: string): string[] {
  return certificatesOf(pem).map(toPem);
}

/** PEM blocks pasted one after another, as a user would. */
export function pastedPem(...blocks: string[]): string {
  return blocks.map((b) => b.trim()).join('\n') + '\n';
}
