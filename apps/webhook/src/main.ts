// Entry point of the admission webhook + exporter: parse configuration once, start the informer
// cache against the cluster, serve HTTPS admission and plain-HTTP health/metrics until SIGTERM.
import { pino } from 'pino';
import { InformerExporterCache, InformerTrustCache, KubeConfig } from '@linkerd-rotator/kube';
import { ConfigError, flagHelp, parseConfig } from './config.js';
import { registerExporterMetrics } from './exporter-metrics.js';
import { createMetrics } from './metrics.js';
import { startWebhook } from './server.js';

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    process.stdout.write(`linkerd-rotator webhook: validating admission for Linkerd's trust roots\n\nFlags:\n${flagHelp()}\n`);
    return;
  }
  let config;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel, base: { component: 'webhook' } });
  const kubeConfig = new KubeConfig();
  if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
  else kubeConfig.loadFromDefault();

  const cache = new InformerTrustCache(kubeConfig, config.names, { logger: logger.child({ component: 'trust-cache' }) });
  await cache.start();
  // The PKI health exporter: its own watches (all trust-roots ConfigMaps, meshed pods, full state), read at scrape time.
  const exporterCache = new InformerExporterCache(kubeConfig, config.names, {
    watchPods: config.exporter?.watchPods ?? true,
    ...(config.exporter ? { meshedPodSelector: config.exporter.meshedPodSelector } : {}),
    logger: logger.child({ component: 'exporter-cache' }),
  });
  await exporterCache.start();
  const metrics = createMetrics();
  // The serving certificate as served: known once the HTTPS server has loaded it.
  let servingCertPem: () => string | undefined = () => undefined;
  registerExporterMetrics(metrics.registry, {
    trust: cache,
    cluster: exporterCache,
    names: config.names,
    servingCertPem: () => servingCertPem(),
    onError: (err) => logger.error({ err }, 'computing the PKI metrics failed'),
  });
  const webhook = await startWebhook({ config, source: cache, logger, metrics });
  servingCertPem = () => webhook.tls.material.cert.toString('utf8');
  void cache.waitForSync(5 * 60_000).then((ok) =>
    ok ? logger.info('trust state synced; ready') : logger.warn('trust state still not synced after 5 minutes; check RBAC and API access'),
  );
  void exporterCache.waitForSync(5 * 60_000).then((ok) =>
    ok ? logger.info('exporter caches synced') : logger.warn('exporter caches still not synced after 5 minutes; check RBAC for pods and trust-roots ConfigMaps'),
  );

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    await webhook.close();
    await Promise.all([cache.stop(), exporterCache.stop()]);
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`webhook failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
