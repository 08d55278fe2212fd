// linkerd_rotator_ca_bundle_valid: at scrape time, for each webhook of the chart's configuration, dial
// its endpoint and verify the served chain against its caBundle as the API server will (libs/x509).
import { connect } from 'node:tls';
import { isIP } from 'node:net';
import type { Metric, Registry } from 'prom-client';
import type { WebhookEndpoint, WebhookTarget, WebhookTargetSource } from '@linkerd-rotator/kube/caches';
import { SERVING_FAILURE_REASONS, shortFingerprint, verifyServingCertificate } from '@linkerd-rotator/x509';
import { EXPORTER_METRICS, ViewGauge, type Series } from './metrics.js';

/** The `reason` label: verified, a verification failure, or unreachable (no handshake, or no endpoint to dial). */
export const CA_BUNDLE_REASONS = ['verified', ...SERVING_FAILURE_REASONS, 'unreachable'] as const;
export type CaBundleReason = (typeof CA_BUNDLE_REASONS)[number];

/** Below the API server's own limit per call (webhook.timeoutSeconds, 5 s by default) and the scrape timeout (10 s). */
const HANDSHAKE_TIMEOUT_MS = 5_000;

export interface CaBundleLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface CaBundleDeps {
  source: WebhookTargetSource;
  logger: CaBundleLogger;
  now?: () => Date;
  /** The chain an endpoint serves, DER, leaf first (default: a TLS handshake). */
  servedChain?: (endpoint: WebhookEndpoint) => Promise<Uint8Array[]>;
}

interface Verdict {
  webhook: string;
  reason: CaBundleReason;
  /** What was found, for the log; undefined when verified. */
  problem?: string;
  served?: string;
}

/** The certificates a TLS server sends for `serverName` (SNI unless it is an IP), leaf first; no verification. */
export function servedChain(endpoint: WebhookEndpoint, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: endpoint.host, port: endpoint.port, rejectUnauthorized: false, ...(isIP(endpoint.serverName) === 0 ? { servername: endpoint.serverName } : {}) });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no TLS handshake within ${timeoutMs} ms`)));
    // `on`, not `once`: an error after the handshake (a reset while closing) must not go unhandled.
    socket.on('error', reject);
    socket.once('secureConnect', () => {
      const chain: Uint8Array[] = [];
      const seen = new Set<string>();
      // Node links the peer's chain through issuerCertificate; a self-signed certificate links to itself.
      for (let cert = socket.getPeerCertificate(true); cert?.raw && !seen.has(cert.fingerprint256); cert = cert.issuerCertificate) {
        seen.add(cert.fingerprint256);
        chain.push(new Uint8Array(cert.raw));
      }
      socket.end();
      resolve(chain);
    });
  });
}

const endpointKey = (e: WebhookEndpoint) => `${e.host}|${e.port}|${e.serverName}`;

async function verdictsOf(targets: readonly WebhookTarget[], deps: Required<Pick<CaBundleDeps, 'servedChain'>> & { at: Date }): Promise<Verdict[]> {
  // Webhooks usually share one endpoint: one handshake each.
  const chains = new Map<string, Promise<Uint8Array[]>>();
  for (const t of targets) if (t.endpoint && !chains.has(endpointKey(t.endpoint))) chains.set(endpointKey(t.endpoint), deps.servedChain(t.endpoint));
  return Promise.all(
    targets.map(async (t): Promise<Verdict> => {
      if (!t.endpoint) return { webhook: t.webhook, reason: 'unreachable', problem: t.problem ?? 'no endpoint' };
      let served: Uint8Array[];
      try {
        served = await (chains.get(endpointKey(t.endpoint)) as Promise<Uint8Array[]>);
      } catch (err) {
        return { webhook: t.webhook, reason: 'unreachable', problem: `cannot complete a TLS handshake with ${t.endpoint.host}:${t.endpoint.port}: ${(err as Error).message}` };
      }
      const result = await verifyServingCertificate({ caBundlePem: t.caBundlePem, served, serverName: t.endpoint.serverName, at: deps.at });
      const described = result.leaf ? `sha256:${shortFingerprint(result.leaf.fingerprint)}` : undefined;
      return result.ok
        ? { webhook: t.webhook, reason: 'verified', ...(described ? { served: described } : {}) }
        : { webhook: t.webhook, reason: result.reason, problem: result.message, ...(described ? { served: described } : {}) };
    }),
  );
}

/**
 * Registers linkerd_rotator_ca_bundle_valid on `registry`: one series per webhook of the configuration,
 * 1 when its caBundle verifies the chain its endpoint serves for the name the API server dials, else 0;
 * `reason` says which check failed. None before the configuration is listed, or while it is absent.
 * Concurrent scrapes share one check; a verdict is logged when it changes.
 */
export function registerCaBundleMetric(registry: Registry, deps: CaBundleDeps): void {
  const now = deps.now ?? (() => new Date());
  const dial = deps.servedChain ?? ((endpoint: WebhookEndpoint) => servedChain(endpoint));
  const last = new Map<string, CaBundleReason>();
  let inFlight: Promise<Verdict[]> | undefined;

  const check = (): Promise<Verdict[]> => {
    const targets = deps.source.isSynced() ? deps.source.targets() : undefined;
    if (!targets) return Promise.resolve([]);
    inFlight ??= verdictsOf(targets, { servedChain: dial, at: now() }).finally(() => (inFlight = undefined));
    return inFlight;
  };

  const series = async (): Promise<Array<Series<'webhook' | 'reason'>>> => {
    const verdicts = await check();
    for (const v of verdicts) {
      if (last.get(v.webhook) === v.reason) continue;
      last.set(v.webhook, v.reason);
      const fields = { webhook: v.webhook, reason: v.reason, ...(v.served ? { served: v.served } : {}), ...(v.problem ? { problem: v.problem } : {}) };
      if (v.reason === 'verified') deps.logger.info(fields, "the webhook's caBundle verifies the certificate it serves");
      else deps.logger.warn(fields, "the webhook's caBundle does not verify the certificate it serves");
    }
    return verdicts.map((v) => ({ labels: { webhook: v.webhook, reason: v.reason }, value: v.reason === 'verified' ? 1 : 0 }));
  };

  registry.registerMetric(
    new ViewGauge(
      EXPORTER_METRICS.caBundleValid,
      `1 when the caBundle of each webhook of the chart's ValidatingWebhookConfiguration verifies the certificate chain its endpoint serves, for the name the API server dials (validity, chain, subjectAltName, server auth), 0 when not, by webhook and reason (${CA_BUNDLE_REASONS.join(', ')}); checked at scrape time; absent while the configuration is not listed or does not exist.`,
      ['webhook', 'reason'],
      series,
    ) as unknown as Metric,
  );
}
