// The webhook's own metrics in the chart's dashboard and alert rules: every admission and webhook
// metric they query, and the served certificate's series (role webhook-serving) the certificate
// alert reads, is one this process registers (apps/exporter's dashboard spec checks the PKI metrics).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMetrics, registerServingCertificate } from './metrics.js';

const chartFiles = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../charts/linkerd-rotator/files');
const dashboard = path.join(chartFiles, 'dashboard.json');

/** Every sample name the webhook's registry exposes (histograms as _bucket, _sum and _count). */
function exportedNames(): Set<string> {
  const names = new Set<string>();
  const metrics = createMetrics({ defaultMetrics: false });
  registerServingCertificate(metrics, { leaf: () => undefined, namespace: 'linkerd-rotator' });
  for (const m of metrics.registry.getMetricsAsArray() as unknown as { name: string; type: string }[]) {
    if (m.type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${m.name}${suffix}`);
    else names.add(m.name);
  }
  return names;
}

describe('the Grafana dashboard (charts/linkerd-rotator/files/dashboard.json)', () => {
  it("queries only admission and webhook metrics this process registers", () => {
    const used = new Set([...readFileSync(dashboard, 'utf8').matchAll(/\blinkerd_rotator_(?:admission|webhook)_[a-z_]+/g)].map((m) => m[0]));
    // The check must look at something: the verdict and latency panels.
    expect(used).toContain('linkerd_rotator_admission_requests_total');
    expect(used).toContain('linkerd_rotator_admission_duration_seconds_bucket');
    const exported = exportedNames();
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
  });
});

describe('the alert rules (charts/linkerd-rotator/files/prometheus-rules.yaml)', () => {
  it('read the served certificate from series this process registers', () => {
    const text = readFileSync(path.join(chartFiles, 'prometheus-rules.yaml'), 'utf8');
    const serving = [...text.matchAll(/\b(linkerd_rotator_[a-z_]+)\{role="webhook-serving"\}/g)].map((m) => m[1]);
    expect(serving.length).toBeGreaterThanOrEqual(1);
    const exported = exportedNames();
    expect(serving.filter((n) => !exported.has(n as string))).toEqual([]);
  });
});
