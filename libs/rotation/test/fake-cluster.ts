// An in-memory cluster for the rotation engine's tests: implements the ports and simulates controllers.
// cert-manager, trust-manager, the injector, identity replicas, rollouts, proxy leaves and webpki-style
// path building (through a cross-signature X) move on clock ticks.
import { createHash } from 'node:crypto';
import { DEFAULT_OBJECT_NAMES, type ObjectNames } from '@linkerd-rotator/names';
import type {
  AnchorCopy,
  ClusterSnapshot,
  FleetClusterPorts,
  IdentityEvent,
  MeshedPod,
  OwnerKind,
  RotationPorts,
  Tier,
  WaitCondition,
  WorkloadFacts,
  WorkloadKind,
  WorkloadRef,
} from '../src/index.js';
import { Rng } from './rng.js';

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Fingerprints of a test anchor, by label ("A", "B", ...). */
export function anchorFp(label: string): string {
  return sha256(`cert:${label}`);
}

export function bundleHash(anchors: Iterable<string>): string {
  return sha256([...anchors].sort().join('\n'));
}

/** What Linkerd's chart stamps on control-plane pods: a hash of a Helm value, unrelated to the bundle. */
export const HELM_VALUES_HASH = sha256('identityTrustAnchorsPEM: ""');

const START = Date.parse('2026-03-01T00:00:00Z');
const DAY = 86_400_000;

interface Anchor {
  readonly label: string;
  readonly fingerprint: string;
  readonly publicKeyFingerprint: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

/** A cross-signature X: the issuer's anchor's subject and key, signed by `anchor`, until `notAfter`. */
interface CrossSignature {
  readonly anchor: string;
  readonly notAfter: number;
}

interface Issuer {
  readonly serial: number;
  readonly fingerprint: string;
  readonly chainsTo: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** X as it really is in the issuer Secret's tls.crt (what identity sends proxies). */
  readonly via?: CrossSignature;
  /** X as the adapter reports it in the snapshot (differs from `via` only in the omit-x control). */
  readonly reportedVia?: CrossSignature;
}

/** A certificate as webpki sees it when building a path: names and keys only. */
interface CertNode {
  readonly subject: string;
  readonly spki: string;
  readonly issuerName: string;
  readonly signerSpki: string;
  readonly notAfter: number;
}

interface IdentityController {
  readonly anchors: ReadonlySet<string>;
  issuer?: Issuer;
  /** Simulates linkerd2#15109: this replica never sees issuer Secret updates. */
  deaf: boolean;
}

interface FakePod {
  readonly namespace: string;
  readonly name: string;
  readonly owner?: { kind: OwnerKind; name: string };
  readonly tier: Tier;
  readonly trustFromConfigMap: boolean;
  readonly trustRootSha256: string;
  /** Ground truth: the anchors this proxy holds. */
  readonly trust: ReadonlySet<string>;
  readonly startedAt: number;
  readyAt: number;
  /** `anchor` is the issuer's own anchor; `issuer` carries X when the chain had it. */
  leaf?: { anchor: string; issuedAt: number; issuer: Issuer };
  readonly templateGeneration: number;
  terminatingAt?: number;
  readonly identity?: IdentityController;
  readonly jobEndsAt?: number;
}

interface FakeWorkload {
  readonly kind: WorkloadKind;
  readonly namespace: string;
  readonly name: string;
  readonly tier: Tier;
  replicas: number;
  generation: number;
  observedGeneration: number;
  restartedAt?: number;
  readonly identity: boolean;
  readonly trustFromConfigMap: boolean;
  /** New pods never become Ready. */
  stuck: boolean;
  seq: number;
}

interface Timer {
  readonly key: string;
  readonly at: number;
  readonly run: () => void;
}

export interface FakeConfig {
  readonly seed: number;
  readonly tickMs: number;
  /** Controller reaction delays, drawn uniformly. */
  readonly lagMs: readonly [number, number];
  readonly leafLifetimeMs: number;
  readonly rotationPolicy: 'Always' | 'Never';
  readonly identityReplicas: number;
  /** Data-plane namespaces and Deployments per namespace. */
  readonly namespaces: number;
  readonly deploymentsPerNamespace: number;
  /** Random ticks and chaos run before each port call (0 = deterministic, no interleaving). */
  readonly interleave: number;
  readonly chaos: Partial<ChaosConfig>;
  /** Lifetime of anchors cert-manager issues. */
  readonly anchorLifetimeMs: number;
  /**
   * What the adapter does with a cross-signed promotion: `honest` mints X into the issuer's chain;
   * `omit-x` (the control) leaves X out of the real chain but reports it; `unable` reports that the
   * active anchor cannot cross-sign.
   */
  readonly crossSigning: 'honest' | 'omit-x' | 'unable';
  /** The cluster's name in a fleet (fake-fleet.ts): it tells its issuers apart from other clusters'. */
  readonly name: string;
  /** A fleet member has no prepared Certificate: renewing it fails, the fleet driver writes B instead. */
  readonly role: 'primary' | 'member';
}

/** Probabilities per port call of cluster events nobody asked for. */
export interface ChaosConfig {
  renewPrepared: number;
  renewIssuer: number;
  scale: number;
  deleteNamespace: number;
  crashPod: number;
  /** Caps so runs finish. */
  maxPreparedRenewals: number;
  maxNamespaceDeletions: number;
}

export class Killed extends Error {
  constructor() {
    super('killed (simulated kill -9)');
  }
}

export interface Violation {
  readonly at: number;
  readonly invariant: 'I1' | 'I2';
  readonly detail: string;
}

const DEFAULTS: FakeConfig = {
  seed: 1,
  tickMs: 250,
  lagMs: [0, 2000],
  leafLifetimeMs: DAY,
  rotationPolicy: 'Always',
  identityReplicas: 2,
  namespaces: 3,
  deploymentsPerNamespace: 2,
  interleave: 0,
  chaos: {},
  anchorLifetimeMs: 365 * DAY,
  crossSigning: 'honest',
  name: '',
  role: 'primary',
};

export class FakeCluster {
  readonly config: FakeConfig;
  readonly rng: Rng;
  clock = START;
  private anchorSeq = 0;
  prepared: { revision: number; issuing: boolean; anchor?: Anchor; failing?: string; lastFailureAt?: number };
  active?: Anchor;
  /** What the adapter does with a cross-signed promotion (starts as `config.crossSigning`; a test may change it). */
  crossSigning: FakeConfig['crossSigning'];
  /** X in the active Secret: set by a cross-signed promotion, signed by the anchor active before it. */
  activeCrossSignature?: CrossSignature;
  previous?: Anchor;
  /** Every anchor cert-manager ever issued, by fingerprint (for path building). */
  private readonly anchorsByFp = new Map<string, Anchor>();
  issuer: Issuer;
  /**
   * The Secret ClusterIssuer linkerd-identity-issuer signs with (`spec.ca.secretName`): the active one
   * as the chart sets it, or the prepared one as Linkerd's docs set it up (the adoption flow's first step).
   */
  identityIssuerCa: 'active' | 'prepared' = 'active';
  /** Whether the snapshot reports the ClusterIssuer (an adapter that does not read it reports nothing). */
  reportIssuerSigning = true;
  /** The install's object names, as the ClusterIssuer and the issuer Certificate refer to them. */
  names: ObjectNames = DEFAULT_OBJECT_NAMES;
  /** cert-manager no longer renews the identity issuer (issue 15): once it ends, no path goes through it. */
  issuerRenewalStopped = false;
  /**
   * An ended anchor verifies nothing, as for Linkerd's identity controller (Go crypto/x509). Off by
   * default: the rotation tests run the fake far past their anchors' ends; the recovery tests set it.
   */
  anchorsEnd = false;
  issuerIssuing = false;
  issuerRevision = 1;
  /**
   * cert-manager's request for the next issuer revision, already signed by `signedBy` but not stored:
   * the webhook refuses an issuer that does not chain to the active anchor (or whose anchor ended),
   * and cert-manager's issuing controller retries storing that same request, Issuing=True, until the
   * request is deleted (it then signs a new one with the ClusterIssuer's Secret as it is then).
   */
  issuerRequest?: { name: string; signedBy: string };
  /** Target namespace -> anchors in its trust-roots ConfigMap. */
  readonly bundles = new Map<string, ReadonlySet<string>>();
  injectorHash: string;
  /** Every bundle text ever written, by hash. */
  private readonly bundleTexts = new Map<string, ReadonlySet<string>>();
  readonly events: IdentityEvent[] = [];
  pods: FakePod[] = [];
  workloads: FakeWorkload[] = [];
  lease?: { holder: string; expiresAt: number };
  state?: { data: Record<string, string>; resourceVersion: string };
  private stateVersion = 0;
  private timers: Timer[] = [];
  readonly recorded: { type: string; reason: string; message: string }[] = [];
  readonly violations: Violation[] = [];
  /** Every port call, in order, with whether it changes anything. */
  readonly calls: { name: string; mutating: boolean }[] = [];
  readonly restarts: string[] = [];
  private kill?: { at: number; mode: 'before' | 'after' };
  dead = false;
  /** Set: every call fails with this error, as an API server that does not answer (the cluster's controllers go on). */
  unreachable?: string;
  /** How a waiter advances time: this cluster alone, or the whole fleet (fake-fleet.ts). */
  waitTick: () => void = () => this.tick();
  private chaosCounts = { prepared: 0, namespaces: 0 };
  private podSeq = 0;

