// Cross-signing a new trust anchor B with the old anchor A: X carries B's subject and public key,
// is issued and signed by A, so a proxy that trusts only {A} verifies `leaf -> I_B -> X -> A`.
import { createPrivateKey, webcrypto } from 'node:crypto';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
  nodeCrypto,
  type X509Certificate,
} from './peculiar.js';
import { describeCertificate, parseCertificate, toPem, type ParsedCertificate } from './certificate.js';
import { verifySignature } from './chain.js';
import { checkKeyMatchesCertificate } from './keys.js';
import { parsePem } from './pem.js';

export interface CrossSignOptions {
  /** B, the new anchor: X gets its subject, public key, pathLen and SKID. PEM or parsed. */
  subject: string | ParsedCertificate;
  /** A, the anchor proxies already trust: X's issuer. PEM or parsed. */
  issuer: string | ParsedCertificate;
  /** A's private key, PEM (PKCS#8, SEC1 or PKCS#1). Never echoed in errors. */
  issuerKey: string;
  /** The instant X must be valid at; now by default. X's notBefore is never later. */
  now?: Date;
  /** X's serial number in hex; 16 random bytes by default. */
  serial?: string;
}

/** What `crossSignProblems` needs: the key is optional so `plan` can ask before reading it. */
export interface CrossSignCheck {
  subject: ParsedCertificate;
  issuer: ParsedCertificate;
  issuerKey?: string;
  now: Date;
}

/** Raised when X cannot or must not be minted; `problems` holds every reason, each one sentence. */
export class CrossSignRefusedError extends Error {
  override readonly name = 'CrossSignRefusedError';
  constructor(readonly problems: readonly string[]) {
    super(problems.join(' '));
  }
}

/** A -> X -> I_B -> leaf puts two CA certificates (X and I_B) below A. */
const CAS_BELOW_ANCHOR = 2;
const RESTART = 'or rotate with strategy "restart"';

/**
 * Why A cannot cross-sign B at `now` (empty when it can). Pure and synchronous, so `plan` and
 * `status` can say why they fall back to the restart strategy.
 */
export function crossSignProblems(check: CrossSignCheck): string[] {
  const { subject: newAnchor, issuer: oldAnchor, now } = check;
  const old = `the issuing anchor ${describeCertificate(oldAnchor)}`;
  const fresh = `the new anchor ${describeCertificate(newAnchor)}`;
  const problems = crossSignIssuerProblems({ issuer: oldAnchor, ...(check.issuerKey !== undefined ? { issuerKey: check.issuerKey } : {}), now });
  if (!newAnchor.isCA) {
    problems.push(`expected ${fresh} to be a CA (basicConstraints cA=TRUE), found it is not; prepare a CA certificate as the new anchor.`);
  } else if (newAnchor.pathLength !== undefined && newAnchor.pathLength < 1) {
    problems.push(`expected ${fresh} to allow the identity issuer below it (pathLenConstraint >= 1 or absent), found pathLen ${newAnchor.pathLength}; reissue the new anchor without pathLen.`);
  }
  if (now.getTime() >= newAnchor.notAfter.getTime()) {
    problems.push(`expected ${fresh} to be valid after ${now.toISOString()}, found it expired at ${newAnchor.notAfter.toISOString()}; prepare a fresh anchor.`);
  }
  if (newAnchor.spkiFingerprint === oldAnchor.spkiFingerprint) {
    problems.push(`expected ${fresh} to have a key of its own, found the key of ${old}; prepare the new anchor with a new key.`);
  }
  return problems;
}

/**
 * The issuing anchor's half of `crossSignProblems`: whether A can cross-sign any next anchor at
 * `now` (CA with keyCertSign, pathLen fits A -> X -> issuer -> leaf, valid, a key type libs/x509
 * signs with, and the key when given). The rotation adapter reports it before the next anchor exists.
 */
export function crossSignIssuerProblems(check: Omit<CrossSignCheck, 'subject'>): string[] {
  const { issuer: oldAnchor, now } = check;
  const old = `the issuing anchor ${describeCertificate(oldAnchor)}`;
  const problems: string[] = [];
  if (!oldAnchor.isCA) {
    problems.push(`expected ${old} to be a CA (basicConstraints cA=TRUE), found it is not; cross-sign with the active trust anchor, ${RESTART}.`);
  } else if (oldAnchor.canSignCertificates === false) {
    problems.push(`expected ${old} to have keyUsage keyCertSign, found a keyUsage without it; reissue the anchor with keyCertSign, ${RESTART}.`);
  }
  if (oldAnchor.pathLength !== undefined && oldAnchor.pathLength < CAS_BELOW_ANCHOR) {
    problems.push(
      `expected ${old} to allow ${CAS_BELOW_ANCHOR} CA certificates below it (pathLenConstraint >= ${CAS_BELOW_ANCHOR} or absent) for A -> X -> issuer -> leaf, found pathLen ${oldAnchor.pathLength}; reissue the anchor without pathLen (step's default roots have pathLen 1), ${RESTART}.`,
    );
  }
  if (now.getTime() > oldAnchor.notAfter.getTime()) {
    problems.push(`expected ${old} to be valid at ${now.toISOString()}, found it expired at ${oldAnchor.notAfter.toISOString()}; ${RESTART}.`);
  } else if (now.getTime() < oldAnchor.notBefore.getTime()) {
    problems.push(`expected ${old} to be valid at ${now.toISOString()}, found it valid only from ${oldAnchor.notBefore.toISOString()}; check the clock, ${RESTART}.`);
  }
  if (signingAlgorithmFor(oldAnchor) === undefined) {
    problems.push(`expected ${old} to have an ECDSA P-256, ECDSA P-384 or RSA key, found ${JSON.stringify(oldAnchor.keyAlgorithm)}; ${RESTART}.`);
  }
  if (check.issuerKey !== undefined) {
    const match = checkKeyMatchesCertificate(check.issuerKey, oldAnchor);
    if (!match.ok) problems.push(`expected the private key of ${old}, found a key that does not fit (${match.reason}); pass the key stored with that anchor.`);
  }
  return problems;
}

