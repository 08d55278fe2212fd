// The simulated proxies' acceptance decisions, made by Linkerd's verifier (rustls-webpki through
// webpki-verify), cached per (roots, chain), with node's verdict kept beside it and every disagreement counted.
import { createHash, X509Certificate } from 'node:crypto';
import { WebpkiVerifier, type WebpkiVerdict } from '../cluster/webpki/client.js';

/** A set of trust anchors as one proxy loaded them at start. */
export interface JudgedRoots {
  pems: readonly string[];
  /** Identifies the set in the verdict cache (sha256 over the PEMs). */
  key: string;
  /** Short fingerprints, for reports. */
  fingerprints: readonly string[];
}

/** A chain as one proxy presents it: its leaf first, then identity's intermediates. */
export interface PresentedChain {
  pems: readonly string[];
  key: string;
  fingerprints: readonly string[];
  /** Inside [validFrom, validUntil) every certificate of the chain is in its validity period. */
  validFrom: number;
  validUntil: number;
}

/**
 * What is being judged: a client verifying a server's chain (server usage, with the identity the
 * client dialled), a server verifying a client's chain (client usage), or a proxy checking its own
 * renewed leaf against its roots (server usage, as linkerd2-proxy does).
 */
export type JudgedSide = 'client verifying server' | 'server verifying client' | 'own leaf';

export interface Disagreement {
  at: string;
  side: JudgedSide;
  /** namespace/pod of the proxy that judged, and of the proxy whose chain it judged. */
  judge: string;
  presenter: string;
  webpki: string;
  node: string;
  rootsFingerprints: readonly string[];
  chainFingerprints: readonly string[];
}

export interface JudgeStats {
  /** Verdicts asked of the judge, and how many of them webpki-verify actually computed. */
  verdicts: number;
  computed: number;
  /** Wall time spent awaiting verdicts, cache hits included. */
  waitedMs: number;
  disagreements: number;
  /**
   * node accepted and webpki, asked later, found the chain expired, with its earliest notAfter inside
   * the handshake (`handshakeMs` before the judging): node verified the chain when the peer's
   * Certificate arrived, the judge asks when the handshake completed, and under load that can be
   * seconds apart. Not a disagreement of the verifiers; webpki's decision stands.
   */
  expiredDuringHandshake: number;
}

/** The accepting verdict, or webpki's error variant (UnknownIssuer, CertExpired, ...). */
export type Judgement = { accepted: true } | { accepted: false; webpkiError: string; detail: string };

const shortFp = (der: Buffer): string => createHash('sha256').update(der).digest('hex').slice(0, 16);
const keyOf = (pems: readonly string[]): string => createHash('sha256').update(pems.join('\n')).digest('hex');

export function judgedRoots(pems: readonly string[]): JudgedRoots {
  return { pems, key: keyOf(pems), fingerprints: pems.map((pem) => shortFp(new X509Certificate(pem).raw)) };
}

export function presentedChain(certificates: readonly X509Certificate[]): PresentedChain {
  const pems = certificates.map((c) => c.toString());
  // webpki-verify is asked at whole seconds: keep a second of margin at both ends of the window.
  const validFrom = Math.max(...certificates.map((c) => new Date(c.validFrom).getTime())) + 1_000;
  const validUntil = Math.min(...certificates.map((c) => new Date(c.validTo).getTime())) - 1_000;
  return { pems, key: keyOf(pems), fingerprints: certificates.map((c) => shortFp(c.raw)), validFrom, validUntil };
}

/** At most this many requests are in webpki-verify at once; the rest wait in order. */
const MAX_IN_FLIGHT = 16;
/** More waiting than this means the verifier cannot keep up: fail loudly rather than queue forever. */
const MAX_WAITING = 1_000;
/** Examples of disagreements kept for the report (all are counted). */
const DISAGREEMENT_EXAMPLES = 5;

interface CachedVerdict {
  verdict: Promise<WebpkiVerdict>;
  chain: PresentedChain;
}

/** One webpki-verify process for one data plane and its traffic driver. */
export class ChainJudge {
  readonly disagreementExamples: Disagreement[] = [];
  private readonly stats: JudgeStats = { verdicts: 0, computed: 0, waitedMs: 0, disagreements: 0, expiredDuringHandshake: 0 };
  private readonly cache = new Map<string, CachedVerdict>();
  private readonly waiting: Array<() => void> = [];
  private inFlight = 0;
  private insertions = 0;
  closed = false;

  private constructor(private readonly verifier: WebpkiVerifier) {}

  static async start(options: { binary?: string; onBuildLine?: (line: string) => void } = {}): Promise<ChainJudge> {
    return new ChainJudge(await WebpkiVerifier.start(options));
  }

  get rustlsWebpkiVersion(): string {
    return this.verifier.rustlsWebpkiVersion;
  }