  constructor(config: Partial<FakeConfig> = {}) {
    this.config = { ...DEFAULTS, ...config };
    this.rng = new Rng(this.config.seed);
    this.crossSigning = this.config.crossSigning;
    const a = this.newAnchor();
    this.prepared = { revision: 1, issuing: false, anchor: a };
    this.active = a;
    this.previous = a;
    this.issuer = this.newIssuer(a.fingerprint, this.clock - 3_600_000);
    this.injectorHash = this.writeBundleText(new Set([a.fingerprint]));
    for (const ns of ['linkerd', 'linkerd-viz']) this.bundles.set(ns, new Set([a.fingerprint]));
    this.seed();
  }

  // ---- setup ---------------------------------------------------------------------------------

  private newAnchor(sameKeyAs?: Anchor): Anchor {
    const label = String.fromCharCode(65 + this.anchorSeq++);
    // In a fleet the first anchor A is the one all clusters share; each later one is this cluster's own.
    const own = this.config.name && label !== 'A' ? `${this.config.name}:` : '';
    const anchor = {
      label,
      fingerprint: own ? sha256(`cert:${own}${label}`) : anchorFp(label),
      publicKeyFingerprint: sameKeyAs?.publicKeyFingerprint ?? sha256(`key:${own}${label}`),
      notBefore: Math.floor(this.clock / 1000) * 1000,
      notAfter: this.clock + this.config.anchorLifetimeMs,
    };
    this.anchorsByFp.set(anchor.fingerprint, anchor);
    return anchor;
  }

