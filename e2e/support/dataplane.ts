// A simulated Linkerd data plane for the local cluster. Each meshed kwok pod gets a proxy that
// behaves like linkerd2-proxy where trust is concerned: its roots are fixed at pod start from the
// injected LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS env, it gets leaves from the real identity API
// with the pod's ServiceAccount token, refreshes at 70% of a leaf's life, refuses a leaf that does
// not chain to its own roots, and serves and makes real TLS 1.3 mTLS connections. Every acceptance
// decision is rustls-webpki's (./chain-judge.ts), as in linkerd2-proxy; node:tls still verifies beside it.
// Several clusters' planes can share one ProxyNetwork (a fleet, docs/multicluster.md): their proxies
// then make handshakes across clusters, each side judging the other's chain against its own roots.
import * as k8s from '@kubernetes/client-node';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { parseBundle, sha256Hex, toPem } from '@linkerd-rotator/x509';
import { ChainJudge, judgedRoots, presentedChain, type Disagreement, type JudgedRoots, type JudgedSide, type Judgement, type JudgeStats, type PresentedChain } from './chain-judge.js';
import { certify, identityName } from './identity-client.js';

export interface ProxyView {
  /** The plane's cluster, when it was given one (planes of a fleet). */
  cluster?: string;
  pod: string;
  namespace: string;
  identity: string;
  rootsSha256: string;
  leafIssuerFingerprint: string | undefined;
  port: number | undefined;
}

export interface HandshakeFailure {
  at: string;
  client: ProxyView;
  server: ProxyView;
  error: string;
  /** Which side's webpki refused the other's chain, and webpki's error variant (UnknownIssuer...). */
  refusedBy?: 'client' | 'server';
  webpkiError?: string;
  /** With a refusal: the refusing side's roots and the chain it refused (leaf first), short fingerprints. */
  refusedRoots?: readonly string[];
  refusedChain?: readonly string[];
}

/** The handshake was between proxies of two clusters' planes. */
export function isCrossCluster(failure: Pick<HandshakeFailure, 'client' | 'server'>): boolean {
  return failure.client.cluster !== failure.server.cluster;
}

/**
 * No answer at all within this long: on an overloaded 2-core machine the event loop can stall for
 * seconds. Such a handshake is recorded as a timeout, apart from failures: it is not a rejection,
 * and both sides' trust is recorded with it so a reader can check that.
 */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export class HandshakeTimeout extends Error {
  constructor() {
    super(`no TLS answer within ${HANDSHAKE_TIMEOUT_MS} ms`);
  }
}

/** One side's webpki refused the other side's chain: the handshake is not accepted. */
export class HandshakeRefused extends Error {
  constructor(
    readonly refusedBy: 'client' | 'server',
    readonly webpkiError: string,
    detail: string,
    /** Short fingerprints of the refusing side's roots and of the chain it refused. */
    readonly roots: readonly string[],
    readonly chain: readonly string[],
  ) {
    super(`the ${refusedBy} refused the ${refusedBy === 'client' ? 'server' : 'client'}'s chain: webpki ${detail}`);
  }
}

/** node:tls's verdict as the judge compares it: undefined when it accepted, else its error. */
function nodeVerdict(socket: tls.TLSSocket): string | undefined {
  return socket.authorized ? undefined : String(socket.authorizationError ?? 'not authorized');
}

export class SimulatedProxy {
  readonly roots: string[];
  readonly rootsSha256: string;
  private readonly judgedRoots: JudgedRoots;
  private server: tls.Server | undefined;
  private context: tls.SecureContextOptions | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  leafIssuerFingerprint: string | undefined;
  leafValidUntil: Date | undefined;
  refusedLeaves = 0;
  refreshes = 0;
  /** When this proxy first took part in a handshake both sides accepted (as client or server). */
  firstHandshakeAt: number | undefined;

  readonly namespace: string;
  readonly pod: string;
  readonly uid: string;
  readonly identity: string;
  readonly serviceAccount: string;
  private readonly plane: DataPlane;

