// What every piece of the rotation adapter shares: API clients, object names, the clock, the logger
// and `call`, which runs one API request with retry-and-backoff bounded by the API timeout.
import { AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { withRetry, type KubeApiError, type KubeOperation } from '../errors.js';
import type { ObjectNames } from '@linkerd-rotator/names';

/** The subset of a pino logger the adapter uses; fields are structured, never key material. */
export interface AdapterLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export const silentLogger: AdapterLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined };

export interface AdapterContext {
  readonly kubeConfig: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly custom: CustomObjectsApi;
  readonly coordination: CoordinationV1Api;
  readonly names: ObjectNames;
  readonly now: () => number;
  /** How long one call keeps retrying an unreachable API server before the run stops safely. */
  readonly apiTimeoutMs: number;
  readonly logger: AdapterLogger;
  /** Runs one request, retrying transient failures until `now + apiTimeoutMs`. */
  call<T>(op: KubeOperation, fn: () => Promise<T>): Promise<T>;
  /** The same, until `deadline`. */
  callUntil<T>(op: KubeOperation, fn: () => Promise<T>, deadline: number): Promise<T>;
  /** Records that the API server did not answer (a watch failed, a call got no answer). */
  sawUnreachable(): void;
  /**
   * True for a 403 shortly after the API server was unreachable: a restarting API server denies
   * requests until its RBAC caches have synced, so such a 403 is retried, not reported.
   */
  transientForbidden(error: KubeApiError): boolean;
}

/** How long after an outage a 403 is taken for a restarting API server's unsynced authorizer. */
export const FORBIDDEN_GRACE_MS = 30_000;

export function makeContext(kubeConfig: KubeConfig, names: ObjectNames, options: { apiTimeoutMs: number; logger?: AdapterLogger; now?: () => number }): AdapterContext {
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  let lastUnreachable = Number.NEGATIVE_INFINITY;
  const sawUnreachable = () => {
    lastUnreachable = now();
  };
  const transientForbidden = (error: KubeApiError) => error.kind === 'forbidden' && now() - lastUnreachable < FORBIDDEN_GRACE_MS;
  const callUntil = <T>(op: KubeOperation, fn: () => Promise<T>, deadline: number) =>
    withRetry(op, fn, {
      deadline,
      now,
      alsoTransient: transientForbidden,
      onUnreachable: sawUnreachable,
      onRetry: (error, attempt, delayMs) => logger.warn({ operation: `${op.verb} ${op.resource}`, attempt, retryInMs: Math.round(delayMs), error: error.message }, 'API call failed; retrying'),
    });
  return {
    kubeConfig,
    core: kubeConfig.makeApiClient(CoreV1Api),
    apps: kubeConfig.makeApiClient(AppsV1Api),
    custom: kubeConfig.makeApiClient(CustomObjectsApi),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
    names,
    now,
    apiTimeoutMs: options.apiTimeoutMs,
    logger,
    call: (op, fn) => callUntil(op, fn, now() + options.apiTimeoutMs),
    callUntil,
    sawUnreachable,
    transientForbidden,
  };
}

/** The field manager of every write, and the `managed-by` of every object the runner creates. */
export const FIELD_MANAGER = 'linkerd-rotator';
export const CERT_MANAGER = { group: 'cert-manager.io', version: 'v1', plural: 'certificates' } as const;
/** The identity issuer's chain comes from its CertificateRequests (status.certificate), not its Secret. */
export const CERTIFICATE_REQUESTS = { group: 'cert-manager.io', version: 'v1', plural: 'certificaterequests' } as const;
export const ARGO_ROLLOUTS = { group: 'argoproj.io', version: 'v1alpha1', plural: 'rollouts' } as const;
export const CLUSTER_ISSUERS = { group: 'cert-manager.io', version: 'v1', plural: 'clusterissuers' } as const;
/** trust-manager's Bundle (deprecated since v0.20, still served) and its successor ClusterBundle: the chart renders one. */
export const TRUST_MANAGER_BUNDLES = [
  { kind: 'Bundle', group: 'trust.cert-manager.io', version: 'v1alpha1', plural: 'bundles' },
  { kind: 'ClusterBundle', group: 'trust-manager.io', version: 'v1alpha2', plural: 'clusterbundles' },
] as const;
