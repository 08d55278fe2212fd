// The webhook's own metrics in the chart's Grafana dashboard: every admission and webhook metric it
// queries is one this process registers (apps/exporter's dashboard spec checks the PKI metrics).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMetrics } from './metrics.js';

const dashboard = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../charts/linkerd-rotator/files/dashboard.json');

/** Every sample name the webhook's registry exposes (histograms as _bucket, _sum and _count). */
function exportedNames(): Set<string> {
  const names = new Set<string>();
  for (const m of createMetrics({ defaultMetrics: false }).registry.getMetricsAsArray() as unknown as { name: string; type: string }[]) {
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