  /** cert-manager's CA issuer signs with the active Secret; with X in it, the issued chain is [issuer, X] (docs/cross-signing.md). */
  private newIssuer(chainsTo: string, at = this.clock): Issuer {
    const serial = (this.issuer?.serial ?? 0) + 1;
    const x = this.activeCrossSignature && this.active?.fingerprint === chainsTo ? this.activeCrossSignature : undefined;
    const real = x && this.crossSigning === 'honest' ? { via: x } : {};
    return { serial, fingerprint: sha256(`issuer:${this.config.name ? `${this.config.name}:` : ''}${serial}`), chainsTo, notBefore: Math.floor(at / 1000) * 1000, notAfter: at + 2 * DAY, ...real, ...(x ? { reportedVia: x } : {}) };
  }

  // ---- webpki-style path building ------------------------------------------------------------

  /** Anchors are named alike, as Linkerd's cert-manager setup makes them, so path building must backtrack. */
  private anchorNode(fingerprint: string): CertNode | undefined {
    const anchor = this.anchorsByFp.get(fingerprint);
    return anchor && { subject: 'root', spki: anchor.publicKeyFingerprint, issuerName: 'root', signerSpki: anchor.publicKeyFingerprint, notAfter: anchor.notAfter };
  }

  /**
   * Whether a proxy trusting `trust` accepts a chain that ends in `issuer` (a leaf it issued, or the
   * issuer itself for identity), shown the issuer and the rest of its Secret's tls.crt (X) as
   * intermediates, at the current time: rustls-webpki's search, trust anchors first, then the
   * intermediates, backtracking on a failed signature or an expired certificate, never visiting the
   * same (SPKI, subject) twice.
   */
  verifies(trust: ReadonlySet<string>, issuer: Issuer): boolean {
    // Validity at this clock is part of the key: a path found before an expiry is gone after it.
    const valid = (fp: string) => (!this.anchorsEnd || (this.anchorsByFp.get(fp)?.notAfter ?? 0) > this.clock ? '' : '!');
    const key = `${[...trust].sort().map((fp) => fp + valid(fp)).join(',')}|${issuer.fingerprint}|${this.issuerRenewalStopped && issuer.notAfter <= this.clock}|${valid(issuer.chainsTo)}|${issuer.via ? issuer.via.notAfter > this.clock : '-'}`;
    const cached = this.pathCache.get(key);
    if (cached !== undefined) return cached;
    const signer = this.anchorNode(issuer.chainsTo);
    const anchors = [...trust].map((fp) => this.anchorNode(fp)).filter((n): n is CertNode => n !== undefined);
    const issuerNode: CertNode = { subject: 'identity', spki: `issuer-key:${issuer.fingerprint}`, issuerName: 'root', signerSpki: signer?.spki ?? '-', notAfter: issuer.notAfter };
    const via = issuer.via && this.anchorNode(issuer.via.anchor);
    const intermediates: CertNode[] = [issuerNode];
    if (issuer.via && signer && via) intermediates.push({ subject: 'root', spki: signer.spki, issuerName: 'root', signerSpki: via.spki, notAfter: issuer.via.notAfter });
    // cert-manager renews the issuer before it ends (not simulated), unless a test stopped it: then its end counts.
    const ended = this.issuerRenewalStopped && issuer.notAfter <= this.clock;
    const found = !ended && buildPath(issuerNode, { anchors, intermediates, at: this.clock, seen: new Set([`${issuerNode.spki}|${issuerNode.subject}`]), anchorsEnd: this.anchorsEnd });
    this.pathCache.set(key, found);
    return found;
  }

  private readonly pathCache = new Map<string, boolean>();

  private writeBundleText(anchors: ReadonlySet<string>): string {
    const hash = bundleHash(anchors);
    this.bundleTexts.set(hash, new Set(anchors));
    return hash;
  }

  private seed(): void {
    const cp: [string, number, boolean][] = [
      ['linkerd-identity', this.config.identityReplicas, true],
      ['linkerd-destination', 1, false],
      ['linkerd-proxy-injector', 1, false],
    ];
    for (const [name, replicas, identity] of cp) this.addWorkload('Deployment', 'linkerd', name, 'control-plane', replicas, { identity, trustFromConfigMap: true });
    this.addWorkload('Deployment', 'linkerd-viz', 'web', 'extension', 1);
    this.addWorkload('Deployment', 'linkerd-viz', 'metrics-api', 'extension', 1);
    const kinds: WorkloadKind[] = ['Deployment', 'StatefulSet', 'Rollout', 'DaemonSet'];
    for (let n = 0; n < this.config.namespaces; n++) {
      for (let d = 0; d < this.config.deploymentsPerNamespace; d++) {
        this.addWorkload(kinds[(n + d) % kinds.length] as WorkloadKind, `app-${n}`, `svc-${d}`, 'data-plane', 1 + ((n + d) % 3));
      }
    }
  }

  /** Adds a workload whose pods are already running (started an hour ago with the current bundle). */
  addWorkload(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    tier: Tier,
    replicas: number,
    flags: { identity?: boolean; trustFromConfigMap?: boolean } = {},
  ): void {
    const w: FakeWorkload = {
      kind,
      namespace,
      name,
      tier,
      replicas,
      generation: 1,
      observedGeneration: 1,
      identity: flags.identity ?? false,
      trustFromConfigMap: flags.trustFromConfigMap ?? false,
      stuck: false,
      seq: 0,
    };
    this.workloads.push(w);
    for (let i = 0; i < replicas; i++) this.createPod(w, this.clock - 3_600_000 + i * 1000);
  }

  addBarePod(namespace: string, name: string, tier: Tier = 'data-plane'): void {
    this.pods.push(this.podSpec({ namespace, name, tier, trustFromConfigMap: false }, this.clock));
  }

