// The PKI health exporter's cache: the anchor and issuer Secrets, the trust-roots ConfigMap in every
// namespace, meshed pods and the rotation state, each projected on arrival and held as a skeleton.
import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Pod, type V1Secret } from '@kubernetes/client-node';
import type { ObjectNames } from '@linkerd-rotator/names';
import { BundleCache, toPem } from '@linkerd-rotator/x509';
import { Collection, erase, type Feed } from '../collection.js';
import { reuseConnections } from '../connections.js';
import { configMapsEverywhereFeed, namedConfigMapFeed, namedSecretFeed, podsFeed } from '../feeds.js';
import { MESHED_POD_LABEL } from '../linkerd.js';
import { Projected, Projection, sameData } from './projection.js';
import { anchorViewOf, issuerViewOf, meshedPodViewOf, stateDataViewOf, trustRootsViewOf } from './projections.js';
import type { CertificateView, ExporterSnapshot, ExporterSource, IssuerView, MeshedPodView, StateDataView, TrustRootsView } from './snapshot.js';
import { PUBLIC_PKI_SOURCES, publicPkiInputOf, publicPkiSecretName, type PublicPkiInput, type PublicPkiSource } from './public-pki.js';
import type { CacheOptions } from './trust-cache.js';

export interface ExporterCacheOptions extends CacheOptions {
  readonly names: ObjectNames;
  /** Label selector of the pods to watch; meshed pods carry `linkerd.io/control-plane-ns`. "" watches every pod. */
  readonly meshedPodSelector?: string;
  /** Watch pods at all (stale-proxy metrics); false drops the cluster-wide pod watch. */
  readonly watchPods?: boolean;
}

/** The four Secrets whose certificates the exporter reads (never their keys) and publishes for the webhook. */
function anchorAndIssuerFeeds(core: CoreV1Api, names: ObjectNames): Record<PublicPkiSource, Feed<V1Secret>> {
  return Object.fromEntries(PUBLIC_PKI_SOURCES.map((source) => [source, namedSecretFeed(core, publicPkiSecretName(names, source))])) as Record<PublicPkiSource, Feed<V1Secret>>;
}

/** Pods share a handful of anchor envs: each distinct text is parsed once. */
const podAnchorCertificates = new BundleCache(64);

// NUL sorts before any character of a name, so views sort by namespace, then name.
const order = (view: { namespace: string; name?: string }) => `${view.namespace}\u0000${view.name ?? ''}`;
const sorted = <V extends { namespace: string; name?: string }>(views: V[]) => views.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));

/**
 * Field-selected lists and watches of the four Secrets (certificates only) and of the state
 * ConfigMap, the trust-roots ConfigMap in all namespaces (by name, so the ClusterRole can name it)
 * and meshed pods in all namespaces (by label). A snapshot is rebuilt only after a change, and the
 * previous one is kept when no view changed (a pod update that leaves its trust facts alone).
 */