  constructor(options: { namespace: string; pod: string; uid: string; identity: string; serviceAccount: string; anchorsPem: string; plane: DataPlane }) {
    const { anchorsPem } = options;
    ({ namespace: this.namespace, pod: this.pod, uid: this.uid, identity: this.identity, serviceAccount: this.serviceAccount, plane: this.plane } = options);
    // As the proxy reads its env: every certificate block, whatever else the text holds.
    this.roots = parseBundle(anchorsPem).certificates.map(toPem);
    this.rootsSha256 = sha256Hex(anchorsPem);
    this.judgedRoots = judgedRoots(this.roots);
  }

  get name(): string {
    return `${this.namespace}/${this.pod}`;
  }

  /** The name, after the plane's cluster when it has one (cluster/namespace/pod): who judged, who presented. */
  get label(): string {
    return this.plane.cluster === undefined ? this.name : `${this.plane.cluster}/${this.name}`;
  }

  private get network(): ProxyNetwork {
    return this.plane.network;
  }

  view(): ProxyView {
    const port = this.server?.listening ? (this.server.address() as AddressInfo).port : undefined;
    return { ...(this.plane.cluster === undefined ? {} : { cluster: this.plane.cluster }), pod: this.pod, namespace: this.namespace, identity: this.identity, rootsSha256: this.rootsSha256, leafIssuerFingerprint: this.leafIssuerFingerprint, port };
  }

  get ready(): boolean {
    return !this.stopped && this.context !== undefined && this.server?.listening === true;
  }

  /** node's view of a new leaf, kept beside webpki's: a walk leaf -> intermediates -> one of our roots. */
  private chainsToRoots(leaf: X509Certificate, intermediates: X509Certificate[]): boolean {
    const roots = this.roots.map((r) => new X509Certificate(r));
    let current = leaf;
    for (let depth = 0; depth < 5; depth++) {
      const anchor = roots.find((r) => current.checkIssued(r) && current.verify(r.publicKey));
      if (anchor) return true;
      const next = intermediates.find((i) => current.checkIssued(i) && current.verify(i.publicKey));
      if (!next) return false;
      current = next;
    }
    return false;
  }

  /** Like the proxy: a renewed leaf is used only if webpki chains it to this proxy's roots. */
  private judgeOwnLeaf(leaf: X509Certificate, intermediates: X509Certificate[], chain: PresentedChain) {
    return this.network.judge.judge({
      side: 'own leaf',
      roots: this.judgedRoots,
      chain,
      nodeVerdict: this.chainsToRoots(leaf, intermediates) ? undefined : 'no path to this proxy\'s roots (node:crypto walk)',
      judge: this.label,
      presenter: this.label,
    });
  }

  /** webpki's decision on the chain a peer presented in this TLS session (its leaf names the chain). */
  private async judgePeer(socket: tls.TLSSocket, options: { side: Exclude<JudgedSide, 'own leaf'>; serverName?: string }): Promise<{ judgement: Judgement; chain: readonly string[] }> {
    const leaf = socket.getPeerX509Certificate();
    if (!leaf) return { judgement: { accepted: false, webpkiError: 'NoPeerCertificate', detail: 'NoPeerCertificate (the peer presented no certificate)' }, chain: [] };
    const presented = this.network.presentedBy(leaf.fingerprint256);
    if (!presented) {
      throw new Error(`expected the peer's leaf ${leaf.fingerprint256.slice(0, 23)} to be one a simulated proxy presents, found none; this is a bug in the data plane's chain registry`);
    }
    const judgement = await this.network.judge.judge({
      side: options.side,
      roots: this.judgedRoots,
      chain: presented.chain,
      ...(options.serverName === undefined ? {} : { serverName: options.serverName }),
      nodeVerdict: nodeVerdict(socket),
      handshakeMs: HANDSHAKE_TIMEOUT_MS,
      judge: this.label,
      presenter: presented.owner,
    });
    return { judgement, chain: presented.chain.fingerprints };
  }

  private refusal(by: 'client' | 'server', refused: { judgement: Judgement & { accepted: false }; chain: readonly string[] }): HandshakeRefused {
    return new HandshakeRefused(by, refused.judgement.webpkiError, refused.judgement.detail, this.judgedRoots.fingerprints, refused.chain);
  }