  addJobPod(namespace: string, job: string, runsForMs: number): void {
    const pod = this.podSpec({ namespace, name: `${job}-${this.podSeq++}`, owner: { kind: 'Job', name: job }, tier: 'data-plane', trustFromConfigMap: false }, this.clock);
    this.pods.push({ ...pod, jobEndsAt: this.clock + runsForMs });
  }

  /** An ordinary deploy (`kubectl rollout restart`): sets the restart annotation; not a runner restart. */
  deploy(namespace: string, name: string): void {
    const w = this.workload(namespace, name);
    w.restartedAt = this.clock;
    w.generation++;
  }

  workload(namespace: string, name: string): FakeWorkload {
    const w = this.workloads.find((x) => x.namespace === namespace && x.name === name);
    if (!w) throw new Error(`expected workload ${namespace}/${name} in the fake, found none`);
    return w;
  }

  // ---- simulation ----------------------------------------------------------------------------

  private lag(): number {
    const [min, max] = this.config.lagMs;
    return min + Math.floor(this.rng.next() * (max - min + 1));
  }

  private schedule(key: string, run: () => void): void {
    if (this.timers.some((t) => t.key === key)) return;
    this.timers.push({ key, at: this.clock + this.lag(), run });
  }

  private podSpec(
    base: { namespace: string; name: string; owner?: { kind: OwnerKind; name: string }; tier: Tier; trustFromConfigMap: boolean; identity?: boolean },
    startedAt: number,
    templateGeneration = 0,
  ): FakePod {
    const cm = this.bundles.get(base.namespace);
    const trust = base.trustFromConfigMap ? (cm ?? new Set<string>()) : (this.bundleTexts.get(this.injectorHash) ?? new Set<string>());
    const identity: IdentityController | undefined = base.identity
      ? { anchors: trust, deaf: false, ...(trust.has(this.issuer.chainsTo) ? { issuer: this.issuer } : {}) }
      : undefined;
    const pod: FakePod = {
      namespace: base.namespace,
      name: base.name,
      ...(base.owner ? { owner: base.owner } : {}),
      tier: base.tier,
      trustFromConfigMap: base.trustFromConfigMap,
      trustRootSha256: base.trustFromConfigMap ? HELM_VALUES_HASH : this.injectorHash,
      trust,
      startedAt,
      readyAt: startedAt + this.lag(),
      templateGeneration,
      ...(identity ? { identity } : {}),
    };
    this.issueLeaf(pod, identity);
    return pod;
  }

  private createPod(w: FakeWorkload, startedAt = this.clock): void {
    const name = `${w.name}-${w.generation}-${w.seq++}`;
    const pod = this.podSpec(
      { namespace: w.namespace, name, owner: { kind: w.kind, name: w.name }, tier: w.tier, trustFromConfigMap: w.trustFromConfigMap, identity: w.identity },
      startedAt,
      w.generation,
    );
    if (w.stuck && w.generation > 1) pod.readyAt = Number.POSITIVE_INFINITY;
    this.pods.push(pod);
  }

  /** A proxy asks a serving identity replica for a leaf, and validates it against its own roots. */
  private issueLeaf(pod: FakePod, self?: IdentityController): void {
    const servers = [...this.pods.filter((p) => p.identity?.issuer && p.terminatingAt === undefined).map((p) => p.identity as IdentityController), ...(self?.issuer ? [self] : [])];
    if (servers.length === 0) return;
    const server = this.rng.pick(servers);
    const issuer = server.issuer as Issuer;
    if (!this.verifies(pod.trust, issuer)) return; // the proxy rejects a leaf it cannot verify, and retries
    pod.leaf = { anchor: issuer.chainsTo, issuedAt: this.clock, issuer };
  }

  /** Advances the clock by one tick and lets every controller react. */
  tick(): void {
    this.clock += this.config.tickMs;
    const due = this.timers.filter((t) => t.at <= this.clock);
    this.timers = this.timers.filter((t) => t.at > this.clock);
    for (const t of this.rng.shuffle(due)) t.run();
    this.reconcile();
    this.checkInvariants();
  }

  advance(ms: number): void {
    const until = this.clock + ms;
    while (this.clock < until) this.tick();
  }

  /** Moves the clock in coarse steps (hours of an idle mesh), still letting every controller react at each step. */
  fastForward(ms: number, stepMs: number): void {
    const until = this.clock + ms;
    while (this.clock < until) {
      this.clock = Math.min(until, this.clock + stepMs) - this.config.tickMs;
      this.tick();
    }
  }

  private sources(): Set<string> {
    const set = new Set<string>();
    for (const a of [this.prepared.anchor, this.active, this.previous]) if (a) set.add(a.fingerprint);
    return set;
  }

