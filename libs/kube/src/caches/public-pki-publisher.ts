// The exporter's one write: keeps the public PKI ConfigMap equal to what the anchor and issuer
// Secrets hold (certificates only), rewriting it when they change and only then, and logs fingerprints.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import type { ObjectNames } from '@linkerd-rotator/names';
import { parsePem, sha256Hex, shortFingerprint } from '@linkerd-rotator/x509';
import { compareResourceVersions } from '../collection.js';
import { reuseConnections } from '../connections.js';
import { encodePublicPki, type PublicPkiInput } from './public-pki.js';

/** What the publisher reads: a synced cache of the Secrets and of the ConfigMap as last observed. */
export interface PublicPkiSourceCache {
  isSynced(): boolean;
  /** Resolves true once synced, false after `timeoutMs`. */
  waitForSync(timeoutMs: number): Promise<boolean>;
  onChange(listener: () => void): () => void;
  publicPkiInput(): PublicPkiInput;
  publishedPublicPki(): V1ConfigMap | undefined;
}

export interface PublicPkiPublisherLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface PublicPkiPublisherOptions {
  readonly names: ObjectNames;
  readonly cache: PublicPkiSourceCache;
  readonly logger?: PublicPkiPublisherLogger;
  /** Delay before retrying a failed write (doubled up to 8 times this); the next change also retries. */
  readonly retryDelayMs?: number;
}

/** The server-side apply field manager of the exporter's writes. */
export const PUBLIC_PKI_FIELD_MANAGER = 'linkerd-rotator-exporter';

const sameData = (a: Record<string, string> | undefined, b: Record<string, string>) => {
  const keys = Object.keys(b);
  return a !== undefined && Object.keys(a).length === keys.length && keys.every((key) => a[key] === b[key]);
};

/** Short fingerprints of the certificates in each data key: what the log says instead of PEM. */
function fingerprintsOf(data: Record<string, string>): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(data)
      .filter(([key]) => key.endsWith('.crt'))
      .map(([key, pem]) => [key, parsePem(pem).blocks.map((block) => shortFingerprint(sha256Hex(block.der)))]),
  );
}

/**
 * Single writer of the public PKI ConfigMap. After the cache has synced, every change is compared
 * with the ConfigMap as observed; only a difference (or its absence) is written, by server-side
 * apply (which creates it, hence the exporter's `create` on configmaps, narrowed by the admission
 * guard). One write at a time; a change during a write is looked at after it.
 */
export class PublicPkiPublisher {
  private readonly core: CoreV1Api;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;
  private failures = 0;
  /** The ConfigMap as this publisher last wrote it, until the cache has seen that version (or a later one). */
  private written: V1ConfigMap | undefined;

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: PublicPkiPublisherOptions,
  ) {
    this.core = reuseConnections(kubeConfig).makeApiClient(CoreV1Api);
  }

  start(): void {
    this.unsubscribe = this.options.cache.onChange(() => this.schedule());
    // The lists' own events may all arrive before the cache counts as synced: look again once it does.
    void this.whenSynced().then(() => this.schedule());
  }

  private async whenSynced(): Promise<void> {
    while (!this.stopped && !(await this.options.cache.waitForSync(60_000)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.retry) clearTimeout(this.retry);
    await this.running;
  }

  /** Resolves once the current write (if any) and any it scheduled are done; for tests and shutdown. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * The newer of the observed ConfigMap and the one last written: right after a write the watch may
   * not have delivered it yet, and writing the same data again would be a wasted write.
   */
  private latest(observed: V1ConfigMap | undefined): V1ConfigMap | undefined {
    const written = this.written;
    if (written === undefined) return observed;
    const order = compareResourceVersions(observed?.metadata?.resourceVersion, written.metadata?.resourceVersion);
    if (observed !== undefined && order !== undefined && order >= 0) {
      this.written = undefined;
      return observed;
    }
    return written;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.publishOnce().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.schedule();
      }
    });
  }

  private async publishOnce(): Promise<void> {
    const { cache, names, logger } = this.options;
    // Before every list has arrived an absent Secret cannot be told from one not yet listed.
    if (!cache.isSynced()) return;
    const data = encodePublicPki(cache.publicPkiInput());
    const published = this.latest(cache.publishedPublicPki());
    if (sameData(published?.data, data)) return;
    const namespace = names.releaseNamespace;
    const name = names.publicPkiConfigMap;
    const body: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'linkerd-rotator', 'app.kubernetes.io/component': 'exporter' } },
      data,
    };
    try {
      this.written = await this.core.patchNamespacedConfigMap({ name, namespace, body, fieldManager: PUBLIC_PKI_FIELD_MANAGER, force: true }, setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply));
      this.failures = 0;
      logger?.info({ configMap: `${namespace}/${name}`, sources: data['sources.json'] && JSON.parse(data['sources.json']), fingerprints: fingerprintsOf(data) }, published ? 'public PKI view updated' : 'public PKI view created');
    } catch (err) {
      this.failures += 1;
      const delay = (this.options.retryDelayMs ?? 1000) * 2 ** Math.min(this.failures - 1, 3);
      logger?.warn(
        { err: (err as Error).message, configMap: `${namespace}/${name}`, retryInMs: delay },
        `could not write the public PKI view ConfigMap ${namespace}/${name}; the webhook keeps judging by the previous one (or denies trust-roots and issuer writes while none exists): check the exporter's RBAC (configmaps create, and patch on this name)`,
      );
      if (!this.stopped) this.retry = setTimeout(() => this.schedule(), delay);
    }
  }
}
