// What every piece of the rotation adapter shares: API clients, object names, the clock, the logger
// and `call`, which runs one API request with retry-and-backoff bounded by the API timeout.
import { AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { withRetry, type KubeOperation } from './errors.js';
import type { RotatorObjectNames } from './names.js';

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
  readonly names: RotatorObjectNames;
  readonly now: () => number;
  /** How long one call keeps retrying an unreachable API server before the run stops safely. */
  readonly apiTimeoutMs: number;
  readonly logger: AdapterLogger;
  call<T>(op: KubeOperation, fn: () => Promise<T>): Promise<T>;
}

export function makeContext(kubeConfig: KubeConfig, names: RotatorObjectNames, options: { apiTimeoutMs: number; logger?: AdapterLogger; now?: () => number }): AdapterContext {
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
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
    call: (op, fn) =>
      withRetry(op, fn, {
        deadline: now() + options.apiTimeoutMs,
        now,
        onRetry: (error, attempt, delayMs) => logger.warn({ operation: `${op.verb} ${op.resource}`, attempt, retryInMs: Math.round(delayMs), error: error.message }, 'API call failed; retrying'),
      }),
  };
}

export const CERT_MANAGER = { group: 'cert-manager.io', version: 'v1', plural: 'certificates' } as const;
export const ARGO_ROLLOUTS = { group: 'argoproj.io', version: 'v1alpha1', plural: 'rollouts' } as const;
