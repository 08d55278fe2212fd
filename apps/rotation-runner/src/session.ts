// One command's connection to the cluster: the kubeconfig (file or in-cluster ServiceAccount), the
// rotation adapter over it, and the mapping of API failures at start to exit code 4 with the message.
import { KubeApiError, loadKubeConfig, type KubeConfig } from '@linkerd-rotator/kube';
import { createRotationAdapter, type RotationAdapter } from '@linkerd-rotator/kube/rotation';
import type { Logger } from 'pino';
import type { CommandIO } from './cli.js';
import type { ClusterConfig } from './config.js';
import { EXIT, UsageError } from './exit.js';
import { adapterLogger, makeLogger } from './logging.js';

export interface Session {
  readonly config: ClusterConfig;
  readonly logger: Logger;
  readonly adapter: RotationAdapter;
  readonly started: number;
}

/** The command's kubeconfig, on its context when given; a missing or clusterless one, or an unknown context, is a usage error (exit 2). */
export function kubeConfigOf(config: Pick<ClusterConfig, 'kubeconfig' | 'context'>): KubeConfig {
  try {
    return loadKubeConfig(config.kubeconfig, config.context);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export interface SessionOptions {
  /** The command's name, on every log record. */
  readonly command: string;
  readonly config: ClusterConfig;
  readonly io: CommandIO;
  /** The phase timeout: how long a restart may wait for a PodDisruptionBudget. */
  readonly budgetTimeoutMs?: number;
  /**
   * Whether a 403 on the proxy-injector's dry-run fails a snapshot (default true). False for
   * commands that never restart a pod (`bootstrap`, `plan`, `status`): the answer only informs them.
   */
  readonly strictInjector?: boolean;
  readonly isTTY?: boolean;
}

/**
 * Runs `body` with a session; the adapter's watches are stopped afterwards. A KubeApiError that
 * escapes (a 403 or an unreachable API before the engine started) is logged and becomes exit 4.
 */
export async function withSession(options: SessionOptions, body: (session: Session) => Promise<number>): Promise<number> {
  const { config } = options;
  const logger = makeLogger(config, { io: options.io, command: options.command, isTTY: options.isTTY ?? process.stderr.isTTY === true });
  const adapter = createRotationAdapter(kubeConfigOf(config), {
    names: config.names,
    stateNamespace: config.names.releaseNamespace,
    instance: config.holder,
    apiTimeoutMs: config.apiTimeoutMs,
    budgetTimeoutMs: options.budgetTimeoutMs ?? 30 * 60_000,
    strictInjector: options.strictInjector ?? true,
    ...(config.injectorNamespace ? { injectorNamespace: config.injectorNamespace } : {}),
    logger: adapterLogger(logger),
  });
  try {
    return await body({ config, logger, adapter, started: Date.now() });
  } catch (err) {
    if (err instanceof KubeApiError) {
      logger.error({ kind: err.kind, code: err.code }, err.message);
      return EXIT.cluster;
    }
    throw err;
  } finally {
    await adapter.stop();
  }
}

/** Starts the watches and waits for their first lists (bounded by the API timeout). */
export async function startWatching(session: Session): Promise<void> {
  const { adapter, config } = session;
  await adapter.start();
  await adapter.cache.synced(adapter.context.now() + config.apiTimeoutMs);
}

/** One context's read: what `read` returned, or the API error that kept it from answering. */
export type ContextRead<T> = { readonly context: string; readonly value: T } | { readonly context: string; readonly error: string };

/**
 * Reads every context at once, each in its own session (`check --fleet`, `fleet plan`, `fleet
 * status`); a cluster whose API refuses or does not answer is an error with the message (logged on
 * that context's logger), and the others are still read.
 */
export function readContexts<T>(contexts: readonly string[], options: Omit<SessionOptions, 'config'> & { readonly config: ClusterConfig }, read: (session: Session) => Promise<T>): Promise<ContextRead<T>[]> {
  return Promise.all(
    contexts.map(async (context): Promise<ContextRead<T>> => {
      let result: ContextRead<T> | undefined;
      const code = await withSession({ ...options, config: { ...options.config, context } }, async (session) => {
        try {
          result = { context, value: await read(session) };
          return EXIT.ok;
        } catch (err) {
          if (err instanceof KubeApiError) result = { context, error: err.message };
          throw err;
        }
      });
      return result ?? { context, error: `the read ended with exit code ${code}` };
    }),
  );
}
