// Trust-bundle parsing: PEM text -> parsed certificates plus every defect found, and a bounded
// cache keyed by the text's SHA-256 so each distinct bundle is parsed once, not once per request.
import { parseCertificate, toPem, type ParsedCertificate } from './certificate.js';
import { sha256Hex } from './fingerprint.js';
import { LruCache } from './lru.js';
import { parsePem, type PemProblem } from './pem.js';

export interface BundleProblem {
  kind: PemProblem['kind'] | 'not-a-certificate-block' | 'unparsable-certificate';
  index: number;
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

/** Parses a PEM bundle. Never throws; defects are listed in `problems`. */
export function parseBundle(text: string): ParsedBundle {
  const pem = parsePem(text);
  const problems: BundleProblem[] = pem.problems.map((p) => ({ kind: p.kind, index: p.index, message: p.message }));
  const certificates: ParsedCertificate[] = [];
  for (const block of pem.blocks) {
    if (block.label !== 'CERTIFICATE') {
      problems.push({
        kind: 'not-a-certificate-block',
        index: block.index,
        message: `block ${block.index} is "${block.label}", but only CERTIFICATE blocks are allowed`,
      });
      continue;
    }
    try {
      certificates.push(parseCertificate(block.der));
    } catch (err) {
      problems.push({
        kind: 'unparsable-certificate',
        index: block.index,
        message: `block ${block.index} is not a valid X.509 certificate: ${(err as Error).message}`,
      });
    }
  }
  problems.sort((a, b) => a.index - b.index);
  return {
    textSha256: sha256Hex(text),
    certificates,
    problems,
    containsPrivateKey: pem.containsPrivateKey,
    strayTextLines: pem.strayTextLines,
    normalizedPem: certificates.map(toPem).join(''),
  };
}

/** Canonical form of a bundle: certificate blocks only, 64-column base64, LF endings. */
export function normalizeBundle(text: string): string {
  return parseBundle(text).normalizedPem;
}

/**
 * Parses each distinct text once. Results are immutable facts about the text, so sharing them
 * between requests is safe; the LRU bound keeps a stream of distinct inputs from growing memory.
 */
export class BundleCache {
  private readonly cache: LruCache<string, ParsedBundle>;
  hits = 0;
  misses = 0;

  constructor(capacity = 64) {
    this.cache = new LruCache(capacity);
  }

  parse(text: string): ParsedBundle {
    const key = sha256Hex(text);
    const hit = this.cache.get(key);
    if (hit) {
      this.hits++;
      return hit;
    }
    this.misses++;
    const parsed = parseBundle(text);
    this.cache.set(key, parsed);
    return parsed;
  }
}
