// Which anchor the identity issuer chains to, and the cross-signatures its chain carries: the
// engine's IdentityIssuerFacts `chainsTo`/`chainVia`, computed from certificates the caller holds.
import type { CrossSignatureFacts, IdentityIssuerFacts } from '@linkerd-rotator/rotation';
import { crossSignatureAmong, verifyChain, type CrossSignatureMatch, type ParsedCertificate } from '@linkerd-rotator/x509';

export interface IssuerChainInput {
  /** The issuer certificate, first of its Secret's tls.crt. */
  readonly issuer: ParsedCertificate;
  /** The rest of tls.crt (e.g. X after a cross-signed promotion). */
  readonly intermediates: readonly ParsedCertificate[];
  /** Anchors the issuer may chain to: what the anchor Secrets hold (anchorPemOf) and what the bundles hold. */
  readonly anchors: readonly ParsedCertificate[];
  /**
   * Further anchors that may have signed a cross-signature (those pods trust): after Retire the old
   * anchor is in no Secret or bundle, but X still serves the pods that trust only it.
   */
  readonly signers?: readonly ParsedCertificate[];
}

export interface IssuerChain extends Pick<IdentityIssuerFacts, 'chainsTo' | 'chainVia'> {
  /** The cross-signatures behind `chainVia`, with the anchor each stands for and the one that signed it. */
  readonly crossSignatures: readonly CrossSignatureMatch[];
}

/**
 * `chainsTo`: the anchor the issuer verifies against (anchors are tried before intermediates, so an
 * issuer under B reports B with X beside it). `chainVia`: every intermediate that is a cross-signature
 * of that anchor by another known anchor, with its notAfter (validity is the caller's to compare).
 */
export async function issuerChainOf(input: IssuerChainInput): Promise<IssuerChain> {
  const result = await verifyChain(input.issuer, { anchors: input.anchors, intermediates: input.intermediates, targetSignsLeaves: true });
  if (!result.ok) return { crossSignatures: [] };
  const chainsTo = result.anchor.fingerprint;
  const candidates = [...input.anchors, ...(input.signers ?? [])];
  const crossSignatures: CrossSignatureMatch[] = [];
  for (const cert of input.intermediates) {
    const match = await crossSignatureAmong(cert, candidates);
    if (match && match.of.fingerprint === chainsTo) crossSignatures.push(match);
  }
  const chainVia: CrossSignatureFacts[] = crossSignatures.map((match) => ({ anchor: match.by.fingerprint, notAfter: match.certificate.notAfter.getTime() }));
  return { chainsTo, ...(chainVia.length > 0 ? { chainVia } : {}), crossSignatures };
}