  private reconcile(): void {
    // cert-manager: the prepared anchor.
    if (this.prepared.issuing) {
      this.schedule('prepared', () => {
        if (!this.prepared.issuing) return;
        if (this.prepared.failing) {
          this.prepared = { ...this.prepared, issuing: false, lastFailureAt: this.clock };
          return;
        }
        const anchor = this.newAnchor(this.config.rotationPolicy === 'Never' ? this.prepared.anchor : undefined);
        this.prepared = { revision: this.prepared.revision + 1, issuing: false, anchor };
      });
    }
    // cert-manager: the identity issuer, signed by whatever the ClusterIssuer's Secret (the active one) holds at signing time.
    if (this.issuerIssuing && this.issuerRequest) {
      const request = this.issuerRequest;
      const signer = this.anchorsByFp.get(request.signedBy);
      const storable = request.signedBy === this.active?.fingerprint && signer !== undefined && !(this.anchorsEnd && signer.notAfter <= this.clock);
      if (storable) {
        this.schedule('issuer', () => {
          if (this.issuerRequest !== request) return;
          this.issuer = this.newIssuer(request.signedBy);
          this.issuerRequest = undefined;
          this.issuerIssuing = false;
          this.issuerRevision++;
        });
      }
    } else if (this.issuerIssuing) {
      this.schedule('issuer', () => {
        const signer = this.identityIssuerCa === 'active' ? this.active : this.prepared.anchor;
        if (!this.issuerIssuing || this.issuerRequest || !signer) return;
        this.issuer = this.newIssuer(signer.fingerprint);
        this.issuerIssuing = false;
        this.issuerRevision++;
      });
    }
    // trust-manager: each target ConfigMap follows the sources, each with its own delay.
    for (const ns of [...this.bundles.keys()]) {
      if (!sameSet(this.bundles.get(ns) as Set<string>, this.sources())) {
        this.schedule(`bundle:${ns}`, () => {
          if (!this.bundles.has(ns)) return;
          const next = this.sources();
          this.writeBundleText(next);
          this.bundles.set(ns, next);
        });
      }
    }
    // proxy-injector: re-reads its mounted bundle after the kubelet syncs the volume.
    const mounted = this.bundles.get('linkerd');
    if (mounted && bundleHash(mounted) !== this.injectorHash) {
      this.schedule('injector', () => {
        const now = this.bundles.get('linkerd');
        if (now) this.injectorHash = bundleHash(now);
      });
    }
    // identity replicas: reload the issuer from their Secret volume.
    for (const pod of this.pods) {
      const c = pod.identity;
      if (!c || c.deaf || c.issuer?.serial === this.issuer.serial) continue;
      this.schedule(`reload:${pod.name}`, () => {
        if (c.issuer?.serial === this.issuer.serial) return;
        const at = Math.floor(this.clock / 1000) * 1000;
        if (this.verifies(c.anchors, this.issuer)) {
          c.issuer = this.issuer;
          this.events.push({ reason: 'IssuerUpdated', at, message: 'Updated identity issuer' });
        } else {
          this.events.push({ reason: 'IssuerUpdateSkipped', at, message: 'Skipping issuer update as certs could not be verified' });
        }
      });
    }
    // Pods: terminations end, Jobs finish, leaves refresh at 70% of their life.
    this.pods = this.pods.filter((p) => !(p.terminatingAt !== undefined && p.terminatingAt <= this.clock) && !(p.jobEndsAt !== undefined && p.jobEndsAt <= this.clock));
    for (const pod of this.pods) {
      if (!pod.leaf || this.clock >= pod.leaf.issuedAt + 0.7 * this.config.leafLifetimeMs) this.issueLeaf(pod, pod.identity);
    }
    // Workload controllers: surge one new pod at a time, then retire one old pod.
    for (const w of this.workloads) this.rollout(w);
  }

  private rollout(w: FakeWorkload): void {
    w.observedGeneration = w.generation;
    const live = this.pods.filter((p) => p.owner?.name === w.name && p.namespace === w.namespace && p.terminatingAt === undefined);
    const fresh = live.filter((p) => p.templateGeneration === w.generation);
    const old = live.filter((p) => p.templateGeneration !== w.generation);
    const allFreshReady = fresh.every((p) => this.isReady(p));
    if (fresh.length > w.replicas) {
      this.terminate(fresh[fresh.length - 1] as FakePod);
    } else if (fresh.length < w.replicas && allFreshReady) {
      this.createPod(w);
    } else if (old.length > 0 && allFreshReady) {
      this.terminate(old[0] as FakePod);
    }
  }

  private terminate(pod: FakePod): void {
    pod.terminatingAt = this.clock + this.lag();
  }

  isReady(pod: FakePod): boolean {
    return this.clock >= pod.readyAt && pod.leaf !== undefined && (!pod.identity || pod.identity.issuer !== undefined);
  }

  // ---- ground truth --------------------------------------------------------------------------

  /**
   * I1 and I2 from the simulated proxies' real trust and leaves, independent of the engine's
   * inference: every proxy builds a path (through X when the chain carries it) from every leaf it can
   * be shown, and from the issuer, to an anchor it trusts.
   */
  checkInvariants(): void {
    const pods = this.pods;
    const servers = pods.filter((p) => p.identity?.issuer).map((p) => p.identity as IdentityController);
    for (const p of pods) {
      for (const q of pods) {
        if (q.leaf && !this.verifies(p.trust, q.leaf.issuer)) {
          this.violation('I1', `${p.namespace}/${p.name} trusts ${labels(p.trust)} but ${q.namespace}/${q.name} presents a leaf from ${describeChain(q.leaf.issuer)}`);
        }
      }
      for (const s of servers) {
        const issuer = s.issuer as Issuer;
        if (!this.verifies(p.trust, issuer)) this.violation('I1', `${p.namespace}/${p.name} trusts ${labels(p.trust)} but an identity replica issues leaves from ${describeChain(issuer)}`);
      }
      if (!this.verifies(p.trust, this.issuer)) this.violation('I2', `${p.namespace}/${p.name} trusts ${labels(p.trust)} but the issuer is ${describeChain(this.issuer)}`);
    }
    for (const p of pods) {
      if (p.identity && !this.verifies(p.identity.anchors, this.issuer)) {
        this.violation('I2', `identity replica ${p.name} trusts ${labels(p.identity.anchors)} but the issuer is ${describeChain(this.issuer)}`);
      }
    }
  }

  private violation(invariant: 'I1' | 'I2', detail: string): void {
    // The first sighting of each distinct violation, so one repeated every tick does not hide the others.
    if (this.violations.length < 50 && !this.violations.some((v) => v.invariant === invariant && v.detail === detail)) this.violations.push({ at: this.clock, invariant, detail });
  }

  // ---- chaos, kill switch --------------------------------------------------------------------

