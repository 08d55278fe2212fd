// Prometheus metrics of the webhook: admission requests by resource, operation and verdict, their
// latency, serving-certificate reloads and the served certificate's validity; one registry per
// server so tests stay independent.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { shortFingerprint, type ParsedCertificate } from '@linkerd-rotator/x509';

export type Verdict = 'allowed' | 'denied' | 'error' | 'invalid';

export interface WebhookMetrics {
  registry: Registry;
  requests: Counter<'resource' | 'operation' | 'verdict'>;
  duration: Histogram<'resource' | 'operation'>;
  tlsReloads: Counter<'result'>;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): WebhookMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'linkerd_rotator_admission_requests_total',
      help: 'Admission requests by resource, operation and verdict (allowed, denied, error: internal failure, invalid: malformed request).',
      labelNames: ['resource', 'operation', 'verdict'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'linkerd_rotator_admission_duration_seconds',
      help: 'Time from receiving an admission request body to sending the response.',
      labelNames: ['resource', 'operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    tlsReloads: new Counter({
      name: 'linkerd_rotator_webhook_tls_reloads_total',
      help: 'Serving certificate reloads from disk, by result (loaded, rejected).',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}

/** The exporter's certificate gauges (apps/exporter), of which the webhook reports its own role. */
export const SERVING_CERTIFICATE_METRICS = {
  notAfter: 'linkerd_rotator_certificate_not_after_timestamp_seconds',
  notBefore: 'linkerd_rotator_certificate_not_before_timestamp_seconds',
} as const;

/** Subjects longer than this are cut, as the exporter cuts them. */
const MAX_SUBJECT = 128;

/**
 * The certificate this process serves, as loaded from its files (a replica that did not reload shows
 * its old one), in the exporter's certificate gauges with `role="webhook-serving"` and the release
 * namespace: the PKI exporter reports every other certificate.
 */
export function registerServingCertificate(metrics: WebhookMetrics, served: { leaf: () => ParsedCertificate | undefined; namespace: string }): void {
  const gauge = (name: string, edge: string, time: (leaf: ParsedCertificate) => Date) =>
    new Gauge({
      name,
      help: `${edge} of the certificate this webhook serves, Unix seconds (role webhook-serving; the exporter reports the other roles), by namespace, short SHA-256 fingerprint and subject.`,
      labelNames: ['role', 'namespace', 'fingerprint', 'subject'],
      registers: [metrics.registry],
      collect() {
        this.reset();
        const leaf = served.leaf();
        if (!leaf) return;
        const labels = { role: 'webhook-serving', namespace: served.namespace, fingerprint: shortFingerprint(leaf.fingerprint), subject: leaf.subject.slice(0, MAX_SUBJECT) };
        this.set(labels, Math.floor(time(leaf).getTime() / 1000));
      },
    });
  gauge(SERVING_CERTIFICATE_METRICS.notAfter, 'notAfter (expiry)', (leaf) => leaf.notAfter);
  gauge(SERVING_CERTIFICATE_METRICS.notBefore, 'notBefore (issuance)', (leaf) => leaf.notBefore);
}
