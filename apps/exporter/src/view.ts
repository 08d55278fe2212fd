// The PKI health exporter's decisions: from the cache's plain snapshot to the values of every
// exporter metric (certificates, bundles, stale proxies, rotation). Pure apart from the clock.
import { issuerChainOf, type ExporterSnapshot, type IssuerChain, type MeshedPodView } from '@linkerd-rotator/kube/caches';
import type { ObjectNames } from '@linkerd-rotator/names';
import {
  bundleSyncedAt,
  parseState,
  stalenessOf,
  stalenessStrategy,
  trustContext,
  type BundleFacts,
  type ClusterSnapshot,
  type IdentityIssuerFacts,
  type MeshedPod,
  type Phase,
  type StopReason,
} from '@linkerd-rotator/rotation';
import { BundleCache, shortFingerprint, verifyChain, type ParsedCertificate } from '@linkerd-rotator/x509';

/** The `role` label of the certificate metrics. */
export const CERTIFICATE_ROLES = [
  'prepared-anchor',
  'active-anchor',
  'previous-anchor',
  'trust-bundle',
  'identity-issuer',
  'identity-issuer-chain',
] as const;
export type CertificateRole = (typeof CERTIFICATE_ROLES)[number];

export interface CertificateSample {
  role: CertificateRole;
  namespace: string;
  /** Short SHA-256 of the DER. */
  fingerprint: string;
  subject: string;
  /** Unix seconds. */
  notBefore: number;
  notAfter: number;
}

export interface BundleSample {
  namespace: string;
  /** SHA-256 of `ca-bundle.crt` exactly as stored (what pods' `trust-root-sha256` is compared with); "" when the key is missing. */
  sha256: string;
  certificates: number;
  /** undefined when the active anchor is unknown (its Secret is missing). */
  containsActiveAnchor?: boolean;
  /** undefined when the issuer is unknown. */
  containsIssuerAnchor?: boolean;
}

export interface PodSample {
  namespace: string;
  meshed: number;
  /**
   * Stale pods, by the strategy of the rotation under way or else the last one. cross-signed: the
   * proxy trusts no anchor a valid chain from the issuer reaches (libs/rotation's rule: the issuer's
   * anchor, or one that cross-signed it while that cross-signature is valid). restart (and a pod whose
   * trust cannot be inferred): it holds another bundle than the current one. A pod relying on a
   * cross-signature is never stale. Undefined when the current bundle is unknown.
   */
  stale?: number;
  /** Pods that reach the issuer only through a cross-signature (libs/rotation `crossSignatureReliances`); undefined when the state cannot be read. */
  relyingOnCrossSignature?: number;
}

/** A cross-signature the identity issuer's chain carries: X, the anchor it stands for and the anchor that signed it (short fingerprints). */
export interface CrossSignatureSample {
  fingerprint: string;
  anchor: string;
  signedBy: string;
  subject: string;
  /** Unix seconds. */
  notAfter: number;
}

export interface RotationSample {
  /** false when the state ConfigMap exists but does not hold a readable state v1. */
  stateValid: boolean;
  /** undefined when the state is invalid. */
  phase?: Phase;
  /** Unix seconds; set while a rotation is under way or stopped. */
  phaseStartedAt?: number;
  /**
   * Unix seconds the long gate the rotation is parked on opens (state `rotation.waitingUntil`,
   * cross-signed: old-leaves-expired); set from when a run parks it until a run moves it on.
   */
  waitingUntil?: number;
  lastSuccessAt?: number;
  lastFailure?: { at: number; reason: StopReason };
}

export interface PreparedAnchorSample {
  /** Unix seconds the prepared anchor with a key other than the active anchor's was issued; undefined when none waits. */
  waitingSince?: number;
}

