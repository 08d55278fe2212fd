// ClusterReader: one snapshot of everything `decide` needs, assembled from the list/watch caches.
// Reads no pod or workload from the API; only the prepared anchor Secret and the issuer's
// CertificateRequests are re-read, and only right after cert-manager changed their Certificate, so a
// renewal is never seen half-done, and the identity Deployment after it changed (its container args,
// which the cache does not keep). The issuer Secret is never read: it holds the issuer's key.
import type { KubernetesListObject, V1Deployment, V1Secret } from '@kubernetes/client-node';
import type {
  AnchorFacts,
  BundleFacts,
  ClusterReader,
  ClusterSnapshot,
  Fingerprint,
  IdentityEvent,
  IdentityIssuerFacts,
  IssuerSigningFacts,
  MeshedPod,
  WorkloadFacts,
  WorkloadKind,
  WorkloadRef,
} from '@linkerd-rotator/rotation';
import { workloadKey } from '@linkerd-rotator/rotation';
import { crossSignIssuerProblems, type ParsedCertificate } from '@linkerd-rotator/x509';
import { anchorPemOf, crossSignerPemOf } from '../slim.js';
import { activeCrossSignatureOf } from './anchors.js';
import { issuerChainOf } from '../caches/issuer-chain.js';
import type { ClusterCache } from './cache.js';
import type { Collection } from '../collection.js';
import type { AdapterContext } from './context.js';
import type { InjectorAnswer, InjectorProbe } from './injector.js';
import { meshedPodOf, tierOfNamespace, type PodContext } from './pod-facts.js';
import { anchorFactsOf, anchorFactsOfCertificate, bundleFactsOf, certificatesOf, identityEventOf, issuedChainOf, issuerSigningFactsOf, issuingFactsOf, signedNextRequestOf, publicViewFactsOf, type CertificateObject, type CertificateRequestObject } from './pki-facts.js';
import { CERTIFICATE_REQUESTS } from './context.js';
import { KubeApiError } from '../errors.js';
import { bundleTargetsOf, isBundleTarget, otherControlPlaneTargets, type BundleTargets, type OtherControlPlaneTarget } from './bundle-targets.js';
import { parseDuration } from '../durations/index.js';
import type { V1ConfigMap } from '@kubernetes/client-node';
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
  /**
   * Anchors that meshed pods trust, by fingerprint (kept while some pod trusts them): after Retire the
   * old anchor is in no Secret or bundle, but a cross-signature by it still serves the pods that
   * trust only it, so `chainVia` looks for signers here too.
   */
  private podAnchors = new Map<Fingerprint, ParsedCertificate>();
  private chainCache = new Map<string, Pick<IdentityIssuerFacts, 'chainsTo' | 'chainVia'>>();
  /**
   * The issuer chain of each revision seen, by Certificate uid and revision. A revision's chain never
   * changes, and cert-manager deletes the request of the current revision as soon as a renewal
   * creates the next one when `spec.revisionHistoryLimit` is 1 (its default since v1.18), so the
   * chain stays known through the renewal.
   */
  private issuedChains = new Map<string, string>();
  /** The identity Deployment's issuance lifetime, read at this resourceVersion of it. */
  private identityLifetime: { readonly version: string; readonly ms: number | undefined } | undefined;
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
    const active = activeAnchorFacts(cache.activeSecret.get(ctx.names.trustNamespace, ctx.names.activeAnchorSecret), observedAt);
    const previous = anchorFactsOf(cache.previousSecret.get(ctx.names.trustNamespace, ctx.names.previousAnchorSecret));
    const publicView = publicViewFactsOf(cache.publicPki.get(ctx.names.releaseNamespace, ctx.names.publicPkiConfigMap));
    const issuer = await this.issuer();
    const issuerSigning = this.issuerSigning();
    const identityIssuanceLifetimeMs = await this.identityIssuanceLifetime();
    const otherControlPlanes = this.otherControlPlaneTargets();
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
      ...(issuerSigning ? { issuerSigning } : {}),
      ...(publicView ? { publicView } : {}),
      bundles,
      ...(this.injector.facts ? { injector: this.injector.facts } : {}),
      pods,
      workloads,
      identityEvents: this.identityEvents(),
      ...(identityIssuanceLifetimeMs !== undefined ? { identityIssuanceLifetimeMs } : {}),
      ...(otherControlPlanes.length > 0 ? { otherControlPlaneTargets: otherControlPlanes } : {}),
    };
  }

  /** Every meshed pod, and the workloads that own meshed pods or will create them. */
  meshed(): { pods: MeshedPod[]; workloads: WorkloadFacts[] } {
    const { cache, ctx } = this;
    const epoch = cache.namespaces.version;
    let definitive = true;
    const podContext: PodContext = {
      linkerdNamespace: ctx.names.linkerdNamespace,
      releaseNamespace: ctx.names.releaseNamespace,
      replicaSet: (namespace, name) => {
        const rs = cache.replicaSets.get(namespace, name);
        if (!rs) definitive = false;
        return rs;
      },
      hasDeployment: (namespace, name) => cache.deployments.get(namespace, name) !== undefined,
      namespace: (name) => cache.namespaces.get(undefined, name),
      anchorsOf: (pem) =>
        certificatesOf(pem).map((c) => {
          this.podAnchors.set(c.fingerprint, c);
          return c.fingerprint;
        }),
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
    const trusted = new Set(pods.flatMap((pod) => pod.trustedAnchors ?? []));
    for (const fingerprint of this.podAnchors.keys()) if (!trusted.has(fingerprint)) this.podAnchors.delete(fingerprint);
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

  /** What decides which trust-roots ConfigMaps count: the Bundle's target selector (bundle-targets.ts). */
  bundleTargets(): BundleTargets {
    const { cache, ctx } = this;
    const name = ctx.names.trustRootsConfigMap;
    return bundleTargetsOf(cache.bundleKind, cache.bundle?.get(undefined, name), name);
  }

  /** The trust-roots ConfigMaps in the Bundle's target namespaces; a copy anywhere else is ignored. */
  targetTrustRoots(): V1ConfigMap[] {
    const { cache, ctx } = this;
    const targets = this.bundleTargets();
    return cache.trustRoots.items().filter((cm) => {
      const namespace = cm.metadata?.namespace ?? '';
      return isBundleTarget(targets, namespace, cache.namespaces.get(undefined, namespace), ctx.names.linkerdNamespace);
    });
  }

  /** Namespaces of another Linkerd control plane that the Bundle targets (bundle-targets.ts). */
  otherControlPlaneTargets(): OtherControlPlaneTarget[] {
    const { cache, ctx } = this;
    const identityNamespaces: string[] = [];
    for (const d of cache.deployments.items()) if (d.metadata?.name === ctx.names.identityDeployment) identityNamespaces.push(d.metadata.namespace ?? '');
    return otherControlPlaneTargets(this.bundleTargets(), { namespaces: cache.namespaces.items(), identityNamespaces, namespace: (name) => cache.namespaces.get(undefined, name) }, ctx.names);
  }

  /**
   * Linkerd identity's `-identity-issuance-lifetime`, from one GET of its Deployment (the cache keeps
   * no container args) when the cached Deployment's resourceVersion moved since the last read.
   * Undefined when the Deployment or its `identity` container is missing, or it may not be read.
   */
  async identityIssuanceLifetime(): Promise<number | undefined> {
    const { cache, ctx } = this;
    const namespace = ctx.names.linkerdNamespace;
    const name = ctx.names.identityDeployment;
    const version = cache.deployments.get(namespace, name)?.metadata?.resourceVersion;
    if (version === undefined) return undefined;
    if (this.identityLifetime?.version === version) return this.identityLifetime.ms;
    const op = { verb: 'get', resource: 'deployments', namespace, name };
    let ms: number | undefined;
    try {
      ms = identityIssuanceLifetimeOf(await ctx.call(op, () => ctx.apps.readNamespacedDeployment({ namespace, name })));
    } catch (err) {
      const kind = (err as { kind?: string }).kind;
      if (kind !== 'not-found' && kind !== 'forbidden') throw err;
      if (kind === 'forbidden') ctx.logger.warn({ deployment: `${namespace}/${name}` }, `${(err as Error).message}; the identity issuance lifetime is not cross-checked with --leaf-lifetime`);
    }
    this.identityLifetime = { version, ms };
    return ms;
  }

  bundles(): BundleFacts[] {
    const out: BundleFacts[] = [];
    for (const cm of this.targetTrustRoots()) {
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

  /**
   * The identity issuer, and which known anchor it verifies against (checked with libs/x509). Its
   * chain is the `status.certificate` of the issuer Certificate's CertificateRequest of the current
   * revision, the very text cert-manager wrote into the issuer Secret's tls.crt (`issuedChainOf`): the
   * runner may not read that Secret, which holds the issuer's key. Without that request the runner
   * cannot tell which anchor the issuer chains to, so it stops (KubeApiError) rather than decide blind.
   */
  private async issuer(): Promise<IdentityIssuerFacts | undefined> {
    const { cache, ctx } = this;
    const { linkerdNamespace: namespace, issuerCertificate: name } = ctx.names;
    const certificate = cache.issuerCertificate.get(namespace, name);
    let issued = issuedChainOf(certificate, cache.issuerRequests.items());
    const revisionKey = `${certificate?.metadata?.uid ?? ''}/${certificate?.status?.revision ?? ''}`;
    if (issued && 'pem' in issued) {
      if (!this.issuedChains.has(revisionKey) && this.issuedChains.size >= 4) this.issuedChains.clear();
      this.issuedChains.set(revisionKey, issued.pem);
    } else if (issued && this.issuedChains.has(revisionKey)) {
      issued = { pem: this.issuedChains.get(revisionKey) as string, revision: certificate?.status?.revision ?? 0 };
    }
    if (issued && 'missing' in issued) {
      const revision = certificate?.status?.revision;
      const limit = certificate?.spec?.revisionHistoryLimit;
      const pruned =
        limit === undefined || limit < 2
          ? ` Its spec.revisionHistoryLimit is ${limit ?? 'unset (1 since cert-manager v1.18)'}: cert-manager deletes the request of the current revision as soon as a renewal creates the next one; set it to 2 or more.`
          : '';
      throw new KubeApiError(
        'not-found',
        undefined,
        { verb: 'list', resource: 'certificaterequests.cert-manager.io', namespace },
        `expected the CertificateRequest of Certificate ${namespace}/${name} at revision ${revision ?? '(none)'} (its status.certificate is the chain cert-manager wrote into Secret ${namespace}/${ctx.names.issuerSecret}, which the runner may not read), ${issued.missing}; ` +
          `the runner cannot tell which anchor the identity issuer chains to, so it stopped in a safe state: while no rotation is in progress, renew the issuer (cmctl renew -n ${namespace} ${name}) so cert-manager issues a new revision, keep spec.revisionHistoryLimit of that Certificate at 2 or more (the chart's Certificate sets 2), then run again.${pruned}`,
      );
    }
    const chain = issued ? certificatesOf(issued.pem) : [];
    const [leaf, ...intermediates] = chain;
    if (!leaf) return undefined;
    // Anchors: what each anchor Secret holds as its anchor (never the active Secret's tls.crt, which
    // may be a cross-signature) and what the bundles hold.
    const anchors = new Map<string, ParsedCertificate>();
    const secrets = [cache.preparedSecret, cache.activeSecret, cache.previousSecret];
    for (const collection of secrets) {
      for (const secret of collection.items()) {
        const text = anchorPemOf(secret);
        const anchor = text === undefined ? undefined : certificatesOf(text)[0];
        if (anchor) anchors.set(anchor.fingerprint, anchor);
      }
    }
    for (const cm of this.targetTrustRoots()) {
      const text = cm.data?.[ctx.names.trustRootsKey];
      for (const cert of text === undefined ? [] : certificatesOf(text)) anchors.set(cert.fingerprint, cert);
    }
    // Signers a cross-signature may carry beyond those: the anchor the active Secret records beside X
    // (cross-signer.crt) and the anchors of literal trust-anchors envs.
    const signers = new Map<string, ParsedCertificate>(this.podAnchors);
    const crossSignerPem = crossSignerPemOf(cache.activeSecret.get(ctx.names.trustNamespace, ctx.names.activeAnchorSecret));
    for (const cert of crossSignerPem === undefined ? [] : certificatesOf(crossSignerPem)) signers.set(cert.fingerprint, cert);
    const key = `${leaf.fingerprint}:${intermediates.map((c) => c.fingerprint).join(',')}:${[...anchors.keys()].sort().join(',')}:${[...signers.keys()].sort().join(',')}`;
    let verdict = this.chainCache.get(key);
    if (verdict === undefined) {
      const { chainsTo, chainVia } = await issuerChainOf({ issuer: leaf, intermediates, anchors: [...anchors.values()], signers: [...signers.values()] });
      verdict = { ...(chainsTo ? { chainsTo } : {}), ...(chainVia ? { chainVia } : {}) };
      if (this.chainCache.size > 64) this.chainCache.clear();
      this.chainCache.set(key, verdict);
    }
    // A next revision signed but not stored (recovery discards one signed under a replaced anchor).
    const next = signedNextRequestOf(certificate, cache.issuerRequests.items(), cache.discardedIssuerRequests);
    const [nextIssuer, ...nextIntermediates] = next ? certificatesOf(next.pem) : [];
    const signedRequest =
      next && nextIssuer
        ? { name: next.name, ...(await issuerChainOf({ issuer: nextIssuer, intermediates: nextIntermediates, anchors: [...anchors.values()], signers: [...signers.values()] }).then(({ chainsTo }) => (chainsTo ? { chainsTo } : {}))) }
        : undefined;
    return {
      ...issuingFactsOf(cache.issuerCertificate.get(ctx.names.linkerdNamespace, ctx.names.issuerCertificate)),
      fingerprint: leaf.fingerprint,
      ...verdict,
      ...(signedRequest ? { signedRequest } : {}),
      notBefore: leaf.notBefore.getTime(),
      notAfter: leaf.notAfter.getTime(),
    };
  }

  /** The issuer Certificate's issuerRef and the ClusterIssuer's CA Secret; undefined when ClusterIssuers cannot be listed. */
  private issuerSigning(): IssuerSigningFacts | undefined {
    const { cache, ctx } = this;
    if (!cache.clusterIssuer) return undefined;
    return issuerSigningFactsOf(cache.clusterIssuer.get(undefined, ctx.names.identityClusterIssuer), cache.issuerCertificate.get(ctx.names.linkerdNamespace, ctx.names.issuerCertificate));
  }

  /**
   * cert-manager writes a Certificate's Secret, from its CertificateRequest, before it bumps
   * `status.revision`, but the watches deliver independently. When a Certificate moved since the last
   * snapshot, re-read what holds its chain (after seeing the Certificate): the prepared anchor's
   * Secret, and the CertificateRequests of the issuer (the runner may not read the issuer Secret). So
   * the snapshot never pairs a new revision with an old chain: the request of the revision seen is
   * Ready with its chain before the revision is set.
   */
  private async refreshAfterRenewal(): Promise<void> {
    const { cache, ctx } = this;
    const n = ctx.names;
    if (this.certificateMoved(cache.preparedCertificate, n.trustNamespace, n.preparedAnchorCertificate)) {
      const [namespace, name] = [n.trustNamespace, n.preparedAnchorSecret];
      const op = { verb: 'get', resource: 'secrets', namespace, name };
      try {
        cache.preparedSecret.remember(await ctx.call(op, () => ctx.core.readNamespacedSecret({ namespace, name })));
      } catch (err) {
        if ((err as { kind?: string }).kind !== 'not-found') throw err;
      }
    }
    // Without the Certificate there is no issuer to read (issuedChainOf), so nothing to list.
    if (this.certificateMoved(cache.issuerCertificate, n.linkerdNamespace, n.issuerCertificate) && cache.issuerCertificate.get(n.linkerdNamespace, n.issuerCertificate)) {
      const namespace = n.linkerdNamespace;
      const op = { verb: 'list', resource: `${CERTIFICATE_REQUESTS.plural}.${CERTIFICATE_REQUESTS.group}`, namespace };
      const fresh = (await ctx.call(op, () => ctx.custom.listNamespacedCustomObject({ ...CERTIFICATE_REQUESTS, namespace }))) as KubernetesListObject<CertificateRequestObject>;
      for (const request of fresh.items ?? []) cache.issuerRequests.remember(request);
    }
  }

  /** Whether the Certificate's resourceVersion changed since the last snapshot (true the first time). */
  private certificateMoved(certificates: Collection<CertificateObject>, namespace: string, name: string): boolean {
    const version = certificates.get(namespace, name)?.metadata?.resourceVersion;
    const key = `${namespace}/${name}`;
    if (this.lastCertificateVersions.has(key) && this.lastCertificateVersions.get(key) === version) return false;
    this.lastCertificateVersions.set(key, version);
    return true;
  }
}

/**
 * The active anchor, with whether it could cross-sign the next one (`crossSignIssuerProblems`: CA,
 * keyCertSign, pathLen, validity, key type), and the cross-signature X its tls.crt holds after a
 * cross-signed promotion (`check --fleet` compares it). The key itself is checked when X is minted:
 * the cache never holds it (I5).
 */
function activeAnchorFacts(secret: V1Secret | undefined, now: number): AnchorFacts | undefined {
  const pem = anchorPemOf(secret);
  const anchor = pem === undefined ? undefined : certificatesOf(pem)[0];
  if (!anchor) return undefined;
  const reasons = crossSignIssuerProblems({ issuer: anchor, now: new Date(now) });
  const crossSignature = activeCrossSignatureOf(secret);
  return { ...anchorFactsOfCertificate(anchor), crossSignable: reasons.length === 0 ? true : { reasons }, ...(crossSignature ? { crossSignature } : {}) };
}

/** Linkerd's default `issuanceLifetime` (identity.DefaultIssuanceLifetime), when the flag is absent or unparsable. */
const DEFAULT_ISSUANCE_LIFETIME_MS = 24 * 3_600_000;
const ISSUANCE_LIFETIME_FLAG = /^--?identity-issuance-lifetime(?:=(.*))?$/s;

/**
 * The leaf lifetime Linkerd's identity controller runs with, from its Deployment: the `identity`
 * container's `-identity-issuance-lifetime` (Go's flag package: `-f=v`, `--f=v`, `-f v`; the last
 * wins), read as upstream's controller/cmd/identity/main.go does: absent, empty or unparsable by
 * time.ParseDuration means identity.DefaultIssuanceLifetime (24h; upstream logs a warning). Undefined
 * without an `identity` container.
 */
export function identityIssuanceLifetimeOf(deployment: V1Deployment): number | undefined {
  const container = deployment.spec?.template?.spec?.containers?.find((c) => c.name === 'identity');
  if (!container) return undefined;
  const tokens = [...(container.command ?? []), ...(container.args ?? [])];
  let value: string | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const m = ISSUANCE_LIFETIME_FLAG.exec(tokens[i] as string);
    if (!m) continue;
    value = m[1] ?? tokens[++i];
  }
  if (!value) return DEFAULT_ISSUANCE_LIFETIME_MS;
  try {
    return parseDuration(value);
  } catch {
    return DEFAULT_ISSUANCE_LIFETIME_MS;
  }
}
