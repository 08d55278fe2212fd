// The trust-root rules shared by the admission webhook and `rotator validate-bundle`: what a
// Linkerd trust bundle and identity issuer must satisfy, as a verdict with reasons and warnings.
import { BundleCache, type ParsedBundle } from './bundle.js';
import { describeCertificate, isValidAt, type ParsedCertificate } from './certificate.js';
import { validityProblem, verifyChain, type ChainResult } from './chain.js';
import { crossSignatureAmong } from './cross-sign.js';
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
  /** The prepared anchor (waiting to be promoted): allowed in the bundle; a warning when missing. */
  preparedAnchor?: SourcedPem;
  /** The previous anchor (kept until a rotation retires it): allowed in the bundle; a warning when missing. */
  previousAnchor?: SourcedPem;
  /**
   * Anchors that may have cross-signed one of the anchors above (the active Secret's
   * cross-signer.crt), used only to name a cross-signature found in the bundle; never allowed in it.
   */
  crossSigners?: SourcedPem[];
  now: Date;
  limits?: Partial<BundleLimits>;
  /**
   * Set while a recovery replaces the identity issuer (after its anchor or itself expired: proxies
   * already reject its leaves), naming the rotation state: a bundle that verifies the current issuer
   * is then not required (a warning says so). Every other rule still applies.
   */
  issuerReplacedBy?: string;
}

export interface IssuerInput {
  certPem: string;
  keyPem: string | undefined;
  /** `ca.crt` of the Secret, when present. */
  caPem?: string;
  /** How to name the issuer in messages, e.g. `Secret linkerd/linkerd-identity-issuer`. */
  source: string;
  /** The current trust bundle; the anchor the issuer chains to must be in it. */
  bundle?: SourcedPem;
  /**
   * The anchors the issuer may chain to: the active anchor, and after promotion the rotation's
   * target. Undefined when not known: then any anchor of the bundle is accepted, with a warning.
   */
  signers?: IssuerSigner[];
  now: Date;
}

/** An anchor that may sign the identity issuer, and why (for messages). */
export interface IssuerSigner extends SourcedPem {
  /** e.g. "the active anchor" or "the rotation's promoted anchor". */
  role: string;
}

/** The cache shared by every caller that does not bring its own. */
export const defaultBundleCache = new BundleCache(64);

const DAY_MS = 24 * 3600_000;

function list(certs: readonly ParsedCertificate[]): string {
  if (certs.length === 0) return 'no certificate';
  const shown = certs.slice(0, 5).map(describeCertificate).join(', ');
  return certs.length > 5 ? `${shown} and ${certs.length - 5} more` : shown;
}

/**
 * Structural problems of PEM text as reasons (private keys first: they matter most). Text holding
 * no certificate at all is left to the caller's "no certificate" reason.
 */
function pemReasons(parsed: ParsedBundle, what: string): string[] {
  const reasons: string[] = [];
  if (holdsNothing(parsed)) return reasons;
  if (parsed.containsPrivateKey) {
    const blocks = parsed.problems.filter((p) => p.kind === 'private-key').map((p) => p.index);
    const where = blocks.length > 0 ? ` (block ${blocks.join(', ')})` : '';
    reasons.push(
      `${what} contains a private key${where}, but it must hold only CERTIFICATE blocks; remove the key and treat it as exposed (rotate it), since this object is readable far more widely than a key may be`,
    );
  }
  for (const p of parsed.problems) {
    if (p.kind === 'private-key') continue;
    const fix = p.kind === 'linkerd-refuses' ? '' : '; fix or remove that block';
    reasons.push(`${what}: ${p.message}${fix}`);
  }
  return reasons;
}