  /**
   * webpki's decision on `chain` for a proxy trusting `roots`, now, compared with node's own verdict
   * on the same chain (`nodeVerdict`: undefined when node accepted, else its error). A disagreement
   * is recorded; the decision is webpki's either way.
   */
  async judge(request: {
    side: JudgedSide;
    roots: JudgedRoots;
    chain: PresentedChain;
    /** The identity the client dialled, checked against the leaf's DNS SANs (client side only). */
    serverName?: string;
    nodeVerdict: string | undefined;
    /** The longest a handshake can last (its timeout): how long before now node may have verified. */
    handshakeMs?: number;
    judge: string;
    presenter: string;
  }): Promise<Judgement> {
    const started = performance.now();
    const judgedAt = Date.now();
    const verdict = await this.verdict(request);
    this.stats.verdicts++;
    this.stats.waitedMs += performance.now() - started;
    const nodeAccepts = request.nodeVerdict === undefined;
    // notAfter has whole seconds and webpki is asked at whole seconds: a second of slack.
    const expiredMidHandshake =
      nodeAccepts && !verdict.ok && verdict.error === 'CertExpired' && request.handshakeMs !== undefined && request.chain.validUntil >= judgedAt - request.handshakeMs - 1_000;
    if (expiredMidHandshake) {
      this.stats.expiredDuringHandshake++;
    } else if (verdict.ok !== nodeAccepts) {
      this.stats.disagreements++;
      if (this.disagreementExamples.length < DISAGREEMENT_EXAMPLES) {
        this.disagreementExamples.push({
          at: new Date().toISOString(),
          side: request.side,
          judge: request.judge,
          presenter: request.presenter,
          webpki: verdict.ok ? 'accepted' : verdict.error,
          node: request.nodeVerdict ?? 'accepted',
          rootsFingerprints: request.roots.fingerprints,
          chainFingerprints: request.chain.fingerprints,
        });
      }
    }
    return verdict.ok ? { accepted: true } : { accepted: false, webpkiError: verdict.error, detail: verdict.detail };
  }

  report(): JudgeStats {
    return { ...this.stats };
  }

  /** Stops the process; report() and the examples stay readable. */
  async close(): Promise<void> {
    this.closed = true;
    await this.verifier.close();
  }

  /**
   * Inside the chain's validity window the verdict cannot depend on the time (webpki checks only the
   * chain's dates, not the anchors'), so one verdict per (roots, chain, usage, name) serves every
   * handshake; outside it each handshake is judged afresh at its own time.
   */
  private verdict(request: { side: JudgedSide; roots: JudgedRoots; chain: PresentedChain; serverName?: string }): Promise<WebpkiVerdict> {
    const usage = request.side === 'server verifying client' ? 'client' : 'server';
    const now = Date.now();
    // webpki-verify is asked at whole seconds (floored) and webpki's notAfter is inclusive: in the
    // second after the chain's earliest notAfter it would still accept what node (at ms) calls
    // expired. Past that notAfter, ask at a second that is past it too, as node's verdict is.
    const earliestNotAfter = request.chain.validUntil + 1_000;
    const at = new Date(now > earliestNotAfter ? Math.max(now, earliestNotAfter + 1_000) : now);
    const ask = () => this.ask({ roots: request.roots.pems, chain: request.chain.pems, usage, at, ...(request.serverName === undefined ? {} : { serverName: request.serverName }) });
    if (now < request.chain.validFrom || now >= request.chain.validUntil) return ask();
    const key = `${usage} ${request.serverName ?? ''} ${request.roots.key} ${request.chain.key}`;
    const cached = this.cache.get(key);
    if (cached) return cached.verdict;
    const verdict = ask();
    this.cache.set(key, { verdict, chain: request.chain });
    // A failed request is not a verdict: let the next handshake ask again.
    verdict.catch(() => this.cache.delete(key));
    this.forgetExpired(now);
    return verdict;
  }

  private forgetExpired(now: number): void {
    if (++this.insertions % 256 !== 0) return;
    for (const [key, entry] of this.cache) if (entry.chain.validUntil <= now) this.cache.delete(key);
  }

  private async ask(request: Parameters<WebpkiVerifier['verify']>[0]): Promise<WebpkiVerdict> {
    if (this.inFlight >= MAX_IN_FLIGHT) {
      if (this.waiting.length >= MAX_WAITING) {
        throw new Error(`expected at most ${MAX_WAITING} verdicts waiting for webpki-verify, found ${this.waiting.length}; the verifier cannot keep up, lower the traffic concurrency`);
      }
      // The finishing request hands its slot over, so inFlight stays as it is.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.inFlight++;
    }
    try {
      this.stats.computed++;
      return await this.verifier.verify(request);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
  }
}
