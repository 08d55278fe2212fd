// A simulated Linkerd data plane for the local cluster. Each meshed kwok pod gets a proxy that
// behaves like linkerd2-proxy where trust is concerned: its roots are fixed at pod start from the
// injected LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS env, it gets leaves from the real identity API
// with the pod's ServiceAccount token, refreshes at 70% of a leaf's life, refuses a leaf that does
// not chain to its own roots, and serves and makes real TLS 1.3 mTLS connections.
import * as k8s from '@kubernetes/client-node';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { parseBundle, sha256Hex, toPem } from '@linkerd-rotator/x509';
import { certify, identityName } from './identity-client.js';

export interface ProxyView {
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

class SimulatedProxy {
  readonly roots: string[];
  readonly rootsSha256: string;
  private server: tls.Server | undefined;
  private context: tls.SecureContextOptions | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  leafIssuerFingerprint: string | undefined;
  leafValidUntil: Date | undefined;
  refusedLeaves = 0;
  refreshes = 0;

  constructor(
    readonly namespace: string,
    readonly pod: string,
    readonly uid: string,
    readonly identity: string,
    readonly serviceAccount: string,
    anchorsPem: string,
    private readonly plane: DataPlane,
  ) {
    // As the proxy reads its env: every certificate block, whatever else the text holds.
    this.roots = parseBundle(anchorsPem).certificates.map(toPem);
    this.rootsSha256 = sha256Hex(anchorsPem);
  }

  view(): ProxyView {
    const port = this.server?.listening ? (this.server.address() as AddressInfo).port : undefined;
    return { pod: this.pod, namespace: this.namespace, identity: this.identity, rootsSha256: this.rootsSha256, leafIssuerFingerprint: this.leafIssuerFingerprint, port };
  }

  get ready(): boolean {
    return !this.stopped && this.context !== undefined && this.server?.listening === true;
  }

  /** Like the proxy: a leaf is used only if it chains (leaf -> intermediates -> one of our roots). */
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

  async refresh(): Promise<void> {
    if (this.stopped) return;
    let delayMs = 2_000;
    try {
      const token = await this.plane.token(this.namespace, this.serviceAccount, this.pod, this.uid);
      const res = await certify(this.plane.identityAddr, this.identity, token);
      const leaf = new X509Certificate(res.leafDer);
      const intermediates = res.intermediatesDer.map((d) => new X509Certificate(d));
      if (!this.chainsToRoots(leaf, intermediates)) {
        this.refusedLeaves++;
        this.plane.events.push({ at: new Date().toISOString(), pod: `${this.namespace}/${this.pod}`, event: 'leaf refused: does not chain to this proxy\'s roots' });
      } else {
        this.context = {
          key: res.privateKeyPem,
          cert: [leaf.toString(), ...intermediates.map((i) => i.toString())].join(''),
          ca: this.roots,
          minVersion: 'TLSv1.3',
        };
        this.leafIssuerFingerprint = intermediates[0] ? sha256Hex(intermediates[0].raw) : undefined;
        this.leafValidUntil = new Date(leaf.validTo);
        this.refreshes++;
        if (this.server) this.server.setSecureContext(this.context);
        else await this.listen();
        const life = new Date(leaf.validTo).getTime() - Date.now();
        delayMs = Math.max(10_000, Math.min(life * 0.7, 86_400_000));
      }
    } catch (err) {
      this.plane.events.push({ at: new Date().toISOString(), pod: `${this.namespace}/${this.pod}`, event: `certify failed: ${(err as Error).message}` });
    }
    if (!this.stopped) this.refreshTimer = setTimeout(() => void this.refresh(), delayMs);
  }

  private listen(): Promise<void> {
    const server = tls.createServer({ ...this.context!, requestCert: true, rejectUnauthorized: true });
    server.on('secureConnection', (socket) => socket.end('ok'));
    server.on('tlsClientError', () => undefined);
    this.server = server;
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  }

  /** Connect to a peer with mTLS, verifying its chain against our roots and its identity. */
  connect(peer: SimulatedProxy): Promise<void> {
    const port = peer.view().port;
    if (!this.context || port === undefined) return Promise.reject(new Error('not ready'));
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        ...this.context!,
        host: '127.0.0.1',
        port,
        servername: peer.identity,
        rejectUnauthorized: true,
        checkServerIdentity: (host, cert) => tls.checkServerIdentity(host, cert),
      });
      const timer = setTimeout(() => socket.destroy(new HandshakeTimeout()), HANDSHAKE_TIMEOUT_MS);
      socket.once('secureConnect', () => undefined);
      socket.on('data', () => {
        clearTimeout(timer);
        socket.end();
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('close', () => {
        clearTimeout(timer);
        reject(new Error('connection closed before the server answered (the server rejected our certificate)'));
      });
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

/** Watches every pod in the cluster and keeps one simulated proxy per Ready meshed pod. */
export class DataPlane {
  readonly proxies = new Map<string, SimulatedProxy>();
  readonly events: DataPlaneEvent[] = [];
  private informer: k8s.Informer<k8s.V1Pod> & k8s.ObjectCache<k8s.V1Pod> | undefined;
  private readonly core: k8s.CoreV1Api;

  constructor(
    private readonly kc: k8s.KubeConfig,
    readonly identityAddr: string,
    private readonly opts: { controlPlaneNamespace?: string; trustDomain?: string } = {},
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  async token(ns: string, sa: string, pod: string, uid: string): Promise<string> {
    const tr = await this.core.createNamespacedServiceAccountToken({
      name: sa,
      namespace: ns,
      body: { spec: { audiences: ['identity.l5d.io'], expirationSeconds: 3600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod, uid } } },
    });
    const token = tr.status?.token;
    if (!token) throw new Error(`TokenRequest for ${ns}/${sa} returned no token`);
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
    const sim = new SimulatedProxy(ns, pod.metadata!.name!, uid, identity, sa, anchors, this);
    this.proxies.set(uid, sim);
    void sim.refresh();
  }

  async start(): Promise<void> {
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

  async stop(): Promise<void> {
    await this.informer?.stop();
    for (const p of this.proxies.values()) p.stop();
    this.proxies.clear();
  }
}

/** Keeps making mTLS handshakes between random pairs of ready proxies and records each failure. */
export class TrafficDriver {
  handshakes = 0;
  /** Handshakes rejected or broken by either side: what a rotation must never cause. */
  readonly failures: HandshakeFailure[] = [];
  /** Handshakes that got no answer in time (machine overload), kept apart from failures. */
  readonly timeouts: HandshakeFailure[] = [];
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly plane: DataPlane,
    private readonly opts: { concurrency?: number } = {},
  ) {}

  start(): void {
    this.running = true;
    for (let i = 0; i < (this.opts.concurrency ?? 4); i++) this.loops.push(this.loop());
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const ready = this.plane.ready();
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
      } catch (err) {
        // A peer that stopped between picking and connecting is not an mTLS failure.
        if (!a.ready || !b.ready) continue;
        this.handshakes++;
        const record = { at: new Date().toISOString(), client: a.view(), server: b.view(), error: (err as Error).message };
        (err instanceof HandshakeTimeout ? this.timeouts : this.failures).push(record);
      }
    }
  }

  async stop(): Promise<{ handshakes: number; failures: HandshakeFailure[]; timeouts: HandshakeFailure[] }> {
    this.running = false;
    await Promise.all(this.loops);
    return { handshakes: this.handshakes, failures: this.failures, timeouts: this.timeouts };
  }
}
