// Whether a webhook's caBundle verifies the certificate chain the webhook serves, for the name the
// API server dials: the checks of Go's crypto/tls client (validity, chain to a caBundle CA, SAN, usage).
import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { parseBundle } from './bundle.js';
import { CertificateParseError, describeCertificate, isValidAt, parseCertificate, type ParsedCertificate } from './certificate.js';
import { validityProblem, verifyChain } from './chain.js';
import { ExtendedKeyUsageExtension } from './peculiar.js';

/** Why a served chain does not verify: a bounded set, fit for a metric label. */
export const SERVING_FAILURE_REASONS = ['no-ca-bundle', 'ca-bundle-unparsable', 'expired', 'untrusted', 'name-mismatch', 'not-server-auth'] as const;
export type ServingFailureReason = (typeof SERVING_FAILURE_REASONS)[number];

export interface ServingVerificationInput {
  /** The caBundle of the webhook's clientConfig, decoded (PEM). */
  caBundlePem: string;
  /** The chain the server sent in its handshake, DER, its leaf first. */
  served: readonly Uint8Array[];
  /** The name the API server verifies: the URL's host, or `<service>.<namespace>.svc`; an IP literal is matched against IP SANs. */
  serverName: string;
  at: Date;
}

export type ServingVerification =
  | { ok: true; leaf: ParsedCertificate; anchor: ParsedCertificate }
  | { ok: false; reason: ServingFailureReason; message: string; leaf?: ParsedCertificate };

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

/**
 * Verifies a served chain as the API server's TLS client does: the leaf is valid now, a path from it
 * (through the other served certificates) reaches a certificate of the caBundle, its subjectAltName
 * holds `serverName` (the common name is ignored, as Go ignores it), and an extendedKeyUsage, when
 * present, allows server auth. Never throws.
 */
export async function verifyServingCertificate(input: ServingVerificationInput): Promise<ServingVerification> {
  if (input.caBundlePem.trim() === '') {
    return { ok: false, reason: 'no-ca-bundle', message: 'the caBundle is empty: the API server would verify the webhook against its own roots; check that cainjector injected the CA (cert-manager.io/inject-ca-from)' };
  }
  const bundle = parseBundle(input.caBundlePem);
  if (bundle.certificates.length === 0) {
    return { ok: false, reason: 'ca-bundle-unparsable', message: `the caBundle holds no certificate (${bundle.problems.map((p) => p.message).join('; ') || 'no PEM CERTIFICATE block'})` };
  }
  const [leafDer, ...rest] = input.served;
  const chain: ParsedCertificate[] = [];
  try {
    for (const der of [leafDer, ...rest]) if (der) chain.push(parseCertificate(der));
  } catch (err) {
    if (!(err instanceof CertificateParseError)) throw err;
    return { ok: false, reason: 'untrusted', message: `the server sent a certificate that does not parse (${err.message})` };
  }
  const [leaf, ...intermediates] = chain;
  if (!leaf) return { ok: false, reason: 'untrusted', message: 'the server sent no certificate' };
  const served = `the served certificate ${describeCertificate(leaf)}`;

  if (!isValidAt(leaf, input.at)) return { ok: false, reason: 'expired', message: `${served} ${validityProblem(leaf, input.at)}`, leaf };
  const path = await verifyChain(leaf, { anchors: bundle.certificates, intermediates, at: input.at });
  if (!path.ok) {
    const cas = bundle.certificates.map(describeCertificate).join(', ');
    return { ok: false, reason: 'untrusted', message: `${served} does not verify against the caBundle (${bundle.certificates.length} certificate${bundle.certificates.length === 1 ? '' : 's'}: ${cas}): ${path.reason}`, leaf };
  }
  if (!namesMatch(leaf, input.serverName)) {
    return { ok: false, reason: 'name-mismatch', message: `${served} is not valid for "${input.serverName}", the name the API server dials (its subjectAltName must hold it)`, leaf };
  }
  const usages = extendedKeyUsages(leaf);
  if (usages && !usages.includes(SERVER_AUTH) && !usages.includes(ANY_EXTENDED_KEY_USAGE)) {
    return { ok: false, reason: 'not-server-auth', message: `${served} has an extendedKeyUsage without server auth (${usages.join(', ')})`, leaf };
  }
  return { ok: true, leaf, anchor: path.anchor };
}

function namesMatch(leaf: ParsedCertificate, serverName: string): boolean {
  const cert = new NodeX509Certificate(leaf.der);
  const bare = serverName.replace(/^\[(.*)\]$/, '$1');
  return isIP(bare) !== 0 ? cert.checkIP(bare) !== undefined : cert.checkHost(bare, { subject: 'never' }) !== undefined;
}

function extendedKeyUsages(leaf: ParsedCertificate): string[] | undefined {
  try {
    return leaf.x509.getExtension(ExtendedKeyUsageExtension)?.usages.map(String) ?? undefined;
  } catch {
    return undefined;
  }
}