  async refresh(): Promise<void> {
    if (this.stopped) return;
    let delayMs = 2_000;
    try {
      const token = await this.plane.token({ namespace: this.namespace, serviceAccount: this.serviceAccount, pod: this.pod, uid: this.uid });
      const res = await certify(this.plane.identityAddr, this.identity, token);
      const leaf = new X509Certificate(res.leafDer);
      const intermediates = res.intermediatesDer.map((d) => new X509Certificate(d));
      const chain = presentedChain([leaf, ...intermediates]);
      const judgement = await this.judgeOwnLeaf(leaf, intermediates, chain);
      if (!judgement.accepted) {
        this.refusedLeaves++;
        this.plane.events.push({ at: new Date().toISOString(), pod: this.name, event: `leaf refused: webpki ${judgement.detail} against this proxy's roots` });
      } else {
        this.context = {
          key: res.privateKeyPem,
          cert: chain.pems.join(''),
          ca: this.roots,
          minVersion: 'TLSv1.3',
        };
        this.network.register(leaf.fingerprint256, { chain, owner: this.label });
        this.leafIssuerFingerprint = intermediates[0] ? sha256Hex(intermediates[0].raw) : undefined;
        this.leafValidUntil = new Date(leaf.validTo);
        this.refreshes++;
        if (this.server) this.server.setSecureContext(this.context);
        else await this.listen();
        const life = new Date(leaf.validTo).getTime() - Date.now();
        delayMs = Math.max(10_000, Math.min(life * 0.7, 86_400_000));
      }
    } catch (err) {
      this.plane.events.push({ at: new Date().toISOString(), pod: this.name, event: `leaf refresh failed (certify or verifier): ${(err as Error).message}` });
    }
    if (!this.stopped) this.refreshTimer = setTimeout(() => void this.refresh(), delayMs);
  }

  private listen(): Promise<void> {
    // node:tls verifies the client's chain (socket.authorized) without rejecting: webpki decides.
    const server = tls.createServer({ ...this.context!, requestCert: true, rejectUnauthorized: false });
    server.on('secureConnection', (socket) => void this.admit(socket));
    server.on('tlsClientError', () => undefined);
    this.server = server;
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  }

  /** Answers a client whose chain webpki accepts; aborts the connection otherwise, saying why to the plane. */
  private async admit(socket: tls.TLSSocket): Promise<void> {
    socket.on('error', () => undefined);
    const clientPort = socket.remotePort;
    try {
      const judged = await this.judgePeer(socket, { side: 'server verifying client' });
      if (judged.judgement.accepted) {
        socket.end('ok');
        return;
      }
      if (clientPort !== undefined) this.network.serverRefusals.set(clientPort, this.refusal('server', { judgement: judged.judgement, chain: judged.chain }));
    } catch (err) {
      if (clientPort !== undefined) this.network.serverRefusals.set(clientPort, err as Error);
    }
    socket.destroy();
  }

  /**
   * Connect to a peer with mTLS. node:tls verifies its chain against our roots and its identity; the
   * handshake is accepted only when webpki accepts the server's chain here and ours on the server.
   */
  connect(peer: SimulatedProxy): Promise<void> {
    const port = peer.view().port;
    if (!this.context || port === undefined) return Promise.reject(new Error('not ready'));
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ ...this.context!, host: '127.0.0.1', port, servername: peer.identity, rejectUnauthorized: false });
      let localPort: number | undefined;
      let ourVerdict: Promise<boolean> | undefined;
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (localPort !== undefined) this.network.serverRefusals.delete(localPort);
        if (err) {
          socket.destroy();
          reject(err);
        } else {
          socket.end();
          resolve();
        }
      };
      const timer = setTimeout(() => settle(new HandshakeTimeout()), HANDSHAKE_TIMEOUT_MS);
      socket.once('secureConnect', () => {
        localPort = socket.localPort;
        // A refusal left under this port by an earlier connection is not about this one.
        if (localPort !== undefined) this.network.serverRefusals.delete(localPort);
        ourVerdict = this.judgePeer(socket, { side: 'client verifying server', serverName: peer.identity }).then(
          ({ judgement, chain }) => {
            if (!judgement.accepted) settle(this.refusal('client', { judgement, chain }));
            return judgement.accepted;
          },
          (err: Error) => {
            settle(err);
            return false;
          },
        );
      });
      // The server answers once its webpki accepted our chain; ours must accept its chain too, and
      // once it has answered, the outcome is our verdict's however soon the connection closes.
      let answered = false;
      socket.on('data', () => {
        answered = true;
        void ourVerdict?.then((accepted) => accepted && settle());
      });
      const unanswered = (fallback: Error) => {
        if (answered) return;
        settle((localPort === undefined ? undefined : this.network.serverRefusals.get(localPort)) ?? fallback);
      };
      socket.on('error', (err) => unanswered(err));
      socket.once('close', () => unanswered(new Error('connection closed before the server answered (the server refused our chain)')));
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.server?.close();
  }
}

