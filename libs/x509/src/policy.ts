// The trust-root rules shared by the admission webhook and `rotator validate-bundle`: what a
// Linkerd trust bundle and identity issuer must satisfy, as a verdict with reasons and warnings.
import { BundleCache, type ParsedBundle } from './bundle.js';
import { describeCertificate, isValidAt, type ParsedCertificate } from './certificate.js';
import { validityProblem, verifyChain } from './chain.js';
import { shortFingerprint } from './fingerprint.js';
import { checkKeyMatchesCertificate } from './keys.js';
import { anchorAlgorithmProblems, issuerAlgorithmProblems } from './linkerd-rules.js';

/** Allowed or not; each reason and warning is one sentence: expected, found, what to do. */
export interface Verdict {
  allowed: boolean;
  reasons: string[];
  warnings: string[];
}

/** PEM text plus where it came from, for messages ("Secret cert-manager/linkerd-active-anchor"). */
export interface SourcedPem {
  pem: string;
  source: string;
}

/** An anchor that must stay in the bundle, e.g. because a rotation still needs it. */
export interface RequiredAnchor {
  fingerprint: string;
  /** Why it must stay, e.g. "rotation state (phase trust-both) in ConfigMap linkerd-rotator/linkerd-rotator-state". */
  source: string;
}

export interface BundleLimits {
  /** Largest bundle accepted, in bytes of UTF-8 text. */
  maxBytes: number;
  /** Most certificates accepted in one bundle. */
  maxCertificates: number;
  /** Warn when a certificate expires within this many days (`linkerd check` uses 60). */
  expiryWarningDays: number;
}

export const DEFAULT_BUNDLE_LIMITS: BundleLimits = { maxBytes: 256 * 1024, maxCertificates: 150, expiryWarningDays: 60 };

export interface TrustBundleInput {
  bundle: string;
  /** How to name the bundle in messages, e.g. `ConfigMap linkerd/linkerd-identity-trust-roots (ca-bundle.crt)`. */
  bundleName?: string;
  /** The anchor that currently signs issuers; the bundle must contain it (by DER). */
  activeAnchor?: SourcedPem;
  /** The current identity issuer certificate (tls.crt, may carry intermediates); an anchor in the bundle must verify it. */
  issuer?: SourcedPem;
  /** Anchors that must stay (rotation state, `--keep`). */
  required?: RequiredAnchor[];
  /** Anchors the bundle is expected to carry (prepared, previous); missing ones are warnings. */
  expected?: SourcedPem[];
  now: Date;
  limits?: Partial<BundleLimits>;
}

export interface IssuerInput {
  certPem: string;
  keyPem: string | undefined;
  /** `ca.crt` of the Secret, when present. */
  caPem?: string;
  /** How to name the issuer in messages, e.g. `Secret linkerd/linkerd-identity-issuer`. */
  source: string;
  /** The current trust bundle; the issuer must chain to one of its anchors. */
  bundle?: SourcedPem;
  now: Date;
}

/** The cache shared by every caller that does not bring its own. */
export const defaultBundleCache = new BundleCache(64);

const DAY_MS = 24 * 3600_000;

function list(certs: readonly ParsedCertificate[]): string {
  if (certs.length === 0) return 'no certificate';
  const shown = certs.slice(0, 5).map(describeCertificate).join(', ');
  return certs.length > 5 ? `${shown} and ${certs.length - 5} more` : shown;
}

/** Structural problems of PEM text as reasons (private keys first: they matter most). */
function pemReasons(parsed: ParsedBundle, what: string): string[] {
  const reasons: string[] = [];
  if (parsed.containsPrivateKey) {
    const blocks = parsed.problems.filter((p) => p.kind === 'private-key').map((p) => p.index);
    const where = blocks.length > 0 ? ` (block ${blocks.join(', ')})` : '';
    reasons.push(
      `${what} contains a private key${where}, but it must hold only CERTIFICATE blocks; remove the key and treat it as exposed (rotate it), since this object is readable far more widely than a key may be`,
    );
  }
  for (const p of parsed.problems) {
    if (p.kind === 'private-key') continue;
    reasons.push(`${what}: ${p.message}; fix or remove that block`);
  }
  return reasons;
}

