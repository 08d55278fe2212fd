// Entry point of the PKI health exporter: parse configuration once, start the cache against the
// cluster, publish the public PKI view (its one write) and serve /metrics, /healthz and /readyz.
import { pino } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { loadKubeConfig } from '@linkerd-rotator/kube';
import { ExporterCache, PublicPkiPublisher } from '@linkerd-rotator/kube/caches';
import { ConfigError, flagHelp, parseConfig, type ExporterConfig } from './config.js';
import { registerExporterMetrics } from './metrics.js';
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
  registerExporterMetrics(registry, {
    source: cache,
    names: config.names,
    onError: (err) => logger.error({ err }, 'computing the PKI metrics failed'),
  });
  const server = await startMetricsServer({ registry, isReady: () => cache.isSynced(), listen: config.metricsListen });
  logger.info({ metricsPort: server.port, watchPods: config.pods.watch }, 'exporter listening');
  void cache.waitForSync(5 * 60_000).then((ok) =>
    ok ? logger.info('exporter caches synced; ready') : logger.warn('exporter caches still not synced after 5 minutes; check RBAC for the Secrets, the trust-roots ConfigMaps and pods'),
  );

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    await server.close();
    await publisher.stop();
    await cache.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`exporter failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
