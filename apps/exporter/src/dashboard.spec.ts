// The chart's Grafana dashboard and alert rules against what this process really exports: valid JSON,
// the datasource as a variable everywhere, and only metric names the exporter's registry registers
// (the webhook's admission metrics are checked against its registry by apps/webhook's dashboard spec).
// Also that docs/metrics.md has a row for every metric the exporter registers.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StaticExporterSource } from '@linkerd-rotator/kube/testing';
import { DEFAULT_OBJECT_NAMES } from '@linkerd-rotator/names';
import { STOP_REASONS } from '@linkerd-rotator/rotation';
import { Registry } from 'prom-client';
import { registerCaBundleMetric } from './ca-bundle.js';
import { EXPORTER_METRICS, registerExporterMetrics } from './metrics.js';

const chartFiles = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../charts/linkerd-rotator/files');

interface Target {
  expr: string;
  datasource?: { type?: string; uid?: string };
  legendFormat?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  templating: { list: { name: string; type: string; query: string; includeAll?: boolean; allValue?: string; multi?: boolean; datasource?: { uid?: string } }[] };
  panels: Panel[];
}

/** The webhook's own metrics (admission, serving-certificate reloads): apps/webhook checks those. */
const WEBHOOK_METRIC = /^linkerd_rotator_(admission|webhook)_/;

/** Every sample name the exporter's registry exposes. */
function exportedNames(): Set<string> {
  const registry = new Registry();
  registerExporterMetrics(registry, {
    source: new StaticExporterSource({ trustRoots: [], pods: [], podsWatched: true }),
    names: DEFAULT_OBJECT_NAMES,
  });
  registerCaBundleMetric(registry, { source: { isSynced: () => false, targets: () => undefined }, logger: { info: () => undefined, warn: () => undefined } });
  return new Set((registry.getMetricsAsArray() as unknown as { name: string }[]).map((m) => m.name));
}

// Keywords, and aggregations (which may be followed by `by (...)` before their parenthesis).
const PROMQL_WORDS = new Set(
  'by without on ignoring group_left group_right and or unless bool offset inf nan sum min max avg count group stddev stdvar topk bottomk quantile count_values limitk limit_ratio'.split(' '),
);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, label names or values, durations. */
function metricNames(expr: string): string[] {
  const cleaned = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '$1'); // label lists
  const names: string[] = [];
  for (const m of cleaned.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?/g)) {
    const word = m[0].replace(/\s*\($/, '');
    if (m[1] !== undefined || PROMQL_WORDS.has(word)) continue;
    names.push(word);
  }
  return names;
}

const dashboard = JSON.parse(readFileSync(path.join(chartFiles, 'dashboard.json'), 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));

describe('metricNames', () => {
  it('finds the metrics of an expression and nothing else', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y"}[5m])))')).toEqual(['a_bucket']);
    expect(metricNames('max without (instance, pod) (b) - time() < 3600 and on () (max(c{phase=~"Idle|Done"}) == 1)')).toEqual(['b', 'c']);
    expect(metricNames('count(d == 0) or vector(0)')).toEqual(['d']);
  });
});