/** Checks a Linkerd trust bundle (the `ca-bundle.crt` of `linkerd-identity-trust-roots`). */
export async function checkTrustBundle(input: TrustBundleInput, cache: BundleCache = defaultBundleCache): Promise<Verdict> {
  const limits = { ...DEFAULT_BUNDLE_LIMITS, ...input.limits };
  const what = input.bundleName ?? 'the trust bundle';
  const reasons: string[] = [];
  const warnings: string[] = [];

  const bytes = Buffer.byteLength(input.bundle, 'utf8');
  if (bytes > limits.maxBytes) {
    return {
      allowed: false,
      reasons: [
        `${what} is ${bytes} bytes, over the limit of ${limits.maxBytes}; a Linkerd trust bundle holds a few anchors, so remove certificates that are not Linkerd trust anchors`,
      ],
      warnings,
    };
  }
  const parsed = cache.parse(input.bundle);
  reasons.push(...pemReasons(parsed, what));
  if (parsed.strayTextLines > 0) {
    warnings.push(`${what} has ${parsed.strayTextLines} line(s) of text outside PEM blocks; they are ignored`);
  }
  const certs = parsed.certificates;
  if (certs.length === 0 && parsed.problems.length === 0 && !parsed.containsPrivateKey) {
    reasons.push(`${what} contains no certificate; it must hold at least the active trust anchor as a PEM CERTIFICATE block`);
  }
  if (certs.length > limits.maxCertificates) {
    reasons.push(
      `${what} holds ${certs.length} certificates, over the limit of ${limits.maxCertificates}; keep only the Linkerd trust anchors (prepared, active, previous)`,
    );
  }

  const seen = new Map<string, number>();
  for (const [i, cert] of certs.entries()) {
    const n = i + 1;
    const name = `certificate ${n} ${describeCertificate(cert)}`;
    const count = (seen.get(cert.fingerprint) ?? 0) + 1;
    seen.set(cert.fingerprint, count);
    if (count === 2) warnings.push(`${name} appears more than once in ${what}; duplicates are harmless but should be removed`);
    if (count > 1) continue;
    if (!cert.isCA) {
      reasons.push(`${name} is not a CA (basicConstraints cA is not TRUE), but every certificate in ${what} must be a trust anchor; remove it`);
    }
    for (const problem of anchorAlgorithmProblems(cert)) {
      reasons.push(`${name}: ${problem}, as Linkerd requires of trust anchors; replace it with a supported anchor`);
    }
    if (!isValidAt(cert, input.now)) {
      warnings.push(`${name} ${validityProblem(cert, input.now)}; proxies ignore it, so remove it once nothing chains to it`);
    } else if (cert.notAfter.getTime() - input.now.getTime() < limits.expiryWarningDays * DAY_MS) {
      const days = Math.floor((cert.notAfter.getTime() - input.now.getTime()) / DAY_MS);
      warnings.push(`${name} expires in ${days} day(s) (${cert.notAfter.toISOString()}); rotate it before then`);
    }
  }

  const present = new Set(certs.map((c) => c.fingerprint));

  // The active anchor signs the issuer: leaving it out breaks every proxy the moment it restarts.
  if (input.activeAnchor === undefined) {
    warnings.push(`the active trust anchor is not known, so ${what} was not checked for it`);
  } else {
    const active = cache.parse(input.activeAnchor.pem).certificates[0];
    if (active === undefined) {
      reasons.push(
        `the active trust anchor in ${input.activeAnchor.source} could not be read as a certificate, so ${what} cannot be checked against it; fix ${input.activeAnchor.source} first`,
      );
    } else if (!present.has(active.fingerprint)) {
      const namesake = certs.find((c) => c.subject === active.subject);
      const impostor = namesake
        ? ` (${describeCertificate(namesake)} has the same name but is a different certificate; anchors are matched by their DER bytes, never by name)`
        : '';
      reasons.push(
        `${what} must contain the active trust anchor ${describeCertificate(active)} from ${input.activeAnchor.source}, but it holds ${list(certs)}${impostor}; keep the active anchor in the bundle, or every proxy restarted afterwards rejects the mesh's certificates`,
      );
    }
  }

  if (input.issuer !== undefined) {
    const issuerCerts = cache.parse(input.issuer.pem).certificates;
    const issuer = issuerCerts[0];
    if (issuer === undefined) {
      warnings.push(`the identity issuer in ${input.issuer.source} could not be read, so ${what} was not checked against it`);
    } else {
      const anchors = certs.filter((c) => c.isCA);
      const chain = await verifyChain(issuer, { anchors, intermediates: issuerCerts.slice(1), targetSignsLeaves: true });
      if (!chain.ok) {
        reasons.push(
          `${what} must contain an anchor that verifies the current identity issuer ${describeCertificate(issuer)} from ${input.issuer.source}, but none does (${chain.reason}); keep the anchor that signed the issuer until the issuer has been re-issued by the new one`,
        );
      }
    }
  }

  for (const required of input.required ?? []) {
    if (!present.has(required.fingerprint)) {
      reasons.push(
        `${what} must keep the anchor sha256:${shortFingerprint(required.fingerprint)} required by ${required.source}, but it is missing; proxies started before the rotation still trust only that anchor, so let the rotation retire it`,
      );
    }
  }

  for (const expected of input.expected ?? []) {
    const cert = cache.parse(expected.pem).certificates[0];
    if (cert && !present.has(cert.fingerprint)) {
      warnings.push(`${what} does not contain ${describeCertificate(cert)} from ${expected.source}; trust-manager normally includes it`);
    }
  }

  return { allowed: reasons.length === 0, reasons, warnings };
}

