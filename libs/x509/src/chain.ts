// Chain verification: walks from a certificate up to a trust anchor, checking each signature
// cryptographically, each issuer's CA flag, key usage and path length, and (optionally) validity.
import { nodeCrypto } from './peculiar.js';
import { describeCertificate, isValidAt, type ParsedCertificate } from './certificate.js';
import { LruCache } from './lru.js';

const signatureResults = new LruCache<string, Promise<boolean>>(4096);

/**
 * Whether `parent`'s public key verifies `child`'s signature. Results are cached by the child's DER
 * fingerprint and the parent's key fingerprint: a signature relation between two fixed byte strings
 * never changes.
 */
export function verifySignature(child: ParsedCertificate, parent: ParsedCertificate): Promise<boolean> {
  const key = `${child.fingerprint}:${parent.spkiFingerprint}`;
  return signatureResults.getOrCompute(key, () =>
    child.x509
      .verify({ publicKey: parent.x509.publicKey, signatureOnly: true }, nodeCrypto)
      .catch(() => false),
  );
}

export interface ChainOptions {
  /** Certificates trusted as roots. Matched by DER fingerprint, never by subject. */
  anchors: readonly ParsedCertificate[];
  /** Untrusted certificates that may sit between the target and an anchor. */
  intermediates?: readonly ParsedCertificate[];
  /** When set, every certificate on the path must be valid at this instant. */
  at?: Date;
  /**
   * Treat the target as a CA that will sign leaves (Linkerd's identity issuer): it then counts
   * against its parents' pathLenConstraint, so an anchor with pathLen 0 is rejected up front
   * instead of failing every proxy's leaf verification later.
   */
  targetSignsLeaves?: boolean;
}

export type ChainResult =
  | { ok: true; anchor: ParsedCertificate; path: ParsedCertificate[] }
  | { ok: false; reason: string };

const MAX_DEPTH = 8;

/** Finds a verified path from `target` to one of `anchors`. */
export async function verifyChain(target: ParsedCertificate, options: ChainOptions): Promise<ChainResult> {
  const anchorSet = new Map(options.anchors.map((a) => [a.fingerprint, a]));
  const pool = [...options.anchors, ...(options.intermediates ?? [])];
  const failures: string[] = [];

  if (options.at && !isValidAt(target, options.at)) {
    return { ok: false, reason: `${describeCertificate(target)} ${validityProblem(target, options.at)}` };
  }
  const direct = anchorSet.get(target.fingerprint);
  if (direct) return { ok: true, anchor: direct, path: [direct] };

  const found = await walk([target]);
  if (found) return found;
  const reason =
    failures[0] ??
    `no certificate named "${target.issuer}" (the issuer of ${describeCertificate(target)}) is among the ${options.anchors.length} trust anchor(s)`;
  return { ok: false, reason };

  async function walk(path: ParsedCertificate[]): Promise<ChainResult | undefined> {
    const child = path[path.length - 1] as ParsedCertificate;
    if (path.length > MAX_DEPTH) {
      failures.push(`the chain from ${describeCertificate(target)} is longer than ${MAX_DEPTH} certificates`);
      return undefined;
    }
    // Names only pick candidates; the signature check below is what decides.
    const candidates = pool.filter(
      (p) => p.subject === child.issuer && !path.some((q) => q.fingerprint === p.fingerprint),
    );
    for (const parent of candidates) {
      if (!(await verifySignature(child, parent))) {
        failures.push(
          `${describeCertificate(parent)} has the right name but its key did not sign ${describeCertificate(child)} (signature does not verify)`,
        );
        continue;
      }
      const problem = parentProblem(parent, path);
      if (problem) {
        failures.push(problem);
        continue;
      }
      const anchor = anchorSet.get(parent.fingerprint);
      if (anchor) return { ok: true, anchor, path: [...path, parent] };
      const deeper = await walk([...path, parent]);
      if (deeper) return deeper;
    }
    return undefined;
  }

  function parentProblem(parent: ParsedCertificate, path: ParsedCertificate[]): string | undefined {
    if (!parent.isCA) return `${describeCertificate(parent)} signed the chain but is not a CA (basicConstraints cA is not TRUE)`;
    if (parent.canSignCertificates === false) return `${describeCertificate(parent)} is a CA whose keyUsage lacks keyCertSign`;
    if (options.at && !isValidAt(parent, options.at)) return `${describeCertificate(parent)} ${validityProblem(parent, options.at)}`;
    if (parent.pathLength !== undefined) {
      // CA certificates below this parent; the target counts when it will itself sign leaves.
      const below = path.length - 1 + (options.targetSignsLeaves ? 1 : 0);
      if (below > parent.pathLength) {
        return `${describeCertificate(parent)} allows ${parent.pathLength} intermediate CA(s) below it (pathLenConstraint) but the chain needs ${below}`;
      }
    }
    return undefined;
  }
}

export function validityProblem(cert: Pick<ParsedCertificate, 'notBefore' | 'notAfter'>, at: Date): string {
  if (at.getTime() < cert.notBefore.getTime()) return `is not valid before ${cert.notBefore.toISOString()}`;
  if (at.getTime() > cert.notAfter.getTime()) return `expired at ${cert.notAfter.toISOString()}`;
  return 'is within its validity period';
}
