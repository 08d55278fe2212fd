// Entry point of the PKI health exporter: parse configuration once, start the cache against the
// cluster, publish the public PKI view (its one write) and serve /metrics, /healthz and /readyz.
import { pino, type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { loadKubeConfig, type KubeConfig } from '@linkerd-rotator/kube';
import { ExporterCache, PublicPkiPublisher, WebhookConfigurationCache } from '@linkerd-rotator/kube/caches';
import { registerCaBundleMetric } from './ca-bundle.js';
import { ConfigError, flagHelp, parseConfig, type ExporterConfig } from './config.js';
import { labelSeriesWithCluster, registerExporterMetrics } from './metrics.js';
import { startMetricsServer } from './server.js';

function configOrExit(): ExporterConfig {
  try {
    return parseConfig(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}

/** linkerd_rotator_ca_bundle_valid, when the chart names its webhook configuration (ca-bundle.ts). */
function startCaBundleCheck(config: ExporterConfig, kubeConfig: KubeConfig, registry: Registry, logger: Logger): WebhookConfigurationCache | undefined {
  if (!config.webhookConfiguration) return undefined;
  const log = logger.child({ component: 'ca-bundle-check', configuration: config.webhookConfiguration });
  const cache = new WebhookConfigurationCache(kubeConfig, { name: config.webhookConfiguration, logger: log });
  cache.start();
  registerCaBundleMetric(registry, { source: cache, logger: log });
  return cache;
}

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    process.stdout.write(`linkerd-rotator exporter: PKI health metrics of Linkerd's trust anchors, issuer, bundles and proxies\n\nFlags:\n${flagHelp()}\n`);
    return;
  }
  const config = configOrExit();
  const logger = pino({ level: config.logLevel, base: { component: 'exporter' } });
  const kubeConfig = loadKubeConfig(config.kubeconfig);

  const cache = new ExporterCache(kubeConfig, { names: config.names, watchPods: config.pods.watch, meshedPodSelector: config.pods.selector, logger: logger.child({ component: 'exporter-cache' }) });
  cache.start();
  // The webhook judges by this view instead of reading the Secrets (docs/webhook.md, "Public PKI view").
  const publisher = new PublicPkiPublisher(kubeConfig, { names: config.names, cache, logger: logger.child({ component: 'public-pki' }) });
  publisher.start();
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  labelSeriesWithCluster(registry, config.clusterName);
  registerExporterMetrics(registry, {
    source: cache,
    names: config.names,
    onError: (err) => logger.error({ err }, 'computing the PKI metrics failed'),
  });
  const webhookConfiguration = startCaBundleCheck(config, kubeConfig, registry, logger);
  const server = await startMetricsServer({ registry, isReady: () => cache.isSynced(), listen: config.metricsListen });
  logger.info({ metricsPort: server.port, watchPods: config.pods.watch, ...(config.clusterName ? { cluster: config.clusterName } : {}) }, 'exporter listening');
  void cache.waitForSync(5 * 60_000).then((ok) =>
    ok ? logger.info('exporter caches synced; ready') : logger.warn('exporter caches still not synced after 5 minutes; check RBAC for the Secrets, the trust-roots ConfigMaps and pods'),
  );

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    await server.close();
    await publisher.stop();
    await cache.stop();
    await webhookConfiguration?.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`exporter failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
