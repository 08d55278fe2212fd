// ClusterReader: one snapshot of everything `decide` needs, assembled from the list/watch caches.
// Reads no pod or workload from the API; only the named anchor Secrets are re-read, and only right
// after cert-manager changed their Certificate, so a renewal is never seen half-done.
import type { V1Secret } from '@kubernetes/client-node';
import type {
  BundleFacts,
  ClusterReader,
  ClusterSnapshot,
  Fingerprint,
  IdentityEvent,
  IdentityIssuerFacts,
  MeshedPod,
  WorkloadFacts,
  WorkloadKind,
  WorkloadRef,
} from '@linkerd-rotator/rotation';
import { workloadKey } from '@linkerd-rotator/rotation';
import { verifyChain, type ParsedCertificate } from '@linkerd-rotator/x509';
import type { ClusterCache } from './cache.js';
import type { Collection } from '../collection.js';
import type { AdapterContext } from './context.js';
import type { InjectorAnswer, InjectorProbe } from './injector.js';
import { meshedPodOf, tierOfNamespace, type PodContext } from './pod-facts.js';
import { anchorFactsOf, bundleFactsOf, certificatesOf, decodeSecretKey, identityEventOf, issuingFactsOf, type CertificateObject } from './pki-facts.js';
import { meshedTemplate, workloadFactsOf, type WorkloadObject } from './workload-facts.js';

export interface ReadOptions {
  /** Ask the proxy-injector again even if the bundles did not change. */
  readonly forceInjector?: boolean;
  /** How long to wait for caches that are re-listing after an API failure (default: the API timeout). */
  readonly deadline?: number;
}

const INJECT_ANNOTATION = 'linkerd.io/inject';

interface Memo<T> {
  readonly epoch: number;
  readonly value: T;
}

export class KubeClusterReader implements ClusterReader {
  private lastCertificateVersions = new Map<string, string | undefined>();
  /**
   * Facts per cached object: an update replaces the object, which drops its entry. What else they
   * depend on (namespace labels) is covered by the epoch; an owner resolved without its ReplicaSet
   * in the cache is not memoized (the ReplicaSet may arrive).
   */
  private readonly podMemo = new WeakMap<object, Memo<MeshedPod | undefined>>();
  private readonly workloadMemo = new WeakMap<object, Memo<{ facts: WorkloadFacts; meshed: boolean }>>();
  private readonly bundleMemo = new WeakMap<object, BundleFacts | undefined>();
  private chainCache = new Map<string, Fingerprint | undefined>();
  /** The proxy-injector's last answer, with the reason when it has none (for `status`). */
  injector: InjectorAnswer = {};
  private readonly cache: ClusterCache;
  private readonly probe: InjectorProbe;
  /**
   * Throw on a 403 from the dry-run (the rotation cannot pass its injector gate without it), from
   * `createRotationAdapter`'s `strictInjector` option.
   */
  readonly strictInjector: boolean;

  constructor(
    private readonly ctx: AdapterContext,
    parts: { readonly cache: ClusterCache; readonly probe: InjectorProbe; readonly strictInjector: boolean },
  ) {
    this.cache = parts.cache;
    this.probe = parts.probe;
    this.strictInjector = parts.strictInjector;
  }

  async readSnapshot(options: ReadOptions = {}): Promise<ClusterSnapshot> {
    const { ctx, cache } = this;
    await cache.synced(options.deadline ?? ctx.now() + ctx.apiTimeoutMs);
    await this.refreshAfterRenewal();
    const observedAt = ctx.now();
    const { pods, workloads } = this.meshed();
    const bundles = this.bundles();
    const prepared = anchorFactsOf(cache.preparedSecret.get(ctx.names.trustNamespace, ctx.names.preparedAnchorSecret));
    const active = anchorFactsOf(cache.activeSecret.get(ctx.names.trustNamespace, ctx.names.activeAnchorSecret));
    const previous = anchorFactsOf(cache.previousSecret.get(ctx.names.trustNamespace, ctx.names.previousAnchorSecret));
    const issuer = await this.issuer();
    const candidates = this.probeNamespaces(pods);
    const key = bundles.map((b) => `${b.namespace}=${b.sha256}`).sort().join(',');
    this.injector = await this.probe.answer(key, candidates, options.forceInjector ?? false);
    const refused = this.injector.error;
    if (this.strictInjector && refused?.kind === 'forbidden' && !ctx.transientForbidden(refused)) throw refused;
    return {
      observedAt,
      prepared: { ...issuingFactsOf(cache.preparedCertificate.get(ctx.names.trustNamespace, ctx.names.preparedAnchorCertificate)), ...(prepared ? { anchor: prepared } : {}) },
      ...(active ? { active } : {}),
      ...(previous ? { previous } : {}),
      ...(issuer ? { issuer } : {}),
      bundles,
      ...(this.injector.facts ? { injector: this.injector.facts } : {}),
      pods,
      workloads,
      identityEvents: this.identityEvents(),
    };
  }

