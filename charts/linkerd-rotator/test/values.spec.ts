// The chart's values contract: helm lint, the generated schema and README table kept in sync with
// values.yaml, schema rejection of bad values, and _validate.tpl refusing impossible combinations.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLUSTER_NAME_PATTERN } from '@linkerd-rotator/names';
import { lint, render, renderError, type Values } from './support/render.js';
import { chartDir, repoRoot } from './support/tools.js';

/** Runs `npm run chart:schema -- --check` (the generator, via tsx) against a chart directory. */
function checkSchema(dir: string): { status: number | null; stderr: string } {
  const tsx = path.join(repoRoot, 'node_modules/.bin/tsx');
  return spawnSync(tsx, [path.join(repoRoot, 'scripts/chart-schema.ts'), '--check', '--chart', dir], { encoding: 'utf8', timeout: 60_000 });
}

/** The schema check on a scratch copy of the chart's values.yaml, README and schema, with values.yaml edited. */
function checkEditedValues(edit: (valuesYaml: string) => string): { status: number | null; stderr: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chart-schema-'));
  try {
    for (const f of ['values.yaml', 'README.md', 'values.schema.json']) cpSync(path.join(chartDir, f), path.join(dir, f));
    writeFileSync(path.join(dir, 'values.yaml'), edit(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')));
    return checkSchema(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const nonDefault: Values = {
  namespaces: { trust: 'trust-ns', linkerd: 'mesh' },
  pki: { bundle: { kind: 'ClusterBundle' }, trustAnchor: { duration: '2880h', renewBefore: '1440h' } },
  webhook: { clientConfig: { mode: 'url', url: 'https://127.0.0.1:9443/validate' }, caBundle: 'Y2E=' },
  exporter: { watchPods: false, meshedPodSelector: '', image: { repository: 'registry.example/exporter', tag: '1.0.0' }, replicaCount: 2 },
  rbac: { podDryRun: { mode: 'namespaces', namespaces: ['shop', 'payments'] } },
  monitoring: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, dashboard: { enabled: true } },
  networkPolicy: { enabled: true, egress: [{ ports: [{ port: 6443, protocol: 'TCP' }] }] },
  linkerdNamespace: { create: true },
  argocd: { syncWaves: false },
};

describe('helm lint', () => {
  it('passes --strict with the default values', () => {
    const result = lint();
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('0 chart(s) failed');
  });

  it('passes --strict with every optional piece switched on or changed', () => {
    const result = lint(nonDefault);
    expect(result.stdout).toContain('0 chart(s) failed');
  });
});

describe('values.schema.json and the README values table', () => {
  const read = (file: string) => readFileSync(path.join(chartDir, file), 'utf8');

  it('are what `npm run chart:schema` generates from values.yaml (run it when this fails)', () => {
    const result = checkSchema(chartDir);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('are reported stale when values.yaml changes without regenerating', () => {
    const result = checkEditedValues((v) => v.replace('replicaCount: 2', 'replicaCount: 3'));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('values.schema.json is stale: run `npm run chart:schema`');
  });

  it('close every object of values.yaml (additionalProperties: false) except declared maps', () => {
    const schema = JSON.parse(read('values.schema.json')) as Record<string, unknown>;
    const open: string[] = [];
    const walk = (node: Record<string, unknown>, at: string) => {
      if (node['type'] === 'object' && node['properties']) {
        if (node['additionalProperties'] !== false) open.push(at);
        for (const [k, v] of Object.entries(node['properties'] as Record<string, Record<string, unknown>>)) walk(v, `${at}.${k}`);
      }
    };
    walk(schema, '');
    expect(open).toEqual([]);
  });

  it("checks fleet.clusterName with the exporter's pattern (libs/names CLUSTER_NAME_PATTERN), or empty", () => {
    type Node = { properties: Record<string, Node>; pattern?: string };
    const schema = JSON.parse(read('values.schema.json')) as Node;
    expect(schema.properties['fleet']?.properties['clusterName']?.pattern).toBe(`^(${CLUSTER_NAME_PATTERN.source.slice(1, -1)})?$`);
  });

  it('refuses an undocumented key, so every key keeps a description', () => {
    const result = checkEditedValues((v) => `${v}\nundocumented: 1\n`);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('key "undocumented" has no comment');
  });
});

describe('schema rejection of bad values, with a message naming the key', () => {
  it.each<[string, Values, string[]]>([
    ['a wrong type', { webhook: { replicaCount: 'two' } }, ["at '/webhook/replicaCount'", 'want integer']],
    ['an exporter pull policy Kubernetes does not know', { exporter: { image: { pullPolicy: 'Sometimes' } } }, ["at '/exporter/image/pullPolicy'"]],
    ['a misspelt key', { webhook: { replicaCuont: 2 } }, ["additional properties 'replicaCuont' not allowed"]],
    ['an unknown bundle kind', { pki: { bundle: { kind: 'Bundles' } } }, ["at '/pki/bundle/kind'", "'Bundle', 'ClusterBundle'"]],
    ['a duration cert-manager cannot read', { pki: { trustAnchor: { duration: '1y' } } }, ["at '/pki/trustAnchor/duration'", 'does not match pattern']],
    ['a tag in the digest field', { runner: { image: { digest: 'latest' } } }, ["at '/runner/image/digest'"]],
    ['a webhook timeout above the API server maximum', { webhook: { timeoutSeconds: 31 } }, ["at '/webhook/timeoutSeconds'", 'maximum']],
    ['an object name Kubernetes refuses', { names: { lease: 'Bad_Name' } }, ["at '/names/lease'"]],
    ['an unknown failure policy', { webhook: { failurePolicy: 'Retry' } }, ["at '/webhook/failurePolicy'"]],
    ['a cluster name that is no label value of the fleet', { fleet: { clusterName: 'east 1' } }, ["at '/fleet/clusterName'", 'does not match pattern']],
  ])('%s', (_what, values, messages) => {
    const error = renderError(values);
    expect(error).toContain("values don't meet the specifications of the schema");
    for (const m of messages) expect(error).toContain(m);
  });
});

describe('_validate.tpl refuses impossible combinations and says what to change', () => {
  it.each<[string, Values, string]>([
    ['anchor renewBefore >= duration', { pki: { trustAnchor: { renewBefore: '8760h' } } }, 'pki.trustAnchor.renewBefore (8760h) must be shorter than pki.trustAnchor.duration (8760h)'],
    ['issuer renewBefore >= duration', { pki: { issuerCertificate: { renewBefore: '49h' } } }, 'pki.issuerCertificate.renewBefore (49h) must be shorter'],
    ['issuer outliving the anchor', { pki: { issuerCertificate: { duration: '9000h', renewBefore: '25h' } } }, 'an issuer cannot outlive the anchor'],
    ['rotation threshold beyond the anchor lifetime', { runner: { rotation: { onlyIfOlderThan: '8760h' } } }, 'the active anchor expires before it is rotated'],
    ['an expiry margin not shorter than the anchor lifetime', { runner: { rotation: { expiryMargin: '8760h' } } }, 'runner.rotation.expiryMargin (8760h, 31536000 seconds) must be shorter than pki.trustAnchor.duration (8760h), or every scheduled run starts a rotation'],
    ['a derived expiry margin not shorter than the anchor lifetime', { runner: { rotation: { leafLifetime: '8000h', onlyIfOlderThan: '700h' } } }, 'runner.rotation.expiryMargin (derived, '],
    ['a run deadline within one phase timeout', { runner: { rotation: { activeDeadlineSeconds: 1800 } } }, 'runner.rotation.activeDeadlineSeconds (1800) must exceed runner.rotation.phaseTimeout (30m = 1800 seconds)'],
    ['url mode without a URL', { webhook: { clientConfig: { mode: 'url' } } }, 'webhook.clientConfig.url is empty'],
    ['a URL in service mode', { webhook: { clientConfig: { url: 'https://x/validate' } } }, 'set mode url to use the URL'],
    ['a PDB that blocks every eviction', { webhook: { replicaCount: 1 } }, 'webhook.podDisruptionBudget.minAvailable (1) must be below webhook.replicaCount (1)'],
    ['namespaced dry-run without namespaces', { rbac: { podDryRun: { mode: 'namespaces' } } }, 'rbac.podDryRun.namespaces is empty'],
    ['dry-run namespaces in cluster mode', { rbac: { podDryRun: { namespaces: ['a'] } } }, 'set mode namespaces to use the list'],
    ['monitoring without the exporter', { exporter: { enabled: false }, webhook: { enabled: false }, monitoring: { serviceMonitor: { enabled: true } } }, 'found exporter.enabled false: set exporter.enabled true or turn monitoring off'],
    ['the webhook without the exporter', { exporter: { enabled: false } }, 'webhook.enabled needs exporter.enabled'],
    ['the exporter settings at their old place', { monitoring: { exporter: { watchPods: false } } }, 'monitoring.exporter moved to exporter (the exporter has its own Deployment): expected it empty, found {"watchPods":false}; set exporter.watchPods'],
    ['a ServiceMonitor without its Service', { monitoring: { serviceMonitor: { enabled: true }, metricsService: { enabled: false } } }, 'needs monitoring.metricsService.enabled'],
    ['a scrape timeout above the interval', { monitoring: { serviceMonitor: { enabled: true, interval: '10s', scrapeTimeout: '15s' } } }, 'must not exceed monitoring.serviceMonitor.interval'],
    ['one Secret for two anchors', { names: { previousAnchorSecret: 'linkerd-active-anchor' } }, 'must be three different Secrets'],
    ['an ECDSA anchor on another curve', { pki: { trustAnchor: { size: 2048 } } }, 'Linkerd accepts ECDSA anchors on P-256 only'],
  ])('%s', (_what, values, message) => {
    expect(renderError(values)).toContain(message);
  });

  it('lets monitoring run without the webhook, as long as the exporter runs', () => {
    expect(() => render({ webhook: { enabled: false }, monitoring: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } } })).not.toThrow();
  });

  it('accepts the boundary just inside each duration rule', () => {
    expect(() =>
      render({
        pki: { issuerCertificate: { duration: '48h', renewBefore: '47h59m59s' } },
        runner: { rotation: { phaseTimeout: '30m', activeDeadlineSeconds: 1801, onlyIfOlderThan: '8759h59m59s' } },
      }),
    ).not.toThrow();
    expect(() => render({ runner: { rotation: { expiryMargin: '8759h59m59s' } } })).not.toThrow();
  });
});
