// The admission webhook's trust cache: one list+watch per object admission reads (field-selected by
// name, so RBAC can be scoped with resourceNames; no Secret), projected into the TrustSnapshot.
import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Secret } from '@kubernetes/client-node';
import type { ObjectNames } from '@linkerd-rotator/names';
import { Collection, erase, type CollectionOptions } from '../collection.js';
import { reuseConnections } from '../connections.js';
import { namedConfigMapFeed } from '../feeds.js';
import { Projection } from './projection.js';
import { bundleViewOf, rotationStateViewOf } from './projections.js';
import { decodePublicPki } from './public-pki.js';
import type { TrustSnapshot, TrustSnapshotSource } from './snapshot.js';

/** How the caches' collections log and retry (the feeds themselves are fixed). */
export type CacheOptions = Pick<CollectionOptions<V1Secret>, 'logger' | 'relistDelayMs'>;

/**
 * The webhook's cache: the public PKI view (the anchors' and issuer's certificates, which the
 * exporter publishes; the webhook holds no token that can read a Secret), the trust-roots ConfigMap
 * and the rotation state, each listed and watched by name.
 */
export class TrustCache extends Projection<TrustSnapshot> implements TrustSnapshotSource {
  private readonly publicPki: Collection<V1ConfigMap>;
  private readonly trustRoots: Collection<V1ConfigMap>;
  private readonly state: Collection<V1ConfigMap>;

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: CacheOptions & { readonly names: ObjectNames },
  ) {
    const { names, ...runtime } = options;
    const core = reuseConnections(kubeConfig).makeApiClient(CoreV1Api);
    const configMap = (namespace: string, name: string) => new Collection<V1ConfigMap>(kubeConfig, { ...namedConfigMapFeed(core, { namespace, name }), ...runtime });
    const publicPki = configMap(names.releaseNamespace, names.publicPkiConfigMap);
    const trustRoots = configMap(names.linkerdNamespace, names.trustRootsConfigMap);
    const state = configMap(names.releaseNamespace, names.stateConfigMap);
    super([erase(publicPki), erase(trustRoots), erase(state)]);
    this.publicPki = publicPki;
    this.trustRoots = trustRoots;
    this.state = state;
  }

  protected project(): TrustSnapshot {
    const { names } = this.options;
    const trustRoots = this.trustRoots.get(names.linkerdNamespace, names.trustRootsConfigMap);
    const state = this.state.get(names.releaseNamespace, names.stateConfigMap);
    const views: TrustSnapshot = {
      ...publicPkiViewsOf(this.publicPki.get(names.releaseNamespace, names.publicPkiConfigMap), names),
      trustRoots: trustRoots && bundleViewOf(trustRoots, names.trustRootsKey),
      rotation: state && rotationStateViewOf(state),
    };
    // Absent objects are absent keys, not keys holding undefined.
    return Object.fromEntries(Object.entries(views).filter(([, view]) => view !== undefined)) as TrustSnapshot;
  }
}

/**
 * The anchor and issuer views of the snapshot from the public PKI ConfigMap, as the Secrets
 * themselves projected to (an absent Secret is an absent view). While the ConfigMap is missing or
 * unreadable nothing about the anchors is known: `pkiUnknown` says why and what to do.
 */
export function publicPkiViewsOf(configMap: V1ConfigMap | undefined, names: ObjectNames): Pick<TrustSnapshot, 'preparedAnchor' | 'activeAnchor' | 'previousAnchor' | 'issuer' | 'pkiUnknown'> {
  const what = `ConfigMap ${names.releaseNamespace}/${names.publicPkiConfigMap}`;
  if (configMap === undefined) {
    return {
      pkiUnknown: `the public PKI view ${what} does not exist, so the anchors and the identity issuer are not known to linkerd-rotator's webhook; it is written by linkerd-rotator's exporter (the chart's exporter Deployment, exporter.enabled): check that the exporter runs and may write it (its log says why not)`,
    };
  }
  const decoded = decodePublicPki(configMap);
  if (!decoded.ok) return { pkiUnknown: `the public PKI view cannot be read (${decoded.problem})` };
  const { preparedAnchor, activeAnchor, previousAnchor, issuer } = decoded.pki;
  return { preparedAnchor, activeAnchor, previousAnchor, issuer };
}