export interface ExporterView {
  certificates: CertificateSample[];
  bundles: BundleSample[];
  pods: PodSample[];
  podsWatched: boolean;
  rotation: RotationSample;
  /** undefined when the prepared or the active anchor is unknown. */
  prepared?: PreparedAnchorSample;
  crossSignatures: CrossSignatureSample[];
  /** Epoch ms at which this view goes out of date although the snapshot did not change (a cross-signature ends). */
  validUntil?: number;
}

export interface ExporterInput {
  snapshot: ExporterSnapshot;
  names: ObjectNames;
  /** The clock: whether a cross-signature is still valid depends on it. */
  now: Date;
}

/** Subjects longer than this are cut, so a hostile certificate cannot blow up a label. */
const MAX_SUBJECT = 128;
/** Certificates reported per bundle at most (the webhook refuses bundles over its own limit anyway). */
const MAX_BUNDLE_CERTIFICATES = 150;

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
const isoSeconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/**
 * Derives the view from the snapshots. Certificates are parsed through a bounded cache keyed by the
 * PEM text's SHA-256, so an unchanged bundle costs one hash per call.
 */
export class ExporterModel {
  private readonly bundles = new BundleCache(64);
  /** The newest stop this process has seen: the state drops `stopped` once a run resumes. */
  private lastFailure: RotationSample['lastFailure'];
  private readonly stateCache = new Map<string, ReturnType<typeof parseState>>();

  private certificates(pem: string | undefined): ParsedCertificate[] {
    return pem === undefined ? [] : this.bundles.parse(pem).certificates;
  }

