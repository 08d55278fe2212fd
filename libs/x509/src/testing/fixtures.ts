// Test fixtures: real anchors, issuers, leaves, impostors, expired and non-CA certificates made with
// @peculiar/x509 and Node's WebCrypto, so tests everywhere in the repo exercise real crypto.
import { createPrivateKey, webcrypto } from 'node:crypto';
import {
  nodeCrypto,
  type CryptoKeyPair,
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
  type Extension,
} from '../peculiar.js';
import { parseCertificate, type ParsedCertificate } from '../certificate.js';

export type KeySpec = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa-1024' | 'rsa-2048' | 'rsa-4096';

/** A generated certificate with its key, in every form a test may want. */
export interface Credentials {
  cert: ParsedCertificate;
  certPem: string;
  /** PKCS#8 "PRIVATE KEY". */
  keyPem: string;
  /** The form cert-manager writes by default: SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY". */
  keyPemTraditional: string;
  /** SHA-256 of the certificate DER. */
  fingerprint: string;
  keys: CryptoKeyPair;
  keySpec: KeySpec;
}

export interface CertOptions {
  /** Common name; ignored when `subject` is given. */
  cn?: string;
  /** Full distinguished name, e.g. "CN=root.linkerd.cluster.local, O=example". */
  subject?: string;
  notBefore?: Date;
  notAfter?: Date;
  key?: KeySpec;
  /** Reuse an existing key pair (e.g. a renewed certificate that keeps its key). */
  keys?: CryptoKeyPair;
  /** Signature hash; SHA-256 by default. */
  hash?: 'SHA-256' | 'SHA-384';
  isCA?: boolean;
  pathLength?: number;
  /** Omit the keyUsage extension entirely. */
  noKeyUsage?: boolean;
  /** Override keyUsage: CAs get keyCertSign + cRLSign by default, others digitalSignature. */
  keyUsage?: 'cert-sign' | 'digital-signature';
  /** Omit the basicConstraints extension entirely. */
  noBasicConstraints?: boolean;
  /** subjectAltName DNS names and IP addresses (a serving certificate). */
  dnsNames?: string[];
  ipAddresses?: string[];
  /** extendedKeyUsage OIDs, e.g. 1.3.6.1.5.5.7.3.1 (serverAuth); omitted when not given. */
  extendedKeyUsages?: string[];
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;

/** A Date `days` from now (negative for the past). */
export function daysFromNow(days: number): Date {
  return new Date(Date.now() + days * DAY);
}

/** A Date `hours` from now (negative for the past). */
export function hoursFromNow(hours: number): Date {
  return new Date(Date.now() + hours * HOUR);
}

function keyAlgorithm(spec: KeySpec, hash: string): webcrypto.RsaHashedKeyGenParams | (webcrypto.EcKeyGenParams & { hash: string }) {
  switch (spec) {
    case 'ecdsa-p256':
      return { name: 'ECDSA', namedCurve: 'P-256', hash };
    case 'ecdsa-p384':
      return { name: 'ECDSA', namedCurve: 'P-384', hash };
    default:
      return {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: Number(spec.slice(4)),
        publicExponent: new Uint8Array([1, 0, 1]),
        hash,
      };
  }
}

/** Generates a fresh key pair (extractable, so tests can write the key out). */
export async function generateKeys(spec: KeySpec = 'ecdsa-p256'): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(keyAlgorithm(spec, 'SHA-256'), true, ['sign', 'verify'])) as CryptoKeyPair;
}

function subjectOf(options: CertOptions, fallbackCn: string): string {
  return options.subject ?? `CN=${options.cn ?? fallbackCn}`;
}

function signingAlgorithm(keySpec: KeySpec, hash: string): webcrypto.Algorithm {
  return keySpec.startsWith('ecdsa')
    ? ({ name: 'ECDSA', hash } as webcrypto.Algorithm)
    : ({ name: 'RSASSA-PKCS1-v1_5', hash } as webcrypto.Algorithm);
}

/**
 * The signer's subjectKeyIdentifier, as RFC 5280 4.2.1.1 and every CA (Go's crypto/x509 included)
 * sets it; computed from its key only when the signer has none. Go 1.25+ derives its identifiers from
 * SHA-256, @peculiar/x509 from SHA-1: an identifier recomputed here would not match a signer made by
 * cert-manager, and OpenSSL (node:crypto's checkIssued) then refuses the link.
 */
async function authorityKeyIdentifier(signer: Credentials): Promise<Extension> {
  const ski = new X509Certificate(signer.certPem).getExtension(SubjectKeyIdentifierExtension);
  return ski ? new AuthorityKeyIdentifierExtension(ski.keyId, false) : AuthorityKeyIdentifierExtension.create(signer.keys.publicKey, false, nodeCrypto);
}