/** No certificate, no key, and no defect but the text Linkerd cannot read (e.g. "garbage", ""). */
function holdsNothing(parsed: ParsedBundle): boolean {
  return parsed.certificates.length === 0 && !parsed.containsPrivateKey && parsed.problems.every((p) => p.kind === 'linkerd-refuses');
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
  if (parsed.strayTextLines > 0 && !holdsNothing(parsed)) {
    warnings.push(
      `${what} has ${parsed.strayTextLines} line(s) of text outside PEM blocks; Linkerd's identity controller skips text before a block, but refuses anything after the last one`,
    );
  }
  const certs = parsed.certificates;
  if (holdsNothing(parsed)) {
    reasons.push(`${what} contains no certificate; it must hold at least the active trust anchor as a PEM CERTIFICATE block`);
  }
  if (certs.length > limits.maxCertificates) {
    reasons.push(
      `${what} holds ${certs.length} certificates, over the limit of ${limits.maxCertificates}; keep only the Linkerd trust anchors (prepared, active, previous)`,
    );
  }

  const { certificates: anchorCerts, fingerprints: allowed, known: anchorsKnown, roles } = allowedAnchors(input, cache);
  // Built only when a certificate is not an allowed anchor (an allowed bundle never needs them).
  let crossCandidates: ParsedCertificate[] | undefined;
  const seen = new Map<string, number>();
  // Certificates that are no anchor of this install, named in one reason: a bundle of 50 foreign
  // CAs gets one explanation listing them, not 50 copies of it (and the webhook builds one string).
  const foreign: string[] = [];
  for (const [i, cert] of certs.entries()) {
    // A certificate's number and description, built when a message names it.
    const numbered = () => `${i + 1} ${describeCertificate(cert)}`;
    const name = () => `certificate ${numbered()}`;
    const count = (seen.get(cert.fingerprint) ?? 0) + 1;
    seen.set(cert.fingerprint, count);
    if (count === 2) warnings.push(`${name()} appears more than once in ${what}; duplicates are harmless but should be removed`);
    if (count > 1) continue;
    if (!cert.isCA) {
      reasons.push(`${name()} is not a CA (basicConstraints cA is not TRUE), but every certificate in ${what} must be a trust anchor; remove it`);
    }
    for (const problem of anchorAlgorithmProblems(cert)) {
      reasons.push(`${name()}: ${problem}, as Linkerd requires of trust anchors; replace it with a supported anchor`);
    }
    if (cert.isCA && !allowed.has(cert.fingerprint)) {
      crossCandidates ??= [...certs, ...anchorCerts, ...(input.crossSigners ?? []).flatMap((signer) => cache.parse(signer.pem).certificates.slice(0, 1))];
      const cross = await crossSignatureAmong(cert, crossCandidates);
      if (cross) {
        reasons.push(
          `${name()} is a cross-signature of ${describeCertificate(cross.of)} by ${describeCertificate(cross.by)}, not a trust anchor: it belongs in the identity issuer's chain (tls.crt of the issuer Secret, which cert-manager builds from tls.crt of the active anchor Secret), never in ${what}, where it would end with its signer (${cert.notAfter.toISOString()}); remove it and keep ${describeCertificate(cross.of)} itself (trust-manager must read anchor.crt of the active anchor Secret, not tls.crt)`,
        );
      } else if (anchorsKnown) {
        foreign.push(numbered());
      }
    }
    if (!isValidAt(cert, input.now)) {
      warnings.push(`${name()} ${validityProblem(cert, input.now)}; proxies ignore it, so remove it once nothing chains to it`);
    } else if (cert.notAfter.getTime() - input.now.getTime() < limits.expiryWarningDays * DAY_MS) {
      const days = Math.floor((cert.notAfter.getTime() - input.now.getTime()) / DAY_MS);
      warnings.push(`${name()} expires in ${days} day(s) (${cert.notAfter.toISOString()}); rotate it before then`);
    }
  }

  if (foreign.length > 0) {
    const [which, is, it, them] =
      foreign.length === 1 ? [`certificate ${foreign[0]}`, 'is not an anchor', 'it signs', 'it'] : [`certificates ${foreign.slice(0, -1).join(', ')} and ${foreign.at(-1)}`, 'are not anchors', 'they sign', 'them'];
    reasons.push(
      `${which} ${is} of this install: ${what} may hold only ${roles()} and the anchors a rotation keeps, and every proxy started afterwards would trust whatever ${it}; remove ${them} (to move the mesh to another anchor, let a rotation do it)`,
    );
  }
  if (!anchorsKnown && certs.length > 0) {
    warnings.push(`no anchor Secret is known, so ${what} was not checked for certificates that are not anchors of this install`);
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
    const issuerParsed = cache.parse(input.issuer.pem);
    const issuer = issuerParsed.certificates[0];
    if (issuer === undefined) {
      warnings.push(`the identity issuer in ${input.issuer.source} could not be read, so ${what} was not checked against it`);
    } else {
      const chain = await issuerChainIn(parsed, issuerParsed);
      if (!chain.ok && input.issuerReplacedBy !== undefined) {
        warnings.push(
          `${what} does not verify the current identity issuer ${describeCertificate(issuer)} from ${input.issuer.source} (${chain.reason}): allowed because a recovery (${input.issuerReplacedBy}) replaces the issuer with one under the active anchor`,
        );
      } else if (!chain.ok) {
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

  for (const expected of [input.preparedAnchor, input.previousAnchor]) {
    if (expected === undefined) continue;
    const cert = cache.parse(expected.pem).certificates[0];
    if (cert && !present.has(cert.fingerprint)) {
      warnings.push(`${what} does not contain ${describeCertificate(cert)} from ${expected.source}; trust-manager normally includes it`);
    }
  }

  return { allowed: reasons.length === 0, reasons, warnings };
}

/** Chains found per bundle and issuer text, both parses of the BundleCache: kept while either parse is. */
const issuerChains = new WeakMap<ParsedBundle, WeakMap<ParsedBundle, Promise<ChainResult>>>();

/**
 * Whether the issuer (the first certificate of `issuer`, with the rest as intermediates) chains to a
 * CA of `bundle`. Without a validity instant the answer depends on the two certificate lists alone,
 * and both parses are immutable, so it is computed once per pair: the webhook asks it of the same
 * snapshot issuer and the same bundle text on every write trust-manager repeats.
 */
function issuerChainIn(bundle: ParsedBundle, issuer: ParsedBundle): Promise<ChainResult> {
  let byIssuer = issuerChains.get(bundle);
  if (!byIssuer) issuerChains.set(bundle, (byIssuer = new WeakMap()));
  let chain = byIssuer.get(issuer);
  if (!chain) {
    const [target, ...intermediates] = issuer.certificates as [ParsedCertificate, ...ParsedCertificate[]];
    chain = verifyChain(target, { anchors: bundle.certificates.filter((c) => c.isCA), intermediates, targetSignsLeaves: true });
    byIssuer.set(issuer, chain);
  }
  return chain;
}

/**
 * The certificates a bundle may hold: the prepared, active and previous anchors (each matched by
 * its DER) and the anchors the rotation keeps (by fingerprint). `known` is false when no anchor
 * Secret is known at all: the list is then not enforced (a warning says so). `roles` names them.
 */
function allowedAnchors(input: TrustBundleInput, cache: BundleCache): { certificates: ParsedCertificate[]; fingerprints: Set<string>; known: boolean; roles: () => string } {
  const byFingerprint = new Map<string, { cert: ParsedCertificate; roles: string[]; sources: string[] }>();
  for (const [role, anchor] of [
    ['prepared', input.preparedAnchor],
    ['active', input.activeAnchor],
    ['previous', input.previousAnchor],
  ] as const) {
    if (anchor === undefined) continue;
    const cert = cache.parse(anchor.pem).certificates[0];
    if (cert === undefined) continue;
    const entry = byFingerprint.get(cert.fingerprint) ?? { cert, roles: [], sources: [] };
    entry.roles.push(role);
    entry.sources.push(anchor.source);
    byFingerprint.set(cert.fingerprint, entry);
  }
  const entries = [...byFingerprint.values()];
  const certificates = entries.map((e) => e.cert);
  const fingerprints = new Set([...certificates.map((c) => c.fingerprint), ...(input.required ?? []).map((r) => r.fingerprint)]);
  // Named only in a reason, so built only for one.
  const roles = () => entries.map((e) => `the ${e.roles.join(' and ')} anchor ${describeCertificate(e.cert)} (${e.sources.join(', ')})`).join(', ');
  return { certificates, fingerprints, known: entries.length > 0, roles };
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
    if (holdsNothing(parsed)) {
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

  const intermediates = parsed.certificates.slice(1);
  const bundle = input.bundle && cache.parse(input.bundle.pem).certificates;
  const chainTo = (anchors: readonly ParsedCertificate[]) => verifyChain(issuer, { anchors, intermediates, at: input.now, targetSignsLeaves: true });
  const signers = (input.signers ?? []).flatMap((signer) => {
    const cert = cache.parse(signer.pem).certificates[0];
    return cert ? [{ ...signer, cert }] : [];
  });
  // Proxies accept the issuer's leaves when a path (through its intermediates, e.g. a cross-signature)
  // reaches an anchor of the bundle; and it must come from the active anchor (after promotion, the
  // rotation's target): any other anchor, even one in the bundle, signs leaves that proxies trusting
  // only the active anchor reject.
  const inBundle = bundle && (await chainTo(bundle));
  const notInBundle = (reason: string, hint: string) =>
    `${name} must chain to an anchor in the current trust bundle (${input.bundle?.source}), but it does not (${reason}); ${hint}`;
  if (signers.length > 0) {
    const wanted = signers.map((s) => `${s.role} ${describeCertificate(s.cert)} (${s.source})`).join(' or ');
    const chain = await chainTo(signers.map((s) => s.cert));
    if (!chain.ok && inBundle?.ok) {
      reasons.push(
        `${name} must chain to ${wanted}, but it chains to ${describeCertificate(inBundle.anchor)}, another anchor of ${input.bundle?.source}; proxies that trust only the active anchor would reject every certificate identity issues with it, so issue the issuer from the active anchor Secret (its ClusterIssuer's spec.ca.secretName) and let a rotation promote a new anchor`,
      );
    } else if (!chain.ok) {
      reasons.push(`${name} must chain to ${wanted}, but it does not (${chain.reason}); issue it from the active anchor Secret (its ClusterIssuer's spec.ca.secretName)`);
    } else if (inBundle !== undefined && !inBundle.ok) {
      reasons.push(notInBundle(inBundle.reason, `it chains to ${describeCertificate(chain.anchor)}, so wait until trust-manager has published that anchor, then issue the issuer again`));
    } else if (inBundle === undefined) {
      warnings.push(`the current trust bundle is not known, so ${name} was not checked against it`);
    }
  } else if (inBundle === undefined) {
    warnings.push(`the current trust bundle is not known, so ${name} was not checked against it`);
  } else {
    warnings.push(`the active trust anchor is not known, so ${name} was checked against every anchor of the current trust bundle`);
    if (!inBundle.ok) reasons.push(notInBundle(inBundle.reason, 'issue it from the active anchor, or wait until its anchor is in the bundle'));
  }
  if (bundle !== undefined && input.caPem !== undefined && input.caPem.trim() !== '') {
    const ca = cache.parse(input.caPem).certificates[0];
    if (ca && !bundle.some((b) => b.fingerprint === ca.fingerprint)) {
      warnings.push(`ca.crt of ${input.source} is ${describeCertificate(ca)}, which is not in the current trust bundle`);
    }
  }
  return { allowed: reasons.length === 0, reasons, warnings };
}
