// Prometheus metrics of the webhook: admission requests by resource, operation and verdict, their
// latency, and serving-certificate reloads; one registry per server so tests stay independent.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