/** A cross-signature found among certificates: `of` is the anchor whose subject and key it carries, `by` the anchor that signed it. */
export interface CrossSignatureMatch {
  readonly certificate: ParsedCertificate;
  readonly of: ParsedCertificate;
  readonly by: ParsedCertificate;
}

/**
 * Whether `candidate` is a cross-signature between two of `anchors`: a CA certificate with one
 * anchor's subject and SubjectPublicKeyInfo (byte for byte) that is not that anchor, whose issuer is
 * another anchor's subject and whose signature that anchor's key verifies. Validity is not checked:
 * callers compare `certificate.notAfter` with their clock. Undefined when it is none.
 */
export async function crossSignatureAmong(candidate: ParsedCertificate, anchors: readonly ParsedCertificate[]): Promise<CrossSignatureMatch | undefined> {
  if (!candidate.isCA) return undefined;
  // Most candidates share their key with no other anchor: compare fingerprints before reading DER.
  const sameKey = anchors.filter((anchor) => anchor.spkiFingerprint === candidate.spkiFingerprint && anchor.fingerprint !== candidate.fingerprint);
  if (sameKey.length === 0) return undefined;
  const fields = tbsFields(candidate.der);
  const same = (left: Uint8Array, right: Uint8Array) => Buffer.from(left).equals(Buffer.from(right));
  const of = sameKey.find((anchor) => {
    const own = tbsFields(anchor.der);
    return same(own.subject, fields.subject) && same(own.spki, fields.spki);
  });
  if (!of) return undefined;
  for (const by of anchors) {
    if (by.spkiFingerprint === of.spkiFingerprint || !same(tbsFields(by.der).subject, fields.issuer)) continue;
    if (await verifySignature(candidate, by)) return { certificate: candidate, of, by };
  }
  return undefined;
}

/**
 * Mints X: B's subject, SubjectPublicKeyInfo, pathLen and SKID; A's subject as issuer and A's SKID
 * as AKID; keyUsage keyCertSign + cRLSign; valid from the later of A's and B's notBefore (never
 * after `now`) to the earlier of their notAfter; signed with A's key. Returns X as PEM.
 * Throws CrossSignRefusedError when `crossSignProblems` finds anything.
 */
export async function crossSign(options: CrossSignOptions): Promise<string> {
  const newAnchor = certificateFrom(options.subject, 'subject');
  const oldAnchor = certificateFrom(options.issuer, 'issuer');
  const now = options.now ?? new Date();
  const problems = crossSignProblems({ subject: newAnchor, issuer: oldAnchor, issuerKey: options.issuerKey, now });
  if (problems.length > 0) throw new CrossSignRefusedError(problems);
  if (options.serial !== undefined && !/^[0-9a-fA-F]{2,40}$/.test(options.serial)) {
    throw new CrossSignRefusedError([`expected serial to be 1 to 20 bytes of hex, found ${JSON.stringify(options.serial)}; pass hex digits or leave it out.`]);
  }

  const signing = signingAlgorithmFor(oldAnchor) as SigningAlgorithm;
  const signingKey = await importSigningKey(options.issuerKey, signing);
  const notBefore = new Date(Math.min(now.getTime(), Math.max(oldAnchor.notBefore.getTime(), newAnchor.notBefore.getTime())));
  const notAfter = new Date(Math.min(oldAnchor.notAfter.getTime(), newAnchor.notAfter.getTime()));
  const cross = await X509CertificateGenerator.create(
    {
      serialNumber: options.serial,
      // Name objects from the parsed certificates keep their string types, so the names stay
      // byte-identical: webpki matches issuer to subject by bytes (checked below).
      subject: newAnchor.x509.subjectName,
      issuer: oldAnchor.x509.subjectName,
      publicKey: newAnchor.x509.publicKey,
      signingKey,
      signingAlgorithm: signing.sign,
      notBefore,
      notAfter,
      extensions: [
        new BasicConstraintsExtension(true, newAnchor.pathLength, true),
        new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
        new SubjectKeyIdentifierExtension(await keyIdentifierOf(newAnchor.x509), false),
        new AuthorityKeyIdentifierExtension(await keyIdentifierOf(oldAnchor.x509), false),
      ],
    },
    nodeCrypto,
  );
  const minted = parseCertificate(new Uint8Array(cross.rawData));
  assertCarries(minted, { newAnchor, oldAnchor });
  return toPem(minted);
}