  async view(input: ExporterInput): Promise<ExporterView> {
    const { snapshot, names, now } = input;
    const prepared = this.certificates(snapshot.preparedAnchor?.certPem)[0];
    const active = this.certificates(snapshot.activeAnchor?.certPem)[0];
    const previous = this.certificates(snapshot.previousAnchor?.certPem)[0];
    const issuerChain = this.certificates(snapshot.issuer?.certPem);
    const issuer = issuerChain[0];
    const issuerCa = this.certificates(snapshot.issuer?.caPem);

    const certificates = new Map<string, CertificateSample>();
    const add = (role: CertificateRole, namespace: string, cert: ParsedCertificate | undefined) => {
      if (!cert) return;
      const fingerprint = shortFingerprint(cert.fingerprint);
      const key = `${role}\u0000${namespace}\u0000${fingerprint}`;
      if (certificates.has(key)) return;
      certificates.set(key, {
        role,
        namespace,
        fingerprint,
        subject: cert.subject.slice(0, MAX_SUBJECT),
        notBefore: seconds(cert.notBefore),
        notAfter: seconds(cert.notAfter),
      });
    };
    add('prepared-anchor', names.trustNamespace, prepared);
    add('active-anchor', names.trustNamespace, active);
    add('previous-anchor', names.trustNamespace, previous);
    add('identity-issuer', names.linkerdNamespace, issuer);
    for (const cert of [...issuerChain.slice(1), ...issuerCa]) add('identity-issuer-chain', names.linkerdNamespace, cert);

    // Linkerd's own namespace always has a row: a missing trust-roots ConfigMap there is the worst case.
    const targets = [...snapshot.trustRoots];
    if (!targets.some((t) => t.namespace === names.linkerdNamespace)) targets.push({ namespace: names.linkerdNamespace, source: 'missing' });
    const bundles: BundleSample[] = [];
    const bundleFacts: BundleFacts[] = [];
    let currentSha: string | undefined;
    for (const target of targets.sort((a, b) => a.namespace.localeCompare(b.namespace))) {
      const parsed = target.pem === undefined ? undefined : this.bundles.parse(target.pem);
      const certs = (parsed?.certificates ?? []).slice(0, MAX_BUNDLE_CERTIFICATES);
      if (parsed) bundleFacts.push({ namespace: target.namespace, sha256: parsed.textSha256, anchors: certs.map((c) => c.fingerprint) });
      for (const cert of certs) add('trust-bundle', target.namespace, cert);
      const sample: BundleSample = { namespace: target.namespace, sha256: parsed?.textSha256 ?? '', certificates: certs.length };
      if (active) sample.containsActiveAnchor = certs.some((c) => c.fingerprint === active.fingerprint);
      if (issuer) {
        const chain = await verifyChain(issuer, { anchors: certs, intermediates: issuerChain.slice(1) });
        sample.containsIssuerAnchor = chain.ok;
      }
      bundles.push(sample);
      if (target.namespace === names.linkerdNamespace && parsed) currentSha = parsed.textSha256;
    }

    // The engine's issuer facts, from the certificates held: anchors of the Secrets and bundles, and as
    // signers of X those pods trust literally and the active Secret's cross-signer.crt (after Retire the
    // old anchor is in no Secret or bundle, and it verifies X).
    const anchors = [prepared, active, previous, ...bundleFacts.flatMap((b) => this.certificates(targets.find((t) => t.namespace === b.namespace)?.pem))].filter((c) => c !== undefined);
    const chain: IssuerChain = issuer ? await issuerChainOf({ issuer, intermediates: issuerChain.slice(1), anchors, signers: [...(snapshot.podAnchors ?? []), snapshot.activeAnchor?.crossSignerPem].flatMap((pem) => this.certificates(pem)) }) : { crossSignatures: [] };
    const crossSignatures = chain.crossSignatures.map((match) => ({
      fingerprint: shortFingerprint(match.certificate.fingerprint),
      anchor: shortFingerprint(match.of.fingerprint),
      signedBy: shortFingerprint(match.by.fingerprint),
      subject: match.certificate.subject.slice(0, MAX_SUBJECT),
      notAfter: seconds(match.certificate.notAfter),
    }));
    const ends = chain.crossSignatures.map((match) => match.certificate.notAfter.getTime()).filter((t) => t >= now.getTime());

    const state = this.state(snapshot);
    const rotation = this.rotation(state);
    const facts: ClusterFacts = {
      now: now.getTime(),
      bundles: bundleFacts,
      ...(issuer ? { issuer: { issuing: 'absent', revision: 0, fingerprint: issuer.fingerprint, notBefore: issuer.notBefore.getTime(), notAfter: issuer.notAfter.getTime(), ...chain } } : {}),
    };
    const view: ExporterView = {
      certificates: [...certificates.values()],
      bundles,
      pods: this.pods(snapshot, { currentSha, parsed: state, facts }),
      podsWatched: snapshot.podsWatched,
      rotation,
      crossSignatures,
      // Just past the earliest end still ahead: a cross-signature is valid up to its notAfter.
      ...(ends.length > 0 ? { validUntil: Math.min(...ends) + 1 } : {}),
    };
    if (prepared && active) {
      view.prepared = prepared.spkiFingerprint === active.spkiFingerprint ? {} : { waitingSince: seconds(prepared.notBefore) };
    }
    return view;
  }

  private state(snapshot: ExporterSnapshot): ReturnType<typeof parseState> {
    const text = snapshot.state?.data['state.json'] ?? '';
    let parsed = this.stateCache.get(text);
    if (!parsed) {
      parsed = parseState(snapshot.state?.data);
      // Only the latest text matters; keep the map from growing with every state write.
      this.stateCache.clear();
      this.stateCache.set(text, parsed);
    }
    return parsed;
  }

  private rotation(parsed: ReturnType<typeof parseState>): RotationSample {
    if (!parsed.ok) return { stateValid: false, ...(this.lastFailure ? { lastFailure: this.lastFailure } : {}) };
    const state = parsed.state;
    const sample: RotationSample = { stateValid: true, phase: state.phase };
    if (state.rotation) sample.phaseStartedAt = isoSeconds(state.rotation.phaseStartedAt);
    if (state.rotation?.waitingUntil !== undefined) sample.waitingUntil = isoSeconds(state.rotation.waitingUntil);
    if (state.last) sample.lastSuccessAt = isoSeconds(state.last.finishedAt);
    if (state.stopped) {
      const seen = { at: isoSeconds(state.stopped.at), reason: state.stopped.reason };
      if (!this.lastFailure || seen.at >= this.lastFailure.at) this.lastFailure = seen;
    }
    if (this.lastFailure) sample.lastFailure = this.lastFailure;
    return sample;
  }