export interface DataPlaneEvent {
  at: string;
  pod: string;
  event: string;
}

/** A chain some proxy presents, by its leaf: what a peer judges when it sees that leaf in a session. */
interface RegisteredChain {
  chain: PresentedChain;
  /** The presenting proxy's label: namespace/pod, after its cluster in a fleet. */
  owner: string;
}

/** Registered chains are kept this long after their leaf expired, for late handshakes' lookups. */
const CHAIN_REGISTRY_GRACE_MS = 10 * 60_000;

/**
 * What proxies that talk to each other share, whichever cluster's plane runs them: the one
 * webpki-verify process that judges every chain, the chains proxies present (by leaf), and servers'
 * refusals by the refused client's local port, for the client to report. A plane makes its own
 * unless given one; a fleet's planes share one, so a proxy judges a chain presented in another cluster.
 */
export class ProxyNetwork {
  /** Refusals by servers' webpki, by the refused client's local port, for the client to report. */
  readonly serverRefusals = new Map<number, Error>();
  private readonly chains = new Map<string, RegisteredChain>();
  private chainJudge: ChainJudge | undefined;

  get judge(): ChainJudge {
    if (!this.chainJudge) throw new Error('expected ProxyNetwork.start() (DataPlane.start()) to have started webpki-verify, found no verifier; call start() before using the proxies');
    return this.chainJudge;
  }

  /** Starts webpki-verify unless it runs; again after close(). */
  async start(): Promise<void> {
    if (!this.chainJudge || this.chainJudge.closed) this.chainJudge = await ChainJudge.start();
  }

  /** Records the chain a proxy now presents, under its leaf's SHA-256 fingerprint (node's format). */
  register(leafFingerprint256: string, registered: RegisteredChain): void {
    this.chains.set(leafFingerprint256, registered);
    const forgetBefore = Date.now() - CHAIN_REGISTRY_GRACE_MS;
    for (const [fingerprint, { chain }] of this.chains) if (chain.validUntil < forgetBefore) this.chains.delete(fingerprint);
  }

  presentedBy(leafFingerprint256: string): RegisteredChain | undefined {
    return this.chains.get(leafFingerprint256);
  }

  /** Closed but kept: a traffic report still reads its counts after the planes stopped. */
  async close(): Promise<void> {
    await this.chainJudge?.close();
  }
}

/**
 * Watches every pod in the cluster and keeps one simulated proxy per Ready meshed pod, each getting
 * its leaves from this cluster's identity (`identityAddr`). Its proxies judge chains in its
 * ProxyNetwork: its own (started by start(), closed by stop()) or one shared with other planes.
 */
export class DataPlane {
  readonly proxies = new Map<string, SimulatedProxy>();
  readonly events: DataPlaneEvent[] = [];
  readonly network: ProxyNetwork;
  /** The cluster's name in a fleet (on every ProxyView and in verdicts' labels); undefined alone. */
  readonly cluster: string | undefined;
  private readonly ownsNetwork: boolean;
  private informer: k8s.Informer<k8s.V1Pod> & k8s.ObjectCache<k8s.V1Pod> | undefined;
  private readonly core: k8s.CoreV1Api;

