// The Kubernetes adapter of the rotation engine: every port of libs/rotation wired to one set of
// caches and clients. `start()` lists and watches; `stop()` closes the watches so the process can exit.
import type { KubeConfig } from '@kubernetes/client-node';
import type { ObjectNames } from '@linkerd-rotator/names';
import type { FleetClusterPorts, IssuerSigningFacts } from '@linkerd-rotator/rotation';
import { reuseConnections } from '../connections.js';
import { KubeAnchorSecrets, readAnchorSecrets, type AnchorSecretFacts } from './anchors.js';
import { ClusterCache } from './cache.js';
import { CERT_MANAGER, CLUSTER_ISSUERS, makeContext, type AdapterContext, type AdapterLogger } from './context.js';
import { issuerSigningFactsOf, type CertificateObject, type ClusterIssuerObject } from './pki-facts.js';
import { KubeEventRecorder } from './events.js';
import { InjectorProbe } from './injector.js';
import { KubeLease } from './lease.js';
import { KubeClusterReader } from './reader.js';
import { KubeCertificateRenewals } from './renewals.js';
import { countRequests, type RequestStats } from './request-stats.js';
import { KubeWorkloadRestarts } from './restarts.js';
import { KubeStateStore } from './state-store.js';
import { KubeWaiter } from './waiter.js';

export interface RotationAdapterOptions {
  readonly names: ObjectNames;
  /** Where the state ConfigMap and the Lease live (the chart's release namespace). */
  readonly stateNamespace: string;
  /** This run's identity on Events (`reportingInstance`); the Lease holder is the engine's option. */
  readonly instance: string;
  /** How long API calls retry an unreachable API server before the run stops safely. */
  readonly apiTimeoutMs: number;
  /** How long a restart may wait for a PodDisruptionBudget (the phase timeout). */
  readonly budgetTimeoutMs: number;
  /** Dry-run pods only in this namespace (else in meshed namespaces). */
  readonly injectorNamespace?: string;
  /**
   * A 403 on the proxy-injector's dry-run fails the snapshot (default true: a rotation cannot pass its
   * injector gate without it). False for commands that never restart a pod, such as `bootstrap`.
   */
  readonly strictInjector?: boolean;
  readonly logger?: AdapterLogger;
  readonly now?: () => number;
}

export interface RotationAdapter {
  /** The engine's ports, plus the fleet driver's copies of B (`fleet`, the same Secret writer). */
  readonly ports: FleetClusterPorts;
  readonly context: AdapterContext;
  readonly cache: ClusterCache;
  readonly reader: KubeClusterReader;
  readonly lease: KubeLease;
  readonly state: KubeStateStore;
  readonly restarts: KubeWorkloadRestarts;
  readonly waiter: KubeWaiter;
  readonly events: KubeEventRecorder;
  readonly injector: InjectorProbe;
  /** Every API request made through this adapter, by verb and resource. */
  readonly requests: RequestStats;
  /** The three anchor Secrets as facts, each read with a GET (never from a cache); a missing one is undefined. */
  readAnchorSecrets(): Promise<AnchorSecretFacts>;
  /**
   * What signs the identity issuer (the ClusterIssuer's CA Secret, the issuer Certificate's issuerRef),
   * each read with a GET; undefined when either cannot be read (the full path's snapshot then decides).
   */
  readIssuerSigning(): Promise<IssuerSigningFacts | undefined>;
  /** The anchor Secrets' writer (the `anchors` port), with `addAnchorKey` for Secrets older than anchor.crt. */
  readonly anchors: KubeAnchorSecrets;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createRotationAdapter(kubeConfig: KubeConfig, options: RotationAdapterOptions): RotationAdapter {
  const requests = countRequests(reuseConnections(kubeConfig));
  const context = makeContext(kubeConfig, options.names, { apiTimeoutMs: options.apiTimeoutMs, ...(options.logger ? { logger: options.logger } : {}), ...(options.now ? { now: options.now } : {}) });
  const cache = new ClusterCache(context);
  const lease = new KubeLease(context, options.stateNamespace);
  const injector = new InjectorProbe(context, options.injectorNamespace);
  const reader = new KubeClusterReader(context, { cache, probe: injector, strictInjector: options.strictInjector ?? true });
  const state = new KubeStateStore(context, options.stateNamespace);
  const restarts = new KubeWorkloadRestarts(context, { cache, reader, budgetTimeoutMs: options.budgetTimeoutMs });
  const waiter = new KubeWaiter(context, cache, reader);
  const events = new KubeEventRecorder(context, { stateNamespace: options.stateNamespace, instance: options.instance, stateUid: () => state.uid });
  const anchors = new KubeAnchorSecrets(context, { active: cache.activeSecret, previous: cache.previousSecret, prepared: cache.preparedSecret });
  const ports: FleetClusterPorts = {
    cluster: reader,
    anchors,
    fleet: anchors,
    certificates: new KubeCertificateRenewals(context, { prepared: cache.preparedCertificate, issuer: cache.issuerCertificate, issuerRequests: cache.issuerRequests, discardedIssuerRequests: cache.discardedIssuerRequests }),
    workloads: restarts,
    state,
    lease,
    events,
    clock: { now: context.now },
    waiter,
  };
  return {
    ports,
    context,
    cache,
    reader,
    lease,
    state,
    restarts,
    waiter,
    events,
    injector,
    requests,
    readAnchorSecrets: () => readAnchorSecrets(context),
    readIssuerSigning: () => readIssuerSigning(context),
    anchors,
    start: () => cache.start(),
    stop: () => cache.stop(),
  };
}

/** A GET that answers undefined for a missing object; undefined from `readIssuerSigning` on any other failure. */
async function readIssuerSigning(ctx: AdapterContext): Promise<IssuerSigningFacts | undefined> {
  const n = ctx.names;
  const get = async <T>(op: { verb: string; resource: string; namespace?: string; name: string }, fn: () => Promise<unknown>): Promise<T | undefined> => {
    try {
      return (await ctx.call(op, fn)) as T;
    } catch (err) {
      if ((err as { kind?: string }).kind === 'not-found') return undefined;
      throw err;
    }
  };
  try {
    const clusterIssuer = await get<ClusterIssuerObject>({ verb: 'get', resource: 'clusterissuers.cert-manager.io', name: n.identityClusterIssuer }, () =>
      ctx.custom.getClusterCustomObject({ ...CLUSTER_ISSUERS, name: n.identityClusterIssuer }),
    );
    const certificate = await get<CertificateObject>({ verb: 'get', resource: 'certificates.cert-manager.io', namespace: n.linkerdNamespace, name: n.issuerCertificate }, () =>
      ctx.custom.getNamespacedCustomObject({ ...CERT_MANAGER, namespace: n.linkerdNamespace, name: n.issuerCertificate }),
    );
    return issuerSigningFactsOf(clusterIssuer, certificate);
  } catch (err) {
    ctx.logger.debug({ error: (err as Error).message }, 'could not read the identity ClusterIssuer or issuer Certificate: the full path decides');
    return undefined;
  }
}