  private pods(snapshot: ExporterSnapshot, input: { currentSha: string | undefined; parsed: ReturnType<typeof parseState>; facts: ClusterFacts }): PodSample[] {
    const { currentSha, parsed, facts } = input;
    // Proxies that read the ConfigMap at container start are fresh when started at or after the
    // second every target held the bundle (libs/rotation `bundleSyncedAt`: the runner only rolls pods
    // after that second), so a fresh pod never reads stale.
    const syncedAt = parsed.ok && currentSha ? bundleSyncedAt(parsed.state, currentSha) : undefined;
    const holdsOtherBundle = (pod: MeshedPodView) =>
      pod.trustFromConfigMap
        ? syncedAt !== undefined && pod.startTime !== undefined && pod.startTime < syncedAt
        : pod.trustRootSha256 !== undefined && pod.trustRootSha256 !== currentSha;
    // libs/rotation `stalenessOf`, the rule `status` and `check` follow too: by the strategy of the
    // rotation under way or the last one; a pod relying on a cross-signature is never stale; a pod it
    // cannot judge by trust is judged by the bundle it holds.
    const strategy = parsed.ok ? stalenessStrategy(parsed.state) : 'restart';
    const trust = parsed.ok ? trustContext(engineSnapshot(facts), parsed.state) : undefined;
    const byNamespace = new Map<string, PodSample>();
    for (const pod of snapshot.pods) {
      let sample = byNamespace.get(pod.namespace);
      if (!sample) {
        sample = { namespace: pod.namespace, meshed: 0, ...(currentSha ? { stale: 0 } : {}), ...(trust ? { relyingOnCrossSignature: 0 } : {}) };
        byNamespace.set(pod.namespace, sample);
      }
      sample.meshed++;
      const judged = trust ? stalenessOf(meshedPodOf(pod), { trust, issuer: facts.issuer, now: facts.now, strategy }) : undefined;
      if (judged?.relying) sample.relyingOnCrossSignature = (sample.relyingOnCrossSignature ?? 0) + 1;
      if (!currentSha) continue;
      const stale = judged?.stale ?? holdsOtherBundle(pod);
      if (stale) sample.stale = (sample.stale ?? 0) + 1;
    }
    return [...byNamespace.values()].sort((a, b) => a.namespace.localeCompare(b.namespace));
  }
}


/** What the exporter knows of the cluster in the engine's terms (no injector, workloads or events). */
interface ClusterFacts {
  now: number;
  bundles: BundleFacts[];
  issuer?: IdentityIssuerFacts;
}

/** A pod as the engine sees it; tier, owner and readiness play no part in the trust rules used here. */
function meshedPodOf(pod: MeshedPodView): MeshedPod {
  return {
    namespace: pod.namespace,
    name: pod.name,
    tier: 'data-plane',
    identityController: false,
    ...(pod.trustRootSha256 !== undefined ? { trustRootSha256: pod.trustRootSha256 } : {}),
    trustFromConfigMap: pod.trustFromConfigMap,
    ...(pod.trustedAnchors !== undefined ? { trustedAnchors: pod.trustedAnchors } : {}),
    startedAt: pod.startTime ?? 0,
    ready: true,
  };
}

/** The exporter's facts as the engine's snapshot, for the trust context (bundles and the clock; pods are judged one by one). */
function engineSnapshot(facts: ClusterFacts): ClusterSnapshot {
  return {
    observedAt: facts.now,
    prepared: { issuing: 'absent', revision: 0 },
    ...(facts.issuer ? { issuer: facts.issuer } : {}),
    bundles: facts.bundles,
    pods: [],
    workloads: [],
    identityEvents: [],
  };
}