  constructor(
    private readonly kc: k8s.KubeConfig,
    readonly identityAddr: string,
    private readonly opts: { controlPlaneNamespace?: string; trustDomain?: string; cluster?: string; network?: ProxyNetwork } = {},
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.network = opts.network ?? new ProxyNetwork();
    this.ownsNetwork = opts.network === undefined;
    this.cluster = opts.cluster;
  }

  get judge(): ChainJudge {
    return this.network.judge;
  }

  /** A token of the pod's ServiceAccount bound to the pod, for identity's Certify (audience identity.l5d.io). */
  async token({ namespace, serviceAccount, pod, uid }: { namespace: string; serviceAccount: string; pod: string; uid: string }): Promise<string> {
    const tr = await this.core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      body: { spec: { audiences: ['identity.l5d.io'], expirationSeconds: 3600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod, uid } } },
    });
    const token = tr.status?.token;
    if (!token) throw new Error(`expected a token from the TokenRequest for ${namespace}/${serviceAccount}, found none; check that the ServiceAccount exists`);
    return token;
  }

  private reconcile(pod: k8s.V1Pod): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const proxy = pod.spec?.containers.find((c) => c.name === 'linkerd-proxy');
    const ready = !pod.metadata?.deletionTimestamp && pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    const existing = this.proxies.get(uid);
    if (!proxy || !ready) {
      if (existing) {
        existing.stop();
        this.proxies.delete(uid);
      }
      return;
    }
    if (existing) return;
    const anchors = proxy.env?.find((e) => e.name === 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS')?.value;
    if (!anchors) return;
    const ns = pod.metadata!.namespace!;
    const sa = pod.spec?.serviceAccountName ?? 'default';
    const identity =
      proxy.env?.find((e) => e.name === 'LINKERD2_PROXY_IDENTITY_LOCAL_NAME')?.value?.replace('$(_pod_sa)', sa).replace('$(_pod_ns)', ns) ??
      identityName(sa, ns, this.opts.controlPlaneNamespace, this.opts.trustDomain);
    const sim = new SimulatedProxy({ namespace: ns, pod: pod.metadata!.name!, uid, identity, serviceAccount: sa, anchorsPem: anchors, plane: this });
    this.proxies.set(uid, sim);
    void sim.refresh();
  }

  async start(): Promise<void> {
    await this.network.start();
    const informer = k8s.makeInformer(this.kc, '/api/v1/pods', () => this.core.listPodForAllNamespaces());
    informer.on('add', (p) => this.reconcile(p));
    informer.on('update', (p) => this.reconcile(p));
    informer.on('delete', (p) => {
      const uid = p.metadata?.uid;
      if (uid) {
        this.proxies.get(uid)?.stop();
        this.proxies.delete(uid);
      }
    });
    informer.on('error', () => setTimeout(() => void informer.start().catch(() => undefined), 1_000));
    this.informer = informer;
    await informer.start();
  }

  ready(): SimulatedProxy[] {
    return [...this.proxies.values()].filter((p) => p.ready);
  }

  /** For a wait's timeout: proxies started and with leaves, the pods still without one, the last events. */
  describeReadiness(): string {
    const all = [...this.proxies.values()];
    const waiting = all.filter((p) => !p.ready).map((p) => p.name);
    const last = this.events.slice(-5).map((e) => `  ${e.at} ${e.pod}: ${e.event}`);
    return [
      `Data plane: ${all.length} simulated proxies for Ready meshed pods, ${all.length - waiting.length} with a leaf; without one: ${waiting.slice(0, 10).join(', ') || 'none'}${waiting.length > 10 ? ', ...' : ''}.`,
      last.length ? `Last data-plane events:\n${last.join('\n')}` : 'No data-plane events.',
    ].join('\n');
  }

  /**
   * The plane's own verdict on a pod (namespace/name): the issuer of the last leaf its proxy's webpki
   * accepted against the roots the pod started with, and how many leaves it refused. Undefined when
   * no proxy runs for the pod.
   */
  leafVerdict(pod: string): { acceptedLeafIssuer?: string; refusedLeaves: number } | undefined {
    const proxy = [...this.proxies.values()].find((p) => p.name === pod);
    return proxy && { ...(proxy.leafIssuerFingerprint ? { acceptedLeafIssuer: proxy.leafIssuerFingerprint } : {}), refusedLeaves: proxy.refusedLeaves };
  }

  async stop(): Promise<void> {
    await this.informer?.stop();
    for (const p of this.proxies.values()) p.stop();
    this.proxies.clear();
    if (this.ownsNetwork) await this.network.close();
  }
}