  killAt(call: number, mode: 'before' | 'after'): void {
    this.kill = { at: call, mode };
  }

  revive(): void {
    this.dead = false;
    this.kill = undefined;
  }

  private beforeCall(name: string, mutating: boolean): void {
    if (this.dead) throw new Killed();
    if (this.unreachable !== undefined) throw new Error(this.unreachable);
    this.calls.push({ name, mutating });
    if (this.kill && this.kill.mode === 'before' && mutating && this.mutatingCalls() === this.kill.at) {
      this.dead = true;
      throw new Killed();
    }
    for (let i = 0; i < this.config.interleave; i++) {
      if (this.rng.chance(0.5)) this.tick();
      this.chaosStep();
    }
  }

  private afterCall(mutating: boolean): void {
    this.checkInvariants();
    if (this.kill && this.kill.mode === 'after' && mutating && this.mutatingCalls() === this.kill.at) {
      this.dead = true;
      throw new Killed();
    }
  }

  mutatingCalls(): number {
    return this.calls.filter((c) => c.mutating).length;
  }

  private chaosStep(): void {
    const c = this.config.chaos;
    const rng = this.rng;
    if (c.renewPrepared && rng.chance(c.renewPrepared) && this.chaosCounts.prepared < (c.maxPreparedRenewals ?? 1) && !this.prepared.issuing) {
      this.chaosCounts.prepared++;
      this.prepared = { ...this.prepared, issuing: true };
    }
    if (c.renewIssuer && rng.chance(c.renewIssuer)) this.issuerIssuing = true;
    if (c.scale && rng.chance(c.scale)) {
      const data = this.workloads.filter((w) => w.tier === 'data-plane');
      if (data.length > 0) rng.pick(data).replicas = rng.int(4);
    }
    if (c.crashPod && rng.chance(c.crashPod) && this.pods.length > 0) {
      const pod = rng.pick(this.pods);
      if (pod.readyAt <= this.clock) pod.readyAt = this.clock + this.lag();
    }
    if (c.deleteNamespace && rng.chance(c.deleteNamespace) && this.chaosCounts.namespaces < (c.maxNamespaceDeletions ?? 1)) {
      const namespaces = [...new Set(this.workloads.filter((w) => w.tier === 'data-plane').map((w) => w.namespace))];
      if (namespaces.length > 1) {
        this.chaosCounts.namespaces++;
        this.deleteNamespace(rng.pick(namespaces));
      }
    }
  }

  deleteNamespace(namespace: string): void {
    this.workloads = this.workloads.filter((w) => w.namespace !== namespace);
    for (const pod of this.pods) if (pod.namespace === namespace && pod.terminatingAt === undefined) this.terminate(pod);
    this.bundles.delete(namespace);
  }

  renewPreparedExternally(): void {
    this.prepared = { ...this.prepared, issuing: true };
  }

  // ---- the engine's view ---------------------------------------------------------------------

  snapshot(): ClusterSnapshot {
    const sec = (t: number) => Math.floor(t / 1000) * 1000;
    const anchor = (a: Anchor | undefined) => a && { fingerprint: a.fingerprint, publicKeyFingerprint: a.publicKeyFingerprint, notBefore: a.notBefore, notAfter: a.notAfter };
    const crossSignable = this.crossSigning === 'unable' ? { reasons: ['anchor expired (simulated)'] } : (true as const);
    const pods: MeshedPod[] = this.pods.map((p) => ({
      namespace: p.namespace,
      name: p.name,
      ...(p.owner ? { owner: p.owner } : {}),
      tier: p.tier,
      identityController: p.identity !== undefined,
      trustRootSha256: p.trustRootSha256,
      trustFromConfigMap: p.trustFromConfigMap,
      startedAt: sec(p.startedAt),
      ready: this.isReady(p) && p.terminatingAt === undefined,
    }));
    const workloads: WorkloadFacts[] = this.workloads.map((w) => {
      const live = this.pods.filter((p) => p.owner?.name === w.name && p.namespace === w.namespace && p.terminatingAt === undefined);
      return {
        kind: w.kind,
        namespace: w.namespace,
        name: w.name,
        tier: w.tier,
        replicas: w.replicas,
        readyReplicas: live.filter((p) => this.isReady(p)).length,
        updatedReplicas: live.filter((p) => p.templateGeneration === w.generation).length,
        generation: w.generation,
        observedGeneration: w.observedGeneration,
        ...(w.restartedAt !== undefined ? { restartedAt: w.restartedAt } : {}),
      };
    });
    const prepared = anchor(this.prepared.anchor);
    const active = this.active ? { fingerprint: this.active.fingerprint, publicKeyFingerprint: this.active.publicKeyFingerprint, notBefore: this.active.notBefore, notAfter: this.active.notAfter, crossSignable } : undefined;
    const previous = anchor(this.previous);
    return {
      observedAt: this.clock,
      prepared: {
        revision: this.prepared.revision,
        issuing: this.prepared.issuing ? 'true' : this.prepared.lastFailureAt !== undefined ? 'false' : 'absent',
        ...(this.prepared.lastFailureAt !== undefined ? { lastFailureAt: sec(this.prepared.lastFailureAt), lastFailureMessage: this.prepared.failing ?? 'failed' } : {}),
        ...(prepared ? { anchor: prepared } : {}),
      },
      ...(active ? { active } : {}),
      ...(previous ? { previous } : {}),
      issuer: {
        fingerprint: this.issuer.fingerprint,
        chainsTo: this.issuer.chainsTo,
        ...(this.issuer.reportedVia ? { chainVia: [this.issuer.reportedVia] } : {}),
        notBefore: this.issuer.notBefore,
        notAfter: this.issuer.notAfter,
        issuing: this.issuerIssuing ? 'true' : 'absent',
        revision: this.issuerRevision,
        ...(this.issuerRequest ? { signedRequest: { name: this.issuerRequest.name, chainsTo: this.issuerRequest.signedBy } } : {}),
      },
      ...(this.reportIssuerSigning
        ? {
            issuerSigning: {
              clusterIssuer: { found: true, caSecretName: this.identityIssuerCa === 'active' ? this.names.activeAnchorSecret : this.names.preparedAnchorSecret },
              certificateIssuerRef: { kind: 'ClusterIssuer', name: this.names.identityClusterIssuer },
            },
          }
        : {}),
      bundles: [...this.bundles].map(([namespace, anchors]) => ({ namespace, sha256: bundleHash(anchors), anchors: [...anchors] })),
      injector: { trustRootSha256: this.injectorHash },
      pods,
      workloads,
      identityEvents: [...this.events],
    };
  }