function certificateFrom(input: string | ParsedCertificate, role: 'subject' | 'issuer'): ParsedCertificate {
  if (typeof input !== 'string') return input;
  const pem = parsePem(input);
  const certs = pem.blocks.filter((b) => b.label === 'CERTIFICATE');
  if (certs.length !== 1 || pem.containsPrivateKey) {
    const found = pem.containsPrivateKey ? 'private key material' : `${certs.length} certificates`;
    throw new CrossSignRefusedError([`expected exactly one PEM certificate as ${role}, found ${found}; pass the anchor certificate alone.`]);
  }
  return parseCertificate((certs[0] as { der: Uint8Array }).der);
}

interface SigningAlgorithm {
  import: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  sign: webcrypto.EcdsaParams | webcrypto.Algorithm;
}

/** The signature Go's crypto/x509 (and so cert-manager) would make with A's key. */
function signingAlgorithmFor(anchor: ParsedCertificate): SigningAlgorithm | undefined {
  const alg = anchor.keyAlgorithm;
  if (alg.kind === 'ecdsa' && (alg.curve === 'P-256' || alg.curve === 'P-384')) {
    const hash = alg.curve === 'P-256' ? 'SHA-256' : 'SHA-384';
    return { import: { name: 'ECDSA', namedCurve: alg.curve }, sign: { name: 'ECDSA', hash } };
  }
  if (alg.kind === 'rsa') {
    return { import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } };
  }
  return undefined;
}

async function importSigningKey(keyPem: string, signing: SigningAlgorithm): Promise<webcrypto.CryptoKey> {
  const pkcs8 = createPrivateKey({ key: keyPem, format: 'pem' }).export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', pkcs8, signing.import, false, ['sign']);
}

/** The certificate's own SKID, or the RFC 5280 method-1 identifier of its key when it has none. */
async function keyIdentifierOf(cert: X509Certificate): Promise<string> {
  const own = cert.getExtension(SubjectKeyIdentifierExtension)?.keyId;
  if (own) return own;
  return (await SubjectKeyIdentifierExtension.create(cert.publicKey, false, nodeCrypto)).keyId;
}

/** X must carry B's exact subject and key bytes and A's exact subject bytes, or no verifier links them. */
function assertCarries(minted: ParsedCertificate, anchors: { newAnchor: ParsedCertificate; oldAnchor: ParsedCertificate }): void {
  const x = tbsFields(minted.der);
  const b = tbsFields(anchors.newAnchor.der);
  const a = tbsFields(anchors.oldAnchor.der);
  const same = (left: Uint8Array, right: Uint8Array) => Buffer.from(left).equals(Buffer.from(right));
  const mismatches = [
    same(x.subject, b.subject) ? undefined : "subject differs from the new anchor's subject bytes",
    same(x.spki, b.spki) ? undefined : "public key differs from the new anchor's key bytes",
    same(x.issuer, a.subject) ? undefined : "issuer differs from the issuing anchor's subject bytes",
  ].filter((m): m is string => m !== undefined);
  if (mismatches.length > 0) {
    throw new CrossSignRefusedError([
      `expected the cross-signed certificate to repeat the anchors' names and key byte for byte, found its ${mismatches.join(', ')}; report this with both anchors' certificates (not their keys).`,
    ]);
  }
}

interface TbsFields {
  issuer: Uint8Array;
  subject: Uint8Array;
  spki: Uint8Array;
}

/** The raw DER of issuer, subject and SubjectPublicKeyInfo inside a certificate's TBSCertificate. */
function tbsFields(der: Uint8Array): TbsFields {
  const certificate = readTlv(der, 0);
  const tbs = readTlv(der, certificate.contentStart);
  let offset = tbs.contentStart;
  const fields: Uint8Array[] = [];
  while (offset < tbs.end) {
    const field = readTlv(der, offset);
    if (!(fields.length === 0 && der[offset] === 0xa0)) fields.push(der.subarray(offset, field.end)); // skip [0] version
    offset = field.end;
  }
  // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ...
  const [, , issuer, , subject, spki] = fields;
  if (!issuer || !subject || !spki) throw new Error('expected a TBSCertificate with issuer, subject and key, found fewer fields; pass a DER X.509 certificate');
  return { issuer, subject, spki };
}

function readTlv(der: Uint8Array, offset: number): { contentStart: number; end: number } {
  const first = der[offset + 1];
  if (first === undefined) throw new Error(`expected a DER element at byte ${offset}, found the end of the input; pass a DER X.509 certificate`);
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    const octets = first & 0x7f;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (der[contentStart + i] ?? 0);
    contentStart += octets;
  }
  const end = contentStart + length;
  if (end > der.length) throw new Error(`expected a DER element of ${length} bytes at byte ${offset}, found only ${der.length - contentStart}; pass a DER X.509 certificate`);
  return { contentStart, end };
}