export interface TrafficReport {
  handshakes: number;
  failures: HandshakeFailure[];
  timeouts: HandshakeFailure[];
  /** Verdicts where webpki and node disagreed (handshakes and own leaves); each fails a scenario. */
  disagreements: number;
  disagreementExamples: Disagreement[];
  /** Failures by who refused and webpki's error variant, e.g. "server refused: UnknownIssuer". */
  failureBreakdown: Record<string, number>;
  /** With planes of several clusters: handshakes and failures by route, "client cluster -> server cluster". */
  routes?: Record<string, RouteCount>;
  verifier: JudgeStats & { rustlsWebpki: string; msPerHandshake: number };
}

export interface RouteCount {
  handshakes: number;
  failures: number;
}

/** A handshake's route: "east -> west" for a client in east and a server in west. */
export function routeOf(pair: Pick<HandshakeFailure, 'client' | 'server'>): string {
  return `${pair.client.cluster ?? 'local'} -> ${pair.server.cluster ?? 'local'}`;
}

/**
 * Keeps making mTLS handshakes between random pairs of ready proxies and records each failure. Given
 * several planes (a fleet's, sharing one ProxyNetwork), it picks both sides from all their ready
 * proxies, so a pair is in-cluster or cross-cluster as chance has it, and counts each route.
 */
export class TrafficDriver {
  handshakes = 0;
  /** Handshakes refused (by either side's webpki) or broken: what a rotation must never cause. */
  readonly failures: HandshakeFailure[] = [];
  /** Handshakes that got no answer in time (machine overload), kept apart from failures. */
  readonly timeouts: HandshakeFailure[] = [];
  /** By route ("east -> west"), counted with planes of several clusters only. */
  readonly routes = new Map<string, RouteCount>();
  private readonly planes: readonly DataPlane[];
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly acceptedListeners = new Set<(at: number, client: SimulatedProxy, server: SimulatedProxy) => void>();

  constructor(
    planes: DataPlane | readonly DataPlane[],
    private readonly opts: { concurrency?: number } = {},
  ) {
    this.planes = Array.isArray(planes) ? planes : [planes as DataPlane];
    const network = this.planes[0]?.network;
    if (!network || this.planes.some((p) => p.network !== network)) {
      throw new Error(`expected one or more planes sharing one ProxyNetwork, found ${this.planes.length} plane(s)${network ? ' with different networks' : ''}; construct a fleet's planes with the same network`);
    }
    if (this.planes.length > 1 && new Set(this.planes.map((p) => p.cluster)).size !== this.planes.length) {
      throw new Error(`expected each plane of a fleet to name its own cluster, found ${JSON.stringify(this.planes.map((p) => p.cluster))}; pass DataPlane's cluster option`);
    }
  }

  private get network(): ProxyNetwork {
    return this.planes[0]!.network;
  }

  /** Verdicts where webpki and node:tls (or, for own leaves, node:crypto) disagreed so far. */
  get disagreements(): number {
    return this.network.judge.report().disagreements;
  }

  get disagreementExamples(): Disagreement[] {
    return [...this.network.judge.disagreementExamples];
  }

  /** Calls `listener` after each handshake both sides accepted; returns its removal. */
  onAccepted(listener: (at: number, client: SimulatedProxy, server: SimulatedProxy) => void): () => void {
    this.acceptedListeners.add(listener);
    return () => this.acceptedListeners.delete(listener);
  }

