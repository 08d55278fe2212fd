// The admission webhook's trust cache: one list+watch per guarded object (field-selected by name,
// so RBAC can be scoped with resourceNames), projected into the TrustSnapshot admission reads.
import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Secret } from '@kubernetes/client-node';
import type { ObjectNames } from '@linkerd-rotator/names';
import { Collection, erase, type CollectionOptions } from '../collection.js';
import { reuseConnections } from '../connections.js';
import { namedConfigMapFeed, namedSecretFeed } from '../feeds.js';
import { Projection } from './projection.js';
import { bundleViewOf, anchorViewOf, issuerViewOf, rotationStateViewOf } from './projections.js';
import type { TrustSnapshot, TrustSnapshotSource } from './snapshot.js';

/** How the caches' collections log and retry (the feeds themselves are fixed). */
export type CacheOptions = Pick<CollectionOptions<V1Secret>, 'logger' | 'relistDelayMs'>;

/** The four Secrets whose certificates the webhook and the exporter read (never their keys). */
export function anchorAndIssuerFeeds(core: CoreV1Api, names: ObjectNames) {
  return {
    preparedAnchor: namedSecretFeed(core, { namespace: names.trustNamespace, name: names.preparedAnchorSecret }),
    activeAnchor: namedSecretFeed(core, { namespace: names.trustNamespace, name: names.activeAnchorSecret }),
    previousAnchor: namedSecretFeed(core, { namespace: names.trustNamespace, name: names.previousAnchorSecret }),
    issuer: namedSecretFeed(core, { namespace: names.linkerdNamespace, name: names.issuerSecret }),
  };
}

export class TrustCache extends Projection<TrustSnapshot> implements TrustSnapshotSource {
  private readonly secrets: Record<'preparedAnchor' | 'activeAnchor' | 'previousAnchor' | 'issuer', Collection<V1Secret>>;
  private readonly trustRoots: Collection<V1ConfigMap>;
  private readonly state: Collection<V1ConfigMap>;

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: CacheOptions & { readonly names: ObjectNames },
  ) {
    const { names, ...runtime } = options;
    const core = reuseConnections(kubeConfig).makeApiClient(CoreV1Api);
    const feeds = anchorAndIssuerFeeds(core, names);
    const secret = (feed: (typeof feeds)['issuer']) => new Collection<V1Secret>(kubeConfig, { ...feed, ...runtime });
    const secrets = { preparedAnchor: secret(feeds.preparedAnchor), activeAnchor: secret(feeds.activeAnchor), previousAnchor: secret(feeds.previousAnchor), issuer: secret(feeds.issuer) };
    const trustRoots = new Collection<V1ConfigMap>(kubeConfig, { ...namedConfigMapFeed(core, { namespace: names.linkerdNamespace, name: names.trustRootsConfigMap }), ...runtime });
    const state = new Collection<V1ConfigMap>(kubeConfig, { ...namedConfigMapFeed(core, { namespace: names.releaseNamespace, name: names.stateConfigMap }), ...runtime });
    super([...Object.values(secrets).map(erase), erase(trustRoots), erase(state)]);
    this.secrets = secrets;
    this.trustRoots = trustRoots;
    this.state = state;
  }

  protected project(): TrustSnapshot {
    const { names } = this.options;
    const anchor = (collection: Collection<V1Secret>, name: string) => {
      const secret = collection.get(names.trustNamespace, name);
      return secret && anchorViewOf(secret);
    };
    const issuer = this.secrets.issuer.get(names.linkerdNamespace, names.issuerSecret);
    const trustRoots = this.trustRoots.get(names.linkerdNamespace, names.trustRootsConfigMap);
    const state = this.state.get(names.releaseNamespace, names.stateConfigMap);
    const views: TrustSnapshot = {
      preparedAnchor: anchor(this.secrets.preparedAnchor, names.preparedAnchorSecret),
      activeAnchor: anchor(this.secrets.activeAnchor, names.activeAnchorSecret),
      previousAnchor: anchor(this.secrets.previousAnchor, names.previousAnchorSecret),
      issuer: issuer && issuerViewOf(issuer),
      trustRoots: trustRoots && bundleViewOf(trustRoots, names.trustRootsKey),
      rotation: state && rotationStateViewOf(state),
    };
    // Absent objects are absent keys, not keys holding undefined.
    return Object.fromEntries(Object.entries(views).filter(([, view]) => view !== undefined)) as TrustSnapshot;
  }
}