describe('the Grafana dashboard (charts/linkerd-rotator/files/dashboard.json)', () => {
  const exported = exportedNames();

  it('is the linkerd-rotator dashboard with the datasource as a variable', () => {
    expect(dashboard.uid).toBe('linkerd-rotator');
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
  });

  it('queries through the datasource variable in every panel and every target', () => {
    expect(queries.length).toBeGreaterThanOrEqual(12);
    for (const p of panels.filter((x) => x.type !== 'row')) expect(`${p.title}: ${JSON.stringify(p.datasource)}`).toBe(`${p.title}: ${JSON.stringify({ type: 'prometheus', uid: '${datasource}' })}`);
    for (const q of queries) expect(q.datasource?.uid).toBe('${datasource}');
  });

  it("uses only metric names the exporter registry exports, besides the webhook's own", () => {
    const used = new Set(queries.flatMap((q) => metricNames(q.expr)));
    expect([...used].filter((n) => !WEBHOOK_METRIC.test(n) && !exported.has(n))).toEqual([]);
    // The check must look at something: the dashboard does use the exporter's metrics.
    expect(used.size).toBeGreaterThanOrEqual(10);
    expect([...used].filter((n) => exported.has(n)).length).toBeGreaterThanOrEqual(9);
  });

  it('has the panels the issue asks for: remaining life sorted by urgency, phase timeline, stale proxies per namespace, admission verdicts and latency', () => {
    const byTitle = (t: RegExp) => panels.find((p) => t.test(p.title));
    const life = byTitle(/^Remaining life/);
    expect(life?.type).toBe('bargauge');
    expect(life?.targets?.[0]?.expr).toMatch(/^sort\(.*linkerd_rotator_certificate_not_after_timestamp_seconds.*- time\(\)\)$/);
    expect(byTitle(/phase timeline/i)?.type).toBe('state-timeline');
    expect(byTitle(/phase timeline/i)?.targets?.[0]?.expr).toContain(EXPORTER_METRICS.phase);
    expect(byTitle(/^Stale proxies per namespace/)?.targets?.[0]?.legendFormat).toBe('{{namespace}}');
    expect(byTitle(/^Admission verdicts/)?.targets?.[0]?.expr).toContain('linkerd_rotator_admission_requests_total');
    expect(byTitle(/^Admission latency/)?.targets?.map((t) => t.expr).join(' ')).toContain('linkerd_rotator_admission_duration_seconds_bucket');
  });

  it('shows the proxies relying on a cross-signature per namespace, and when the cross-signature expires', () => {
    const relying = panels.find((p) => /^Proxies relying on a cross-signature/.test(p.title));
    expect(relying?.targets?.[0]?.expr).toContain(EXPORTER_METRICS.relyingOnCrossSignature);
    expect(relying?.targets?.[0]?.legendFormat).toBe('{{namespace}}');
    expect(panels.find((p) => /^Cross-signature expires in/.test(p.title))?.targets?.[0]?.expr).toMatch(new RegExp(`${EXPORTER_METRICS.crossSignatureExpiry}.*- time\\(\\)$`));
  });

  it("filters every query by a `cluster` variable over the exporter's cluster label, matching series without the label too", () => {
    const cluster = dashboard.templating.list.find((v) => v.name === 'cluster');
    expect(cluster).toMatchObject({ type: 'query', includeAll: true, multi: true, allValue: '.*', datasource: { uid: '${datasource}' } });
    expect(cluster?.query).toBe(`label_values(${EXPORTER_METRICS.synced}, cluster)`);
    // Prometheus anchors a regex matcher; a series without the label has it empty, which `.*` matches.
    expect(new RegExp(`^(?:${cluster?.allValue})$`).test('')).toBe(true);
    for (const q of queries) {
      const selectors = [...q.expr.matchAll(/\b(linkerd_rotator_[a-z_]+)(\{[^}]*\})?/g)];
      expect(selectors.length).toBeGreaterThan(0);
      for (const m of selectors) expect(`${q.panel}: ${m[0]}`).toMatch(/: linkerd_rotator_[a-z_]+\{cluster=~"\$cluster"(, [^}]+)?\}$/);
    }
  });

  it('gives every panel a unique id', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('the alert rules (charts/linkerd-rotator/files/prometheus-rules.yaml)', () => {
  it('use only metric names the exporter registry exports (and Prometheus\' own up)', () => {
    const exported = exportedNames();
    const text = readFileSync(path.join(chartFiles, 'prometheus-rules.yaml'), 'utf8');
    const used = new Set([...text.matchAll(/\blinkerd_rotator_[a-z_]+/g)].map((m) => m[0]));
    expect(used.size).toBeGreaterThanOrEqual(10);
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
  });
});

describe('the metrics reference (docs/metrics.md)', () => {
  it('documents every metric the exporter registers, each in a row of its table', () => {
    const doc = readFileSync(path.resolve(chartFiles, '../../../docs/metrics.md'), 'utf8');
    const rows = new Set([...doc.matchAll(/^\| `(linkerd_rotator_[a-z_]+)`/gm)].map((m) => m[1]));
    expect(Object.values(EXPORTER_METRICS).filter((name) => !rows.has(name))).toEqual([]);
  });

  it('lists every stop reason of the `reason` label, each also in the table of docs/rotation.md that says when it stops', () => {
    const doc = readFileSync(path.resolve(chartFiles, '../../../docs/metrics.md'), 'utf8');
    const reasonList = doc.slice(doc.indexOf('- `reason`:'), doc.indexOf('### Cardinality'));
    expect(STOP_REASONS.filter((r) => !reasonList.includes(`\`${r}\``))).toEqual([]);
    const rotation = readFileSync(path.resolve(chartFiles, '../../../docs/rotation.md'), 'utf8');
    const tableRows = rotation.split('\n').filter((line) => line.startsWith('| `')).map((line) => line.split(' | ')[0]).join(' ');
    expect(STOP_REASONS.filter((r) => !tableRows.includes(`\`${r}\``))).toEqual([]);
  });
});