  start(): void {
    this.running = true;
    for (let i = 0; i < (this.opts.concurrency ?? 4); i++) this.loops.push(this.loop());
  }

  private count(client: SimulatedProxy, server: SimulatedProxy, failed: boolean): void {
    if (this.planes.length < 2) return;
    const route = routeOf({ client: client.view(), server: server.view() });
    const counted = this.routes.get(route) ?? { handshakes: 0, failures: 0 };
    counted.handshakes++;
    if (failed) counted.failures++;
    this.routes.set(route, counted);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const ready = this.planes.flatMap((p) => p.ready());
      if (ready.length < 2) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const a = ready[Math.floor(Math.random() * ready.length)]!;
      let b = ready[Math.floor(Math.random() * ready.length)]!;
      if (b === a) b = ready[(ready.indexOf(a) + 1) % ready.length]!;
      try {
        await a.connect(b);
        this.handshakes++;
        this.count(a, b, false);
        const at = Date.now();
        a.firstHandshakeAt ??= at;
        b.firstHandshakeAt ??= at;
        for (const listener of this.acceptedListeners) listener(at, a, b);
      } catch (err) {
        // A peer that stopped between picking and connecting is not an mTLS failure.
        if (!a.ready || !b.ready) continue;
        this.handshakes++;
        const record: HandshakeFailure = { at: new Date().toISOString(), client: a.view(), server: b.view(), error: (err as Error).message };
        if (err instanceof HandshakeRefused) Object.assign(record, { refusedBy: err.refusedBy, webpkiError: err.webpkiError, refusedRoots: err.roots, refusedChain: err.chain });
        const timedOut = err instanceof HandshakeTimeout;
        (timedOut ? this.timeouts : this.failures).push(record);
        this.count(a, b, !timedOut);
      }
    }
  }

  async stop(): Promise<TrafficReport> {
    this.running = false;
    await Promise.all(this.loops);
    const failureBreakdown: Record<string, number> = {};
    for (const failure of this.failures) {
      const kind = failure.webpkiError ? `${failure.refusedBy} refused: ${failure.webpkiError}` : 'not a refusal';
      failureBreakdown[kind] = (failureBreakdown[kind] ?? 0) + 1;
    }
    const stats = this.network.judge.report();
    return {
      handshakes: this.handshakes,
      failures: this.failures,
      timeouts: this.timeouts,
      disagreements: stats.disagreements,
      disagreementExamples: this.disagreementExamples,
      failureBreakdown,
      ...(this.routes.size > 0 ? { routes: Object.fromEntries([...this.routes].map(([route, counted]) => [route, { ...counted }])) } : {}),
      verifier: { ...stats, rustlsWebpki: this.network.judge.rustlsWebpkiVersion, msPerHandshake: this.handshakes ? stats.waitedMs / this.handshakes : 0 },
    };
  }
}

/** One line for a spec's stderr: handshakes, failures by webpki variant, disagreements, verifier cost. */
export function describeTraffic(label: string, report: TrafficReport): string {
  const breakdown = Object.entries(report.failureBreakdown).map(([kind, count]) => `${count} ${kind}`).join(', ');
  const { verifier } = report;
  return [
    `${label}: ${report.handshakes} handshakes, ${report.failures.length} failures${breakdown ? ` (${breakdown})` : ''}, ${report.timeouts.length} timeouts (overload, not rejections)`,
    ...(report.routes ? [`by route: ${Object.entries(report.routes).map(([route, c]) => `${route} ${c.handshakes} handshakes, ${c.failures} failures`).join('; ')}`] : []),
    `${report.disagreements} webpki/node disagreements${report.disagreementExamples.length ? ` e.g. ${JSON.stringify(report.disagreementExamples)}` : ''}` +
      (verifier.expiredDuringHandshake ? ` (and ${verifier.expiredDuringHandshake} chains that expired during their handshake, after node verified them: webpki refused)` : ''),
    `rustls-webpki ${verifier.rustlsWebpki}: ${verifier.verdicts} verdicts, ${verifier.computed} computed, ${verifier.msPerHandshake.toFixed(2)} ms awaited per handshake`,
  ].join('; ');
}
