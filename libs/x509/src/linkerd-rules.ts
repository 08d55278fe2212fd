// Linkerd's algorithm requirements, as `linkerd check` enforces them (pkg/issuercerts): trust
// anchors ECDSA P-256 or RSA 2048/4096 signed with SHA-256; the identity issuer ECDSA P-256.
// The identity controller itself does not check the issuer's algorithm: it loads an RSA or
// Ed25519 issuer (and reports IssuerUpdated), then fails every Certify, because it signs leaves
// with ECDSA-with-SHA256 only (pkg/tls/ca.go createTemplate). So a non-P-256 issuer breaks
// identity at the first certificate request, not at load time.
import { describeKeyAlgorithm, type ParsedCertificate } from './certificate.js';

const SHA256_SIGNATURES = new Set(['ECDSA', 'RSASSA-PKCS1-v1_5']);

function signatureProblem(cert: ParsedCertificate): string | undefined {
  const { name, hash } = cert.signatureAlgorithm;
  if (SHA256_SIGNATURES.has(name) && hash === 'SHA-256') return undefined;
  return `must be signed with SHA-256 (ECDSA or RSA PKCS#1 v1.5), found ${name}${hash ? ` with ${hash}` : ''}`;
}

/** Problems that make `linkerd check` reject a trust anchor; empty when it is fine. */
export function anchorAlgorithmProblems(cert: ParsedCertificate): string[] {
  const problems: string[] = [];
  const alg = cert.keyAlgorithm;
  const keyOk = (alg.kind === 'ecdsa' && alg.curve === 'P-256') || (alg.kind === 'rsa' && (alg.bits === 2048 || alg.bits === 4096));
  if (!keyOk) problems.push(`key must be ECDSA P-256 or RSA 2048/4096, found ${describeKeyAlgorithm(alg)}`);
  const sig = signatureProblem(cert);
  if (sig) problems.push(sig);
  return problems;
}

/**
 * Problems that make `linkerd check` reject an issuer. The identity controller accepts such an
 * issuer at load time; an RSA or Ed25519 one then fails every Certify (see the file comment).
 */
export function issuerAlgorithmProblems(cert: ParsedCertificate): string[] {
  const problems: string[] = [];
  const alg = cert.keyAlgorithm;
  if (!(alg.kind === 'ecdsa' && alg.curve === 'P-256')) {
    problems.push(`key must be ECDSA P-256, found ${describeKeyAlgorithm(alg)}`);
  }
  const sig = signatureProblem(cert);
  if (sig) problems.push(sig);
  return problems;
}