  /** Every meshed pod, and the workloads that own meshed pods or will create them. */
  meshed(): { pods: MeshedPod[]; workloads: WorkloadFacts[] } {
    const { cache, ctx } = this;
    const epoch = cache.namespaces.version;
    let definitive = true;
    const podContext: PodContext = {
      linkerdNamespace: ctx.names.linkerdNamespace,
      replicaSet: (namespace, name) => {
        const rs = cache.replicaSets.get(namespace, name);
        if (!rs) definitive = false;
        return rs;
      },
      hasDeployment: (namespace, name) => cache.deployments.get(namespace, name) !== undefined,
      namespace: (name) => cache.namespaces.get(undefined, name),
      anchorsOf: (pem) => certificatesOf(pem).map((c) => c.fingerprint),
    };
    const pods: MeshedPod[] = [];
    for (const pod of cache.pods.items()) {
      let memo = this.podMemo.get(pod);
      if (!memo || memo.epoch !== epoch) {
        definitive = true;
        memo = { epoch, value: meshedPodOf(pod, podContext) };
        if (definitive) this.podMemo.set(pod, memo);
      }
      if (memo.value) pods.push(memo.value);
    }
    const workloads = new Map<string, WorkloadFacts>();
    const factsOf = (kind: WorkloadKind, obj: WorkloadObject) => {
      let memo = this.workloadMemo.get(obj);
      if (!memo || memo.epoch !== epoch) {
        const namespace = obj.metadata?.namespace ?? '';
        const ns = podContext.namespace(namespace);
        memo = {
          epoch,
          value: {
            facts: workloadFactsOf(kind, obj, tierOfNamespace(namespace, ns, ctx.names.linkerdNamespace)),
            meshed: meshedTemplate(obj, ns?.metadata?.annotations?.[INJECT_ANNOTATION]),
          },
        };
        this.workloadMemo.set(obj, memo);
      }
      return memo.value;
    };
    const add = (kind: WorkloadKind, obj: WorkloadObject | undefined, onlyIfMeshed: boolean) => {
      if (!obj?.metadata?.name) return;
      const ref: WorkloadRef = { kind, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name };
      const key = workloadKey(ref);
      if (workloads.has(key)) return;
      const { facts, meshed } = factsOf(kind, obj);
      if (!onlyIfMeshed || meshed) workloads.set(key, facts);
    };
    for (const pod of pods) {
      const owner = pod.owner;
      if (owner && owner.kind !== 'Job' && owner.kind !== 'Other') add(owner.kind, this.workload(owner.kind, pod.namespace, owner.name), false);
    }
    const kinds: Array<[WorkloadKind, Collection<WorkloadObject> | undefined]> = [
      ['Deployment', cache.deployments as Collection<WorkloadObject>],
      ['StatefulSet', cache.statefulSets as Collection<WorkloadObject>],
      ['DaemonSet', cache.daemonSets as Collection<WorkloadObject>],
      ['Rollout', cache.rollouts as Collection<WorkloadObject> | undefined],
    ];
    for (const [kind, collection] of kinds) for (const obj of collection?.items() ?? []) add(kind, obj, true);
    return { pods, workloads: [...workloads.values()] };
  }

  workload(kind: WorkloadKind, namespace: string, name: string): WorkloadObject | undefined {
    const { cache } = this;
    switch (kind) {
      case 'Deployment':
        return cache.deployments.get(namespace, name);
      case 'StatefulSet':
        return cache.statefulSets.get(namespace, name);
      case 'DaemonSet':
        return cache.daemonSets.get(namespace, name);
      case 'Rollout':
        return cache.rollouts?.get(namespace, name);
    }
  }

  bundles(): BundleFacts[] {
    const out: BundleFacts[] = [];
    for (const cm of this.cache.trustRoots.items()) {
      if (!this.bundleMemo.has(cm)) this.bundleMemo.set(cm, bundleFactsOf(cm, this.ctx.names.trustRootsKey));
      const facts = this.bundleMemo.get(cm);
      if (facts) out.push(facts);
    }
    return out.sort((a, b) => a.namespace.localeCompare(b.namespace));
  }

