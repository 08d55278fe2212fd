// Trust-bundle parsing: PEM text -> parsed certificates plus every defect found, and a bounded
// cache keyed by the text's SHA-256 so each distinct bundle is parsed once, not once per request.
import { parseCertificate, toPem, type ParsedCertificate } from './certificate.js';
import { sha256Hex } from './fingerprint.js';
import { readBundleAsLinkerd } from './linkerd-pem.js';
import { LruCache } from './lru.js';
import { parsePem, where, type PemBlock, type PemProblem } from './pem.js';

export interface BundleProblem {
  kind:
    | PemProblem['kind']
    | 'not-a-certificate-block'
    | 'unparsable-certificate'
    /** Linkerd's identity controller refuses to start on the text (`DecodePEMCertificates` fails). */
    | 'linkerd-refuses'
    /** A certificate Linkerd's identity controller never reads (after a non-CERTIFICATE block, or a block Go's PEM decoder skips). */
    | 'linkerd-drops';
  /** Block number (1-based); text after the last block counts as one block past the last. */
  index: number;
  /** 1-based line the problem starts at. */
  line: number;
  message: string;
}

export interface ParsedBundle {
  /** SHA-256 of the text exactly as given (what Linkerd's `trust-root-sha256` annotation hashes). */
  textSha256: string;
  certificates: ParsedCertificate[];
  problems: BundleProblem[];
  containsPrivateKey: boolean;
  strayTextLines: number;
  /** Only the certificates, canonical PEM, in the given order. */
  normalizedPem: string;
}

/**
 * Parses a PEM bundle. Never throws; defects are listed in `problems`, including everything
 * Linkerd's identity controller would refuse or silently drop (`readBundleAsLinkerd`): that is the
 * one rule for what a trust bundle's text may look like.
 */
export function parseBundle(text: string): ParsedBundle {
  const pem = parsePem(text);
  const problems: BundleProblem[] = pem.problems.map((p) => ({ kind: p.kind, index: p.index, line: p.line, message: p.message }));
  const certificates: ParsedCertificate[] = [];
  for (const block of pem.blocks) {
    if (block.label !== 'CERTIFICATE') {
      problems.push({
        kind: 'not-a-certificate-block',
        index: block.index,
        line: block.line,
        message: `${where(block)} is "${block.label}", but only CERTIFICATE blocks are allowed (Linkerd's identity controller stops reading at such a block and silently ignores every anchor after it)`,
      });
      continue;
    }
    try {
      certificates.push(parseCertificate(block.der));
    } catch (err) {
      problems.push({
        kind: 'unparsable-certificate',
        index: block.index,
        line: block.line,
        message: `${where(block)} is not a valid X.509 certificate: ${(err as Error).message}`,
      });
    }
  }
  problems.push(...linkerdProblems(text, pem.blocks, pem.problems.length + pem.blocks.length));
  problems.sort((a, b) => a.index - b.index || a.line - b.line);
  return {
    textSha256: sha256Hex(text),
    certificates,
    problems,
    containsPrivateKey: pem.containsPrivateKey,
    strayTextLines: pem.strayTextLines,
    normalizedPem: certificates.map(toPem).join(''),
  };
}

/**
 * What Linkerd's identity controller would refuse, or read only in part: text after the last END
 * line, and certificate blocks it never reaches or does not recognise. Blocks are matched in order
 * by their DER.
 */
function linkerdProblems(text: string, blocks: readonly PemBlock[], blockCount: number): BundleProblem[] {
  const linkerd = readBundleAsLinkerd(text);
  const problems: BundleProblem[] = [];
  let next = 0;
  for (const block of blocks) {
    if (block.label !== 'CERTIFICATE') continue;
    const der = Buffer.from(block.der);
    const found = linkerd.certificates.findIndex((c, i) => i >= next && der.equals(Buffer.from(c.der)));
    if (found >= 0) {
      next = found + 1;
      continue;
    }
    const read = linkerd.certificates[next];
    const stopped = linkerd.stoppedAt;
    const why =
      stopped !== undefined && (read === undefined || stopped.line < read.line)
        ? `it comes after the "${stopped.label}" block at line ${stopped.line}, where Linkerd's identity controller stops reading, so identity would silently ignore it`
        : `Linkerd's identity controller does not recognise it as a PEM block (its BEGIN and END lines must start at the beginning of a line, end with "-----" and use LF or CRLF line breaks), so identity would silently ignore it`;
    problems.push({ kind: 'linkerd-drops', index: block.index, line: block.line, message: `${where(block)} (CERTIFICATE) is not read by Linkerd: ${why}` });
  }
  if (linkerd.refusedAt !== undefined) {
    const { line, blank } = linkerd.refusedAt;
    const found = blank ? 'an extra blank or whitespace-only line' : 'text that is no PEM block Linkerd can read';
    problems.push({
      kind: 'linkerd-refuses',
      index: blockCount + 1,
      line,
      message: `line ${line} starts ${found} after the last complete block; Linkerd's identity controller refuses to start on a bundle with anything after its last "-----END CERTIFICATE-----" line ("not a PEM certificate"), so remove everything after that line (a single final line break is fine)`,
    });
  }
  return problems;
}

/** Canonical form of a bundle: certificate blocks only, 64-column base64, LF endings. */
export function normalizeBundle(text: string): string {
  return parseBundle(text).normalizedPem;
}

/**
 * Texts up to this many characters are their own cache key. V8 hashes a string's content once and
 * keeps the hash in the string, so the snapshot's PEMs, looked up on every admission request, cost
 * a map lookup rather than a SHA-256 each. Longer texts are keyed by their SHA-256 in a map of their
 * own: V8 hashes strings over 16,383 characters by length alone, and a lookup would then compare
 * whole texts; and no text can pose as another's hash.
 */
const TEXT_KEY_MAX = 16_383;

/**
 * Parses each distinct text once. Results are immutable facts about the text, so sharing them
 * between requests is safe; the LRU bounds (`capacity` short texts and `capacity` long ones) keep a
 * stream of distinct inputs from growing memory.
 */
export class BundleCache {
  private readonly byText: LruCache<string, ParsedBundle>;
  private readonly bySha256: LruCache<string, ParsedBundle>;
  hits = 0;
  misses = 0;

  constructor(capacity = 64) {
    this.byText = new LruCache(capacity);
    this.bySha256 = new LruCache(capacity);
  }

  parse(text: string): ParsedBundle {
    const [cache, key] = text.length <= TEXT_KEY_MAX ? [this.byText, text] : [this.bySha256, sha256Hex(text)];
    const hit = cache.get(key);
    if (hit) {
      this.hits++;
      return hit;
    }
    this.misses++;
    const parsed = parseBundle(text);
    cache.set(key, parsed);
    return parsed;
  }
}