export class ExporterCache extends Projection<ExporterSnapshot> implements ExporterSource {
  private readonly secrets: {
    preparedAnchor: Projected<V1Secret, CertificateView>;
    activeAnchor: Projected<V1Secret, CertificateView>;
    previousAnchor: Projected<V1Secret, CertificateView>;
    issuer: Projected<V1Secret, IssuerView>;
  };
  private readonly trustRoots: Projected<V1ConfigMap, TrustRootsView>;
  private readonly state: Projected<V1ConfigMap, StateDataView>;
  private readonly pods: Projected<V1Pod, MeshedPodView> | undefined;
  /** The public PKI view this exporter publishes (compared before each write; certificates only). */
  private readonly publicPki: Collection<V1ConfigMap>;
  /** PEM by fingerprint of every anchor a pod's literal env holds; pruned to those running pods trust. */
  private readonly podAnchors: Map<string, string>;

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: ExporterCacheOptions,
  ) {
    const { names, meshedPodSelector, watchPods, ...runtime } = options;
    const core = reuseConnections(kubeConfig).makeApiClient(CoreV1Api);
    const feeds = anchorAndIssuerFeeds(core, names);
    const certificate = (feed: (typeof feeds)['issuer']) => new Projected<V1Secret, CertificateView>(kubeConfig, { ...feed, ...runtime, project: anchorViewOf });
    const secrets = {
      preparedAnchor: certificate(feeds.preparedAnchor),
      activeAnchor: certificate(feeds.activeAnchor),
      previousAnchor: certificate(feeds.previousAnchor),
      issuer: new Projected<V1Secret, IssuerView>(kubeConfig, { ...feeds.issuer, ...runtime, project: issuerViewOf }),
    };
    const trustRoots = new Projected<V1ConfigMap, TrustRootsView>(kubeConfig, {
      ...configMapsEverywhereFeed(core, names.trustRootsConfigMap),
      ...runtime,
      project: (c) => (c.metadata?.name === names.trustRootsConfigMap ? trustRootsViewOf(c, names.trustRootsKey) : undefined),
    });
    const state = new Projected<V1ConfigMap, StateDataView>(kubeConfig, {
      ...namedConfigMapFeed(core, { namespace: names.releaseNamespace, name: names.stateConfigMap }),
      ...runtime,
      project: (c) => (c.metadata?.name === names.stateConfigMap ? stateDataViewOf(c) : undefined),
    });
    const selector = meshedPodSelector ?? MESHED_POD_LABEL;
    const podAnchors = new Map<string, string>();
    const anchorsOf = (pem: string) =>
      podAnchorCertificates.parse(pem).certificates.map((cert) => {
        podAnchors.set(cert.fingerprint, toPem(cert));
        return cert.fingerprint;
      });
    const pods = (watchPods ?? true) ? new Projected<V1Pod, MeshedPodView>(kubeConfig, { ...podsFeed(core, selector === '' ? undefined : selector), ...runtime, project: (pod) => meshedPodViewOf(pod, { anchorsOf }) }) : undefined;
    const publicPki = new Collection<V1ConfigMap>(kubeConfig, { ...namedConfigMapFeed(core, { namespace: names.releaseNamespace, name: names.publicPkiConfigMap }), ...runtime });
    super([...[...Object.values(secrets), trustRoots, state].map((p) => erase(p.collection)), erase(publicPki), ...(pods ? [erase(pods.collection)] : [])]);
    this.publicPki = publicPki;
    this.secrets = secrets;
    this.trustRoots = trustRoots;
    this.state = state;
    this.pods = pods;
    this.podAnchors = podAnchors;
  }

  /** What the public PKI view should hold now: each Secret's certificates and its uid/resourceVersion (kept by the skeleton). */
  publicPkiInput(): PublicPkiInput {
    const { names } = this.options;
    return publicPkiInputOf(names, {
      get: (source) => {
        const { namespace, name } = publicPkiSecretName(names, source);
        return this.secrets[source].collection.get(namespace, name);
      },
      view: (source) => {
        const { namespace, name } = publicPkiSecretName(names, source);
        return this.secrets[source].get(namespace, name);
      },
    });
  }

  /** The public PKI ConfigMap as last observed; undefined when it does not exist. */
  publishedPublicPki(): V1ConfigMap | undefined {
    return this.publicPki.get(this.options.names.releaseNamespace, this.options.names.publicPkiConfigMap);
  }

  protected project(previous: ExporterSnapshot | undefined): ExporterSnapshot {
    const { names } = this.options;
    const state = this.state.get(names.releaseNamespace, names.stateConfigMap);
    const pods = this.pods ? sorted(this.pods.list()) : [];
    const trusted = new Set(pods.flatMap((pod) => pod.trustedAnchors ?? []));
    for (const fingerprint of this.podAnchors.keys()) if (!trusted.has(fingerprint)) this.podAnchors.delete(fingerprint);
    const views: ExporterSnapshot = {
      preparedAnchor: this.secrets.preparedAnchor.get(names.trustNamespace, names.preparedAnchorSecret),
      activeAnchor: this.secrets.activeAnchor.get(names.trustNamespace, names.activeAnchorSecret),
      previousAnchor: this.secrets.previousAnchor.get(names.trustNamespace, names.previousAnchorSecret),
      issuer: this.secrets.issuer.get(names.linkerdNamespace, names.issuerSecret),
      trustRoots: sorted(this.trustRoots.list()),
      pods,
      podsWatched: this.pods !== undefined,
      state,
      podAnchors: [...this.podAnchors.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, pem]) => pem),
    };
    const next = Object.fromEntries(Object.entries(views).filter(([, view]) => view !== undefined)) as unknown as ExporterSnapshot;
    const keys = new Set([...Object.keys(next), ...Object.keys(previous ?? {})]) as Set<keyof ExporterSnapshot>;
    // Hand out the same snapshot while nothing in it changed: consumers compute their views once per snapshot.
    if (previous && [...keys].every((key) => sameData(previous[key], next[key]))) return previous;
    return next;
  }
}
