// Entry point of the admission webhook: parse configuration once, start the trust cache against the
// cluster (only the objects admission reads), serve HTTPS admission and plain-HTTP health/metrics
// until SIGTERM. The PKI health exporter is its own process (apps/exporter).
import { pino } from 'pino';
import { loadKubeConfig } from '@linkerd-rotator/kube';
import { TrustCache } from '@linkerd-rotator/kube/caches';
import { ConfigError, flagHelp, parseConfig } from './config.js';
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
  const kubeConfig = loadKubeConfig(config.kubeconfig);

  const cache = new TrustCache(kubeConfig, { names: config.names, logger: logger.child({ component: 'trust-cache' }) });
  cache.start();
  const webhook = await startWebhook({ config, source: cache, logger });
  void cache.waitForSync(5 * 60_000).then((ok) =>
    ok ? logger.info('trust state synced; ready') : logger.warn('trust state still not synced after 5 minutes; check RBAC and API access'),
  );

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    await webhook.close();
    await cache.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`webhook failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