  /** One port call: it may interleave controller work and chaos first, and honours kills. */
  private readonly call = async <T>(name: string, mutating: boolean, fn: () => T): Promise<T> => {
    this.beforeCall(name, mutating);
    const out = fn();
    this.afterCall(mutating);
    return out;
  };

  /** The ports the runner drives; every call may interleave controller work and chaos first. */
  ports(): RotationPorts {
    const call = this.call;
    return {
      cluster: { readSnapshot: () => call('readSnapshot', false, () => this.snapshot()) },
      anchors: {
        writeActiveFromPrepared: (expected, request) =>
          call('writeActiveFromPrepared', true, () => {
            const p = this.prepared.anchor;
            if (p?.fingerprint !== expected) return { written: false as const, ...(p ? { found: p.fingerprint } : {}) };
            // X can be signed only with the key the active Secret holds now: the anchor being replaced.
            const signer = request?.crossSignedBy !== undefined && this.active?.fingerprint === request.crossSignedBy && p.fingerprint !== this.active.fingerprint ? this.active : undefined;
            this.activeCrossSignature = signer ? { anchor: signer.fingerprint, notAfter: signer.notAfter } : undefined;
            this.active = p;
            return { written: true as const };
          }),
        writePrevious: (source, expected) =>
          call('writePrevious', true, () => {
            const from = source === 'active' ? this.active : this.prepared.anchor;
            if (from?.fingerprint !== expected) return { written: false as const, ...(from ? { found: from.fingerprint } : {}) };
            this.previous = from;
            return { written: true as const };
          }),
      },
      certificates: {
        renewPreparedAnchor: () =>
          call('renewPreparedAnchor', true, () => {
            if (this.config.role === 'member') throw new Error(`certificates.cert-manager.io "linkerd-trust-anchor" not found (fleet member ${this.config.name})`);
            this.prepared = { ...this.prepared, issuing: true };
          }),
        renewIdentityIssuer: () => call('renewIdentityIssuer', true, () => void (this.issuerIssuing = true)),
        discardIssuerRequest: (name: string) => call('discardIssuerRequest', true, () => void (this.issuerRequest?.name === name && (this.issuerRequest = undefined))),
      },
      workloads: {
        restart: (ref: WorkloadRef, restartedAt: string) =>
          call('restart', true, () => {
            const w = this.workloads.find((x) => x.kind === ref.kind && x.namespace === ref.namespace && x.name === ref.name);
            if (!w) return 'not-found' as const;
            w.restartedAt = Date.parse(restartedAt);
            w.generation++;
            this.restarts.push(`${ref.namespace}/${ref.name}`);
            return 'restarted' as const;
          }),
      },
      state: {
        read: () => call('readState', false, () => (this.state ? { data: { ...this.state.data }, resourceVersion: this.state.resourceVersion } : undefined)),
        write: (data, expected) =>
          call('writeState', true, () => {
            if (expected !== this.state?.resourceVersion) return { ok: false as const, conflict: true as const };
            this.state = { data: { ...data }, resourceVersion: String(++this.stateVersion) };
            return { ok: true as const, resourceVersion: this.state.resourceVersion };
          }),
      },
      lease: {
        acquire: (holder, durationMs) =>
          call('acquireLease', true, () => {
            if (this.lease && this.lease.holder !== holder && this.lease.expiresAt > this.clock) {
              return { held: false as const, holder: this.lease.holder, expiresAt: this.lease.expiresAt };
            }
            this.lease = { holder, expiresAt: this.clock + durationMs };
            return { held: true as const, expiresAt: this.lease.expiresAt };
          }),
        renew: (holder, durationMs) =>
          call('renewLease', false, () => {
            if (this.lease?.holder !== holder) return { held: false as const, ...(this.lease ? { holder: this.lease.holder } : {}) };
            this.lease = { holder, expiresAt: this.clock + durationMs };
            return { held: true as const, expiresAt: this.lease.expiresAt };
          }),
        release: (holder) =>
          call('releaseLease', false, () => {
            if (this.lease?.holder === holder) this.lease = undefined;
          }),
      },
      events: { record: (event) => call('recordEvent', true, () => void this.recorded.push(event)) },
      clock: { now: () => this.clock },
      waiter: {
        waitFor: (condition: WaitCondition, deadline: number) =>
          call('waitFor', false, () => {
            for (;;) {
              if (condition.satisfied(this.snapshot())) return 'satisfied' as const;
              if (this.clock >= deadline) return 'timeout' as const;
              this.waitTick();
            }
          }),
      },
    };
  }