/** Checks identity issuer credentials (the `linkerd-identity-issuer` Secret). */
export async function checkIssuer(input: IssuerInput, cache: BundleCache = defaultBundleCache): Promise<Verdict> {
  const reasons: string[] = [];
  const warnings: string[] = [];
  const crt = `tls.crt of ${input.source}`;
  const parsed = cache.parse(input.certPem);
  reasons.push(...pemReasons(parsed, crt));
  const issuer = parsed.certificates[0];
  if (issuer === undefined) {
    if (parsed.problems.length === 0 && !parsed.containsPrivateKey) {
      reasons.push(`${crt} holds no certificate; it must hold the issuer certificate in PEM`);
    }
    return { allowed: false, reasons, warnings };
  }
  const name = `the identity issuer ${describeCertificate(issuer)}`;
  if (!issuer.isCA) {
    reasons.push(`${name} is not a CA (basicConstraints cA is not TRUE), but Linkerd's identity controller signs proxy certificates with it; issue it with isCA: true`);
  } else if (issuer.canSignCertificates === false) {
    reasons.push(`${name} has a keyUsage without keyCertSign, so it cannot sign proxy certificates; issue it with the "cert sign" usage`);
  }
  if (!isValidAt(issuer, input.now)) {
    reasons.push(`${name} ${validityProblem(issuer, input.now)}, but the issuer must be valid now; re-issue it`);
  } else if (issuer.notAfter.getTime() - input.now.getTime() < DAY_MS) {
    warnings.push(`${name} expires within 24 hours (${issuer.notAfter.toISOString()}); proxy certificates are cut short to that time`);
  }
  for (const problem of issuerAlgorithmProblems(issuer)) {
    reasons.push(`${name}: ${problem}, as Linkerd requires of the issuer; issue it with an ECDSA P-256 key`);
  }

  if (input.keyPem === undefined || input.keyPem.trim() === '') {
    reasons.push(`${input.source} has no tls.key, but the identity controller needs the issuer's private key`);
  } else {
    const match = checkKeyMatchesCertificate(input.keyPem, issuer);
    if (!match.ok) reasons.push(`tls.key of ${input.source} must be the private key of ${name}, but ${match.reason}; write the certificate and its own key together`);
  }

  if (input.bundle === undefined) {
    warnings.push(`the current trust bundle is not known, so ${name} was not checked against it`);
  } else {
    const bundle = cache.parse(input.bundle.pem).certificates;
    const chain = await verifyChain(issuer, {
      anchors: bundle,
      intermediates: parsed.certificates.slice(1),
      at: input.now,
      targetSignsLeaves: true,
    });
    if (!chain.ok) {
      reasons.push(
        `${name} must chain to an anchor in the current trust bundle (${input.bundle.source}), but it does not (${chain.reason}); issue it from the active anchor, or wait until its anchor is in the bundle`,
      );
    }
    if (input.caPem !== undefined && input.caPem.trim() !== '') {
      const ca = cache.parse(input.caPem).certificates[0];
      if (ca && !bundle.some((b) => b.fingerprint === ca.fingerprint)) {
        warnings.push(`ca.crt of ${input.source} is ${describeCertificate(ca)}, which is not in the current trust bundle`);
      }
    }
  }
  return { allowed: reasons.length === 0, reasons, warnings };
}