async function build(
  options: CertOptions,
  defaults: { cn: string; isCA: boolean; lifetimeMs: number },
  signer: Credentials | 'self',
): Promise<Credentials> {
  const keySpec = options.key ?? 'ecdsa-p256';
  const keys = options.keys ?? (await generateKeys(keySpec));
  const isCA = options.isCA ?? defaults.isCA;
  const notBefore = options.notBefore ?? hoursFromNow(-1);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + HOUR + defaults.lifetimeMs);
  const subject = subjectOf(options, defaults.cn);
  const hash = options.hash ?? 'SHA-256';
  const extensions: Extension[] = [];
  if (!options.noBasicConstraints) extensions.push(new BasicConstraintsExtension(isCA, options.pathLength, true));
  if (!options.noKeyUsage) {
    const certSign = options.keyUsage ? options.keyUsage === 'cert-sign' : isCA;
    const usages = certSign ? KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign : KeyUsageFlags.digitalSignature;
    extensions.push(new KeyUsagesExtension(usages, true));
  }
  extensions.push(await SubjectKeyIdentifierExtension.create(keys.publicKey, false, nodeCrypto));
  const altNames = [...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })), ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value }))];
  if (altNames.length > 0) extensions.push(new SubjectAlternativeNameExtension(altNames, false));
  if (options.extendedKeyUsages) extensions.push(new ExtendedKeyUsageExtension(options.extendedKeyUsages, false));

  let x509;
  if (signer === 'self') {
    x509 = await X509CertificateGenerator.createSelfSigned(
      { name: subject, keys, notBefore, notAfter, extensions, signingAlgorithm: signingAlgorithm(keySpec, hash) },
      nodeCrypto,
    );
  } else {
    extensions.push(await authorityKeyIdentifier(signer));
    x509 = await X509CertificateGenerator.create(
      {
        subject,
        issuer: signer.cert.subject,
        publicKey: keys.publicKey,
        signingKey: signer.keys.privateKey,
        notBefore,
        notAfter,
        extensions,
        signingAlgorithm: signingAlgorithm(signer.keySpec, hash),
      },
      nodeCrypto,
    );
  }
  const cert = parseCertificate(new Uint8Array(x509.rawData));
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n';
  const traditionalType = keySpec.startsWith('ecdsa') ? 'sec1' : 'pkcs1';
  const keyPemTraditional = createPrivateKey({ key: keyPem, format: 'pem' })
    .export({ type: traditionalType, format: 'pem' })
    .toString();
  return {
    cert,
    certPem: x509.toString('pem') + '\n',
    keyPem,
    keyPemTraditional,
    fingerprint: cert.fingerprint,
    keys,
    keySpec,
  };
}

/** A self-signed CA like cert-manager's `linkerd-trust-anchor` (1 year by default). */
export function makeAnchor(options: CertOptions = {}): Promise<Credentials> {
  return build(options, { cn: 'root.linkerd.cluster.local', isCA: true, lifetimeMs: 365 * DAY }, 'self');
}

/** A CA signed by `signer`, like `linkerd-identity-issuer` (48 hours by default). */
export function makeIssuer(signer: Credentials, options: CertOptions = {}): Promise<Credentials> {
  return build(options, { cn: 'identity.linkerd.cluster.local', isCA: true, lifetimeMs: 48 * HOUR }, signer);
}

/** An end-entity certificate signed by `signer`, like a proxy's 24-hour leaf. */
export function makeLeaf(signer: Credentials, options: CertOptions = {}): Promise<Credentials> {
  return build(
    options,
    { cn: 'default.default.serviceaccount.identity.linkerd.cluster.local', isCA: false, lifetimeMs: 24 * HOUR },
    signer,
  );
}

/** A self-signed CA with exactly `anchor`'s subject but a different key: must never pass as `anchor`. */
export function makeImpostor(anchor: Credentials, options: CertOptions = {}): Promise<Credentials> {
  return makeAnchor({ ...options, subject: anchor.cert.subject });
}

/** An anchor whose validity ended a day ago. */
export function makeExpiredAnchor(options: CertOptions = {}): Promise<Credentials> {
  return makeAnchor({ notBefore: daysFromNow(-30), notAfter: daysFromNow(-1), ...options });
}

/** A self-signed certificate that is not a CA (basicConstraints cA=FALSE). */
export function makeNonCA(options: CertOptions = {}): Promise<Credentials> {
  return build({ isCA: false, ...options }, { cn: 'not-a-ca.example', isCA: false, lifetimeMs: 30 * DAY }, 'self');
}

/** Concatenates certificates into one PEM bundle, in the given order. */
export function bundleOf(...certs: Array<Pick<Credentials, 'certPem'>>): string {
  return certs.map((c) => c.certPem).join('');
}