  /**
   * The ports of a fleet cluster: the single-cluster ones, plus the copies of B the fleet driver makes.
   * A copy's `data` carries the fake's anchor (and X) as JSON, as a real one carries PEM.
   */
  fleetPorts(): FleetClusterPorts {
    const call = this.call;
    const learn = (copy: AnchorCopy): Anchor => {
      const anchor = JSON.parse(copy.data['anchor.json'] as string) as Anchor;
      if (anchor.fingerprint !== copy.fingerprint) throw new Error(`expected a copy of ${copy.fingerprint}, found ${anchor.fingerprint}`);
      this.anchorsByFp.set(anchor.fingerprint, anchor);
      this.pathCache.clear();
      return anchor;
    };
    return {
      ...this.ports(),
      fleet: {
        readPreparedCertificate: (expected) =>
          call('readPreparedCertificate', false, () => {
            const p = this.prepared.anchor;
            return p?.fingerprint === expected ? { fingerprint: p.fingerprint, data: { 'anchor.json': JSON.stringify(p) } } : undefined;
          }),
        readActive: (expected) =>
          call('readActive', false, () => {
            const a = this.active;
            if (a?.fingerprint !== expected) return undefined;
            const x = this.activeCrossSignature;
            return { fingerprint: a.fingerprint, ...(x ? { crossSignature: sha256(`x:${x.anchor}:${a.fingerprint}:${x.notAfter}`) } : {}), data: { 'anchor.json': JSON.stringify(a), ...(x ? { 'x.json': JSON.stringify(x) } : {}) } };
          }),
        writePreparedCertificate: (copy) =>
          call('writePreparedCertificate', true, () => {
            const anchor = learn(copy);
            this.prepared = { ...this.prepared, anchor };
            this.preparedCopies.push(copy.fingerprint);
            return { written: true as const };
          }),
        writeActiveCopy: (copy, expectedCurrent) =>
          call('writeActiveCopy', true, () => {
            if (this.active?.fingerprint !== expectedCurrent) return { written: false as const, ...(this.active ? { found: this.active.fingerprint } : {}) };
            const anchor = learn(copy);
            const x = copy.data['x.json'];
            this.activeCrossSignature = x !== undefined ? (JSON.parse(x) as CrossSignature) : undefined;
            this.active = anchor;
            return { written: true as const };
          }),
      },
    };
  }

  /**
   * Cross-cluster I1 (ground truth): each of this cluster's proxies, shown each leaf of `other`'s
   * proxies (a cross-cluster handshake through the gateway), builds a path to an anchor it trusts.
   */
  rejectsLeavesOf(other: FakeCluster): string[] {
    const found: string[] = [];
    for (const p of this.pods) {
      for (const q of other.pods) {
        if (q.leaf && !this.verifies(p.trust, q.leaf.issuer)) {
          found.push(`${this.config.name}:${p.namespace}/${p.name} trusts ${labels(p.trust)} but ${other.config.name}:${q.namespace}/${q.name} presents a leaf from ${describeChain(q.leaf.issuer)}`);
        }
      }
    }
    return found;
  }

  /** Fingerprints the fleet driver wrote into this cluster's prepared Secret, in order. */
  readonly preparedCopies: string[] = [];

  // ---- assertions helpers --------------------------------------------------------------------

  /** Pods whose proxy does not trust exactly `anchors`, or holds a leaf from another anchor. */
  unsettledPods(anchors: ReadonlySet<string>, leafAnchor: string): string[] {
    return this.pods
      .filter((p) => !sameSet(p.trust, anchors) || (p.leaf !== undefined && p.leaf.anchor !== leafAnchor) || !this.isReady(p))
      .map((p) => `${p.namespace}/${p.name} trusts ${labels(p.trust)} leaf ${label(p.leaf?.anchor)} ready=${this.isReady(p)}`);
  }

  bundleSet(namespace = 'linkerd'): ReadonlySet<string> | undefined {
    return this.bundles.get(namespace);
  }

  labelOf(fingerprint: string | undefined): string {
    return label(fingerprint);
  }

  /** Makes a replica of the identity controller miss issuer updates (linkerd2#15109). */
  deafenIdentityReplica(): void {
    const pod = this.pods.find((p) => p.identity);
    if (pod?.identity) pod.identity.deaf = true;
  }
}

/** rustls-webpki's path search over names and keys (see `FakeCluster.verifies`). */
function buildPath(cert: CertNode, search: { anchors: readonly CertNode[]; intermediates: readonly CertNode[]; at: number; seen: ReadonlySet<string>; anchorsEnd: boolean }): boolean {
  for (const anchor of search.anchors) {
    if (search.anchorsEnd && anchor.notAfter <= search.at) continue;
    if (anchor.subject === cert.issuerName && anchor.spki === cert.signerSpki) return true; // else InvalidSignatureForPublicKey: try the next
  }
  for (const next of search.intermediates) {
    const key = `${next.spki}|${next.subject}`;
    if (next.subject !== cert.issuerName || search.seen.has(key) || next.spki !== cert.signerSpki || next.notAfter <= search.at) continue;
    if (buildPath(next, { ...search, seen: new Set([...search.seen, key]) })) return true;
  }
  return false;
}

function describeChain(issuer: Issuer): string {
  return `issuer ${issuer.serial} chained to ${label(issuer.chainsTo)}${issuer.via ? ` and through X to ${label(issuer.via.anchor)}` : ''}`;
}

export function sameSet<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

function label(fingerprint: string | undefined): string {
  if (fingerprint === undefined) return '-';
  for (let i = 0; i < 26; i++) {
    const l = String.fromCharCode(65 + i);
    if (anchorFp(l) === fingerprint) return l;
  }
  return fingerprint.slice(0, 8);
}

function labels(set: Iterable<string>): string {
  return `{${[...set].map(label).sort().join(',')}}`;
}