  private identityEvents(): IdentityEvent[] {
    const out: IdentityEvent[] = [];
    for (const e of this.cache.identityEvents.items()) {
      const event = identityEventOf(e);
      if (event) out.push(event);
    }
    return out.sort((a, b) => a.at - b.at);
  }

  /** Namespaces to dry-run a pod in: data-plane namespaces with meshed pods first, then extensions. */
  private probeNamespaces(pods: readonly MeshedPod[]): string[] {
    const rank = { 'data-plane': 0, extension: 1, 'control-plane': 2 } as const;
    const terminating = (ns: string) => this.cache.namespaces.get(undefined, ns)?.metadata?.deletionTimestamp !== undefined;
    const seen = new Map<string, number>();
    for (const pod of pods) if (pod.tier !== 'control-plane' && !terminating(pod.namespace)) seen.set(pod.namespace, Math.min(seen.get(pod.namespace) ?? 9, rank[pod.tier]));
    return [...seen.entries()].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])).map(([ns]) => ns);
  }

  /** The identity issuer, and which known anchor it verifies against (checked with libs/x509). */
  private async issuer(): Promise<IdentityIssuerFacts | undefined> {
    const { cache, ctx } = this;
    const pem = decodeSecretKey(cache.issuerSecret.get(ctx.names.linkerdNamespace, ctx.names.issuerSecret), 'tls.crt');
    const chain = pem === undefined ? [] : certificatesOf(pem);
    const [leaf, ...intermediates] = chain;
    if (!leaf) return undefined;
    const anchors = new Map<string, ParsedCertificate>();
    const secrets = [cache.preparedSecret, cache.activeSecret, cache.previousSecret];
    for (const collection of secrets) {
      for (const secret of collection.items()) {
        const text = decodeSecretKey(secret, 'tls.crt');
        for (const cert of text === undefined ? [] : certificatesOf(text)) anchors.set(cert.fingerprint, cert);
      }
    }
    for (const cm of cache.trustRoots.items()) {
      const text = cm.data?.[ctx.names.trustRootsKey];
      for (const cert of text === undefined ? [] : certificatesOf(text)) anchors.set(cert.fingerprint, cert);
    }
    const key = `${leaf.fingerprint}:${[...anchors.keys()].sort().join(',')}`;
    let chainsTo = this.chainCache.get(key);
    if (!this.chainCache.has(key)) {
      const result = await verifyChain(leaf, { anchors: [...anchors.values()], intermediates, targetSignsLeaves: true });
      chainsTo = result.ok ? result.anchor.fingerprint : undefined;
      if (this.chainCache.size > 64) this.chainCache.clear();
      this.chainCache.set(key, chainsTo);
    }
    return {
      ...issuingFactsOf(cache.issuerCertificate.get(ctx.names.linkerdNamespace, ctx.names.issuerCertificate)),
      fingerprint: leaf.fingerprint,
      ...(chainsTo ? { chainsTo } : {}),
      notBefore: leaf.notBefore.getTime(),
      notAfter: leaf.notAfter.getTime(),
    };
  }

  /**
   * cert-manager writes a Certificate's Secret before it bumps `status.revision`, but the two watches
   * deliver independently. When a Certificate moved since the last snapshot, re-read its Secret
   * (after seeing the Certificate), so the snapshot never pairs a new revision with an old Secret.
   */
  private async refreshAfterRenewal(): Promise<void> {
    const { cache, ctx } = this;
    const n = ctx.names;
    const pairs: Array<[string, Collection<CertificateObject>, string, Collection<V1Secret>, string]> = [
      [n.trustNamespace, cache.preparedCertificate, n.preparedAnchorCertificate, cache.preparedSecret, n.preparedAnchorSecret],
      [n.linkerdNamespace, cache.issuerCertificate, n.issuerCertificate, cache.issuerSecret, n.issuerSecret],
    ];
    for (const [namespace, certificates, certName, secrets, secretName] of pairs) {
      const version = certificates.get(namespace, certName)?.metadata?.resourceVersion;
      const key = `${namespace}/${certName}`;
      const seen = this.lastCertificateVersions.has(key);
      if (seen && this.lastCertificateVersions.get(key) === version) continue;
      this.lastCertificateVersions.set(key, version);
      const op = { verb: 'get', resource: 'secrets', namespace, name: secretName };
      try {
        const fresh = await ctx.call(op, () => ctx.core.readNamespacedSecret({ namespace, name: secretName }));
        secrets.remember(fresh);
      } catch (err) {
        if ((err as { kind?: string }).kind !== 'not-found') throw err;
      }
    }
  }
}
