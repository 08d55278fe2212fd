// Every list+watch the rotation runner keeps: pods and their owners cluster-wide, the named PKI
// objects (field-selected, as the chart's resourceNames require), identity events, namespaces and
// budgets. Started once; snapshots read from memory, so API requests grow with changes, not polls.
import {
  PolicyV1Api,
  type CoreV1Event,
  type KubernetesListObject,
  type KubernetesObject,
  type V1ConfigMap,
  type V1DaemonSet,
  type V1Deployment,
  type V1Namespace,
  type V1Pod,
  type V1PodDisruptionBudget,
  type V1ReplicaSet,
  type V1Secret,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import type { WatchSource } from '@linkerd-rotator/rotation';
import { Collection, erase, waitUntil, type AnyCollection, type Feed } from '../collection.js';
import { classify, KubeApiError } from '../errors.js';
import { byName, configMapsEverywhereFeed, namedConfigMapFeed, namedSecretFeed, podsFeed } from '../feeds.js';
import { ARGO_ROLLOUTS, CERT_MANAGER, CERTIFICATE_REQUESTS, CLUSTER_ISSUERS, TRUST_MANAGER_BUNDLES, type AdapterContext } from './context.js';
import { slimBundle, type BundleKind, type BundleObject } from './bundle-targets.js';
import { slimNamespace, slimPod, slimReplicaSet } from './pod-facts.js';
import { slimCertificateRequest, slimClusterIssuer, slimEvent, slimMeta, type CertificateObject, type CertificateRequestObject, type ClusterIssuerObject } from './pki-facts.js';
import { slimWorkload, type RolloutObject } from './workload-facts.js';


export class ClusterCache {
  readonly pods: Collection<V1Pod>;
  readonly replicaSets: Collection<V1ReplicaSet>;
  readonly deployments: Collection<V1Deployment>;
  readonly statefulSets: Collection<V1StatefulSet>;
  readonly daemonSets: Collection<V1DaemonSet>;
  /** Undefined when the cluster serves no argoproj.io Rollouts (or the chart grants none). */
  rollouts: Collection<RolloutObject> | undefined;
  readonly namespaces: Collection<V1Namespace>;
  readonly budgets: Collection<V1PodDisruptionBudget>;
  readonly trustRoots: Collection<V1ConfigMap>;
  readonly preparedSecret: Collection<V1Secret>;
  readonly activeSecret: Collection<V1Secret>;
  readonly previousSecret: Collection<V1Secret>;
  /**
   * The CertificateRequests of the Linkerd namespace (slimmed to owner, revision, Ready and
   * status.certificate): the issuer's chain is read from the one of the issuer Certificate's current
   * revision, so the runner needs no access to the issuer Secret, which holds its key.
   */
  readonly issuerRequests: Collection<CertificateRequestObject>;
  /**
   * UIDs of issuer CertificateRequests this process deleted (`recover`): the watch may show one for a
   * moment after the delete, and a new request of the same revision has the same name.
   */
  readonly discardedIssuerRequests = new Set<string>();
  /** The public PKI view the exporter publishes and the webhook judges by (certificates only). */
  readonly publicPki: Collection<V1ConfigMap>;
  readonly preparedCertificate: Collection<CertificateObject>;
  readonly issuerCertificate: Collection<CertificateObject>;
  readonly identityEvents: Collection<CoreV1Event>;
  /**
   * The trust-manager Bundle or ClusterBundle named like the trust-roots ConfigMap, whichever the
   * cluster serves and the runner may read (its target selector says which ConfigMaps count);
   * undefined when neither can be listed.
   */
  bundle: Collection<BundleObject> | undefined;
  bundleKind: BundleKind | undefined;
  /** The identity ClusterIssuer (by name); undefined when cert-manager's ClusterIssuers cannot be listed. */
  clusterIssuer: Collection<ClusterIssuerObject> | undefined;
  private started = false;

  constructor(private readonly ctx: AdapterContext) {
    const { core, apps, custom, names: n } = ctx;
    const policy = ctx.kubeConfig.makeApiClient(PolicyV1Api);
    const make = <T extends KubernetesObject>(feed: Feed<T>) => new Collection<T>(ctx.kubeConfig, { ...feed, logger: ctx.logger, health: ctx });
    const namedSecret = (namespace: string, name: string) => make<V1Secret>(namedSecretFeed(core, { namespace, name }));
    const namedCertificate = (namespace: string, name: string) =>
      make<CertificateObject>({
        name: `Certificate ${namespace}/${name}`,
        path: `/apis/${CERT_MANAGER.group}/${CERT_MANAGER.version}/namespaces/${namespace}/${CERT_MANAGER.plural}`,
        fieldSelector: byName(name),
        operation: { verb: 'list', resource: 'certificates.cert-manager.io', namespace, name },
        list: () => custom.listNamespacedCustomObject({ ...CERT_MANAGER, namespace, fieldSelector: byName(name) }) as Promise<KubernetesListObject<CertificateObject>>,
        slim: slimMeta,
      });

    this.pods = make<V1Pod>({ ...podsFeed(core), slim: slimPod });
    this.replicaSets = make<V1ReplicaSet>({
      name: 'replicasets',
      path: '/apis/apps/v1/replicasets',
      operation: { verb: 'list', resource: 'replicasets.apps' },
      list: (page) => apps.listReplicaSetForAllNamespaces(page),
      slim: slimReplicaSet,
    });
    this.deployments = make<V1Deployment>({
      name: 'deployments',
      path: '/apis/apps/v1/deployments',
      operation: { verb: 'list', resource: 'deployments.apps' },
      list: (page) => apps.listDeploymentForAllNamespaces(page),
      slim: slimWorkload,
    });
    this.statefulSets = make<V1StatefulSet>({
      name: 'statefulsets',
      path: '/apis/apps/v1/statefulsets',
      operation: { verb: 'list', resource: 'statefulsets.apps' },
      list: (page) => apps.listStatefulSetForAllNamespaces(page),
      slim: slimWorkload,
    });
    this.daemonSets = make<V1DaemonSet>({
      name: 'daemonsets',
      path: '/apis/apps/v1/daemonsets',
      operation: { verb: 'list', resource: 'daemonsets.apps' },
      list: (page) => apps.listDaemonSetForAllNamespaces(page),
      slim: slimWorkload,
    });
    this.namespaces = make<V1Namespace>({ name: 'namespaces', path: '/api/v1/namespaces', operation: { verb: 'list', resource: 'namespaces' }, list: (page) => core.listNamespace(page), slim: slimNamespace });
    this.budgets = make<V1PodDisruptionBudget>({
      name: 'poddisruptionbudgets',
      path: '/apis/policy/v1/poddisruptionbudgets',
      operation: { verb: 'list', resource: 'poddisruptionbudgets.policy' },
      list: (page) => policy.listPodDisruptionBudgetForAllNamespaces(page),
      slim: slimMeta,
    });
    this.trustRoots = make<V1ConfigMap>({ ...configMapsEverywhereFeed(core, n.trustRootsConfigMap), slim: slimMeta });
    this.preparedSecret = namedSecret(n.trustNamespace, n.preparedAnchorSecret);
    this.activeSecret = namedSecret(n.trustNamespace, n.activeAnchorSecret);
    this.previousSecret = namedSecret(n.trustNamespace, n.previousAnchorSecret);
    this.issuerRequests = make<CertificateRequestObject>({
      name: `CertificateRequests in ${n.linkerdNamespace}`,
      path: `/apis/${CERTIFICATE_REQUESTS.group}/${CERTIFICATE_REQUESTS.version}/namespaces/${n.linkerdNamespace}/${CERTIFICATE_REQUESTS.plural}`,
      operation: { verb: 'list', resource: `${CERTIFICATE_REQUESTS.plural}.${CERTIFICATE_REQUESTS.group}`, namespace: n.linkerdNamespace },
      list: (page) => custom.listNamespacedCustomObject({ ...CERTIFICATE_REQUESTS, namespace: n.linkerdNamespace, ...page }) as Promise<KubernetesListObject<CertificateRequestObject>>,
      slim: slimCertificateRequest,
    });
    this.publicPki = make<V1ConfigMap>(namedConfigMapFeed(core, { namespace: n.releaseNamespace, name: n.publicPkiConfigMap }));
    this.preparedCertificate = namedCertificate(n.trustNamespace, n.preparedAnchorCertificate);
    this.issuerCertificate = namedCertificate(n.linkerdNamespace, n.issuerCertificate);
    const eventSelector = `involvedObject.name=${n.identityDeployment}`;
    this.identityEvents = make<CoreV1Event>({
      name: `Events of ${n.linkerdNamespace}/${n.identityDeployment}`,
      path: `/api/v1/namespaces/${n.linkerdNamespace}/events`,
      fieldSelector: eventSelector,
      operation: { verb: 'list', resource: 'events', namespace: n.linkerdNamespace },
      list: () => core.listNamespacedEvent({ namespace: n.linkerdNamespace, fieldSelector: eventSelector }),
      slim: slimEvent,
    });
  }

  all(): AnyCollection[] {
    return [
      erase(this.pods),
      erase(this.replicaSets),
      erase(this.deployments),
      erase(this.statefulSets),
      erase(this.daemonSets),
      ...(this.rollouts ? [erase(this.rollouts)] : []),
      erase(this.namespaces),
      erase(this.budgets),
      ...this.forSource('bundles'),
      ...this.forSource('anchor-secrets'),
      ...this.forSource('public-view'),
      ...this.forSource('issuer'),
      erase(this.preparedCertificate),
      ...this.forSource('identity-events'),
      ...(this.bundle ? [erase(this.bundle)] : []),
      ...(this.clusterIssuer ? [erase(this.clusterIssuer)] : []),
    ];
  }

  /** The collections whose changes can open a gate watching `source`. */
  forSource(source: WatchSource): AnyCollection[] {
    switch (source) {
      case 'prepared-anchor':
        return [erase(this.preparedSecret), erase(this.preparedCertificate)];
      case 'anchor-secrets':
        return [erase(this.preparedSecret), erase(this.activeSecret), erase(this.previousSecret)];
      case 'public-view':
        return [erase(this.publicPki)];
      case 'bundles':
      case 'injector':
        // Which ConfigMaps count follows the Bundle's selector and the namespaces' labels.
        return [erase(this.trustRoots), erase(this.namespaces), ...(this.bundle ? [erase(this.bundle)] : [])];
      case 'pods':
        return [erase(this.pods), erase(this.namespaces)];
      case 'workloads':
        return [erase(this.deployments), erase(this.statefulSets), erase(this.daemonSets), ...(this.rollouts ? [erase(this.rollouts)] : []), erase(this.replicaSets)];
      case 'issuer':
        return [erase(this.issuerRequests), erase(this.issuerCertificate), ...(this.clusterIssuer ? [erase(this.clusterIssuer)] : [])];
      case 'identity-events':
        return [erase(this.identityEvents)];
      case 'clock':
        return [];
    }
  }

  /** Starts every list+watch (Rollouts only when the cluster serves them and RBAC allows). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.detectRollouts();
    await this.detectBundle();
    await this.detectClusterIssuer();
    for (const c of this.all()) c.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.all().map((c) => c.stop()));
  }

  /**
   * Resolves once every collection has listed since its last failure. Throws at once on a permission
   * error (it will not heal by waiting) and, at `deadline`, with the last failure of those not synced.
   */
  async synced(deadline: number): Promise<void> {
    const check = (): 'ok' | 'wait' | KubeApiError => {
      const pending = this.all().filter((c) => !c.synced);
      if (pending.length === 0) return 'ok';
      const forbidden = pending.map((c) => c.error).find((e) => (e?.kind === 'forbidden' && !this.ctx.transientForbidden(e)) || e?.kind === 'unauthorized');
      if (forbidden) return forbidden;
      if (this.ctx.now() >= deadline) {
        const failure = pending.map((c) => c.error).find((e) => e !== undefined);
        return new KubeApiError(
          'unreachable',
          failure?.code,
          failure?.operation ?? { verb: 'list', resource: pending[0]?.options.name ?? 'objects' },
          failure
            ? `${failure.message}; the runner kept retrying until its deadline and stopped in a safe state: run again once the API server is reachable`
            : `expected to list ${pending.map((c) => c.options.name).join(', ')} before the deadline, found them not listed yet; check the API server's health and run again`,
        );
      }
      return 'wait';
    };
    // Woken by the collections' changes (a list, a failure), and once more at the deadline.
    let result = check();
    while (result === 'wait') {
      await waitUntil(this.all(), () => check() !== 'wait', Math.max(0, deadline - this.ctx.now()) + 5);
      result = check();
    }
    if (result instanceof KubeApiError) throw result;
  }

  /**
   * A cluster-scoped custom resource by name, when the cluster serves it and the runner may list it;
   * else the reason (not served, forbidden), like Rollouts. `exists` says whether the named object is there.
   */
  private async namedClusterObject<T extends KubernetesObject>(
    crd: { readonly group: string; readonly version: string; readonly plural: string },
    name: string,
    slim: (obj: T) => void,
  ): Promise<{ collection: Collection<T>; exists: boolean } | { unreadable: string }> {
    const { custom } = this.ctx;
    const resource = `${crd.plural}.${crd.group}`;
    const op = { verb: 'list', resource, name };
    const list = () => custom.listClusterCustomObject({ group: crd.group, version: crd.version, plural: crd.plural, fieldSelector: byName(name) }) as Promise<KubernetesListObject<T>>;
    let found: KubernetesListObject<T>;
    try {
      found = await this.ctx.call(op, list);
    } catch (err) {
      const error = classify(err, op);
      if (error.kind === 'not-found' || error.kind === 'forbidden') return { unreadable: `${resource}: ${error.kind}` };
      throw error;
    }
    const collection = new Collection<T>(this.ctx.kubeConfig, {
      name: `${resource} ${name}`,
      path: `/apis/${crd.group}/${crd.version}/${crd.plural}`,
      fieldSelector: byName(name),
      operation: op,
      list,
      slim,
      logger: this.ctx.logger,
      health: this.ctx,
    });
    return { collection, exists: (found.items ?? []).length > 0 };
  }

  /** The Bundle, else the ClusterBundle, of the trust-roots name (the one that exists when both are served). */
  private async detectBundle(): Promise<void> {
    const name = this.ctx.names.trustRootsConfigMap;
    let fallback: { kind: BundleKind; collection: Collection<BundleObject> } | undefined;
    const unreadable: string[] = [];
    for (const crd of TRUST_MANAGER_BUNDLES) {
      const found = await this.namedClusterObject<BundleObject>(crd, name, slimBundle);
      if ('unreadable' in found) {
        unreadable.push(found.unreadable);
        continue;
      }
      if (found.exists) {
        this.bundle = found.collection;
        this.bundleKind = crd.kind;
        return;
      }
      fallback ??= { kind: crd.kind, collection: found.collection };
    }
    if (fallback) {
      this.bundle = fallback.collection;
      this.bundleKind = fallback.kind;
      return;
    }
    this.ctx.logger.warn(
      { bundle: name, unreadable },
      `neither Bundle nor ClusterBundle ${name} can be listed: only ConfigMap ${this.ctx.names.linkerdNamespace}/${name} counts as the trust bundle (grant the runner get/list/watch on the chart's bundle kind)`,
    );
  }

  private async detectClusterIssuer(): Promise<void> {
    const name = this.ctx.names.identityClusterIssuer;
    const found = await this.namedClusterObject<ClusterIssuerObject>(CLUSTER_ISSUERS, name, slimClusterIssuer);
    if ('unreadable' in found) {
      this.ctx.logger.warn({ clusterIssuer: name, unreadable: found.unreadable }, `ClusterIssuer ${name} cannot be listed: the runner cannot check that it signs with the active anchor Secret`);
      return;
    }
    this.clusterIssuer = found.collection;
  }

  private async detectRollouts(): Promise<void> {
    const { custom, logger } = this.ctx;
    const op = { verb: 'list', resource: 'rollouts.argoproj.io' };
    try {
      await this.ctx.call(op, () => custom.listClusterCustomObject({ ...ARGO_ROLLOUTS, limit: 1 }));
    } catch (err) {
      const error = classify(err, op);
      if (error.kind === 'not-found') {
        logger.debug({}, 'argoproj.io Rollouts are not served: Rollouts are not watched');
        return;
      }
      if (error.kind === 'forbidden') {
        logger.warn({ error: error.message }, 'Rollouts are served but the runner may not list them (chart value rbac.argoRollouts): meshed Rollouts will be reported, not restarted');
        return;
      }
      throw error;
    }
    this.rollouts = new Collection<RolloutObject>(this.ctx.kubeConfig, {
      name: 'rollouts',
      path: `/apis/${ARGO_ROLLOUTS.group}/${ARGO_ROLLOUTS.version}/${ARGO_ROLLOUTS.plural}`,
      operation: { verb: 'list', resource: 'rollouts.argoproj.io' },
      list: (page) => custom.listClusterCustomObject({ ...ARGO_ROLLOUTS, ...page }) as Promise<KubernetesListObject<RolloutObject>>,
      slim: slimWorkload,
      logger: this.ctx.logger,
      health: this.ctx,
    });
  }
}
