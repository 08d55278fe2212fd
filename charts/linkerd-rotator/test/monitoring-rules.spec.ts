// The PrometheusRule as the chart renders it: `promtool check rules` and `promtool test rules` over
// tests/promtool (every alert and severity has a case that fires and one that must not), thresholds
// from values, render-time refusals. promtool is built from the Prometheus Go module on first use.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { parseDuration } from '@linkerd-rotator/kube/durations';
import { expiryMarginOf, resolveOptions, rotationNeedMs } from '@linkerd-rotator/rotation';
import { only, render, renderError, type Values } from './support/render.js';
import { chartDir, repoRoot } from './support/tools.js';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface Group {
  name: string;
  rules: Rule[];
}
interface PromtoolTest {
  name: string;
  alert_rule_test?: { eval_time: string; alertname: string; exp_alerts: { exp_labels?: Record<string, string> }[] }[];
}

const testsDir = path.join(chartDir, 'tests/promtool');
const testFiles = readdirSync(testsDir).filter((f) => f.endsWith('.test.yaml'));

/** Builds promtool with tools/promtool/build.sh (cached per machine) and returns its path. */
function promtoolBinary(): string {
  const out = execFileSync('bash', [path.join(chartDir, 'tools/promtool/build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 30 * 60_000 });
  const line = out.split('\n').find((l) => l.startsWith('promtool='));
  if (!line) throw new Error(`tools/promtool/build.sh printed no "promtool=<path>" line; it printed: ${out}`);
  return line.slice('promtool='.length);
}

/** The PrometheusRule's spec as `helm template` renders it for these values. */
function renderedRules(values: Values = {}): { groups: Group[] } {
  const merged = { ...values, monitoring: { ...((values['monitoring'] as Values) ?? {}), prometheusRule: { enabled: true, ...(((values['monitoring'] as Values)?.['prometheusRule'] as Values) ?? {}) } } };
  return only(render(merged), 'PrometheusRule')['spec'] as { groups: Group[] };
}

/** Runs promtool over the rendered rules and the test files, in a scratch directory. */
function promtool(promtoolPath: string, spec: { groups: Group[] }, args: (files: string[]) => string[]): { status: number; output: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'promtool-'));
  try {
    writeFileSync(path.join(dir, 'rules.yaml'), stringify(spec));
    for (const f of testFiles) copyFileSync(path.join(testsDir, f), path.join(dir, f));
    const result = spawnSync(promtoolPath, args(testFiles), { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let promtoolPath: string;
const defaults = renderedRules();
const rules = defaults.groups.flatMap((g) => g.rules);

beforeAll(() => {
  promtoolPath = promtoolBinary();
}, 30 * 60_000);

describe('the rendered PrometheusRule', () => {
  it('passes promtool check rules (syntax and lint)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'promtool-'));
    try {
      writeFileSync(path.join(dir, 'rules.yaml'), stringify(defaults));
      const result = spawnSync(promtoolPath, ['check', 'rules', 'rules.yaml'], { cwd: dir, encoding: 'utf8' });
      expect(result.stdout + result.stderr).toContain(`SUCCESS: ${rules.length} rules found`);
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes every rule unit test in tests/promtool', () => {
    const result = promtool(promtoolPath, defaults, (files) => ['test', 'rules', ...files]);
    expect(result.output).not.toContain('FAILED');
    expect(result.output.match(/SUCCESS/g)).toHaveLength(testFiles.length);
    expect(result.status).toBe(0);
  });

  it('fails those tests when a threshold moves by one second (the tests pin the boundaries)', () => {
    const moved = renderedRules({ monitoring: { prometheusRule: { anchorExpiryCritical: '167h59m59s' } } });
    const result = promtool(promtoolPath, moved, (files) => ['test', 'rules', ...files]);
    expect(result.status).not.toBe(0);
    expect(result.output).toContain('alertname: LinkerdRotatorTrustAnchorExpiring');
  });

  it('has, for every alert and severity, a test where it fires and a test where it must not', () => {
    const fires = new Set<string>();
    const quiet = new Set<string>();
    for (const file of testFiles) {
      const doc = parse(readFileSync(path.join(testsDir, file), 'utf8')) as { rule_files: string[]; tests: PromtoolTest[] };
      expect(doc.rule_files).toEqual(['rules.yaml']);
      for (const t of doc.tests) {
        for (const a of t.alert_rule_test ?? []) {
          if (a.exp_alerts.length === 0) quiet.add(a.alertname);
          for (const e of a.exp_alerts) fires.add(`${a.alertname}/${e.exp_labels?.['severity']}`);
        }
      }
    }
    const expected = [...new Set(rules.map((r) => `${r.alert}/${r.labels['severity']}`))].sort();
    expect([...fires].sort()).toEqual(expected);
    expect([...quiet].sort()).toEqual([...new Set(rules.map((r) => r.alert))].sort());
  });

  it('gives every alert a severity, a summary, a description and a runbook that says what to check and what to run', () => {
    const names = [...new Set(rules.map((r) => r.alert))];
    expect(names.sort()).toEqual([
      'LinkerdRotatorActiveAnchorRotationDue',
      'LinkerdRotatorBundleMissingActiveAnchor',
      'LinkerdRotatorBundleMissingIssuerAnchor',
      'LinkerdRotatorExporterAbsent',
      'LinkerdRotatorIdentityIssuerExpiring',
      'LinkerdRotatorPreparedAnchorWaiting',
      'LinkerdRotatorProxiesRelyOnCrossSignature',
      'LinkerdRotatorRotationFailed',
      'LinkerdRotatorRotationStuck',
      'LinkerdRotatorStaleProxies',
      'LinkerdRotatorTrustAnchorExpiring',
      'LinkerdRotatorWebhookCaBundleInvalid',
      'LinkerdRotatorWebhookCertificateExpiring',
    ]);
    for (const r of rules) {
      expect(['warning', 'critical']).toContain(r.labels['severity']);
      expect(r.annotations['summary']).toMatch(/\.$/);
      expect(r.annotations['description']!.length).toBeGreaterThan(60);
      expect(r.annotations['runbook_url']).toBe(`https://github.com/linkerd-rotator/linkerd-rotator/blob/main/docs/runbooks/${r.alert}.md`);
      const runbook = readFileSync(path.join(repoRoot, 'docs/runbooks', `${r.alert}.md`), 'utf8');
      expect(runbook).toMatch(/## What to check/);
      expect(runbook).toMatch(/## What to do/);
      expect(runbook).toMatch(/npm run rotator -- (status|check|rotate)|kubectl /);
      expect(runbook).not.toMatch(/stub|land with issue 7/i);
    }
  });

  it('puts the values that fired an alert in its description', () => {
    // Two rules have nothing to report but that they hold: no scrape at all, and an unreadable state.
    for (const r of rules.filter((x) => !x.expr.startsWith('absent(') && x.labels['reason'] !== 'state-invalid')) {
      expect(`${r.alert}: ${r.annotations['description']}`).toMatch(/\{\{ \$(value|labels\.[a-z]+)( \| humanize[A-Za-z]*)? \}\}/);
    }
  });
});

describe('thresholds are chart values', () => {
  it('renders each threshold in seconds into the expressions, and each duration into the texts', () => {
    const custom = renderedRules({
      pki: { issuerCertificate: { renewBefore: '30h' } },
      monitoring: {
        prometheusRule: {
          anchorExpiryWarning: '1000h',
          anchorExpiryCritical: '100h',
          renewalMargin: '2h',
          issuerExpiryCritical: '3h',
          webhookCertificateExpiryCritical: '12h',
          preparedAnchorWaiting: '10h',
          rotationStuckAfter: '2h30m',
          staleProxiesFor: '15m',
          webhookCaBundleInvalidFor: '20m',
        },
      },
    });
    const by = (alert: string, severity?: string) => custom.groups.flatMap((g) => g.rules).filter((r) => r.alert === alert && (!severity || r.labels['severity'] === severity));
    expect(by('LinkerdRotatorTrustAnchorExpiring', 'warning')[0]!.expr).toContain('< 3600000');
    expect(by('LinkerdRotatorTrustAnchorExpiring', 'critical')[0]!.expr).toContain('< 360000');
    expect(by('LinkerdRotatorIdentityIssuerExpiring', 'warning')[0]!.expr).toContain(`< ${28 * 3600}`);
    expect(by('LinkerdRotatorIdentityIssuerExpiring', 'critical')[0]!.expr).toContain('< 10800');
    expect(by('LinkerdRotatorWebhookCertificateExpiring', 'warning')[0]!.expr).toContain(`< ${718 * 3600}`);
    expect(by('LinkerdRotatorWebhookCertificateExpiring', 'critical')[0]!.expr).toContain('< 43200');
    expect(by('LinkerdRotatorPreparedAnchorWaiting')[0]!.expr).toContain('> 36000');
    expect(by('LinkerdRotatorRotationStuck')[0]!.expr).toContain('> 9000');
    expect(by('LinkerdRotatorStaleProxies')[0]!.for).toBe('15m');
    expect(by('LinkerdRotatorWebhookCaBundleInvalid')[0]!.for).toBe('20m');
    expect(by('LinkerdRotatorIdentityIssuerExpiring', 'critical')[0]!.annotations['summary']).toContain('3h');
  });

  it.each<[string, Values, string]>([
    ['a warning not above its critical threshold', { monitoring: { prometheusRule: { enabled: true, anchorExpiryWarning: '168h' } } }, 'anchorExpiryWarning (168h) must be longer than anchorExpiryCritical (168h)'],
    ['an issuer margin that swallows the warning window', { monitoring: { prometheusRule: { enabled: true, renewalMargin: '19h' } } }, 'must be longer than monitoring.prometheusRule.issuerExpiryCritical'],
    ['a webhook critical threshold above its renewal window', { monitoring: { prometheusRule: { enabled: true, webhookCertificateExpiryCritical: '720h' } } }, 'webhookCertificateExpiryCritical (720h)'],
  ])('refuses %s at render time', (_what, values, message) => {
    expect(renderError(values)).toContain(message);
  });

  it("alerts on pods relying on a cross-signature from the runner's own margin (runner.rotation.crossSignMargin), critical at half of it", () => {
    const by = (severity: string) =>
      renderedRules({ runner: { rotation: { crossSignMargin: '100h' } } })
        .groups.flatMap((g) => g.rules)
        .find((r) => r.alert === 'LinkerdRotatorProxiesRelyOnCrossSignature' && r.labels['severity'] === severity)!;
    expect(by('warning').expr).toContain('time() < 360000');
    expect(by('warning').expr).toContain('time() >= 180000');
    expect(by('critical').expr).toContain('time() < 180000');
    expect(by('warning').annotations['summary']).toContain('100h');
  });

  it("warns on the active anchor from the runner's own expiry margin and is critical under one rotation's need: the chart's figures are libs/rotation's", () => {
    const by = (values: Values, severity: string) =>
      renderedRules(values)
        .groups.flatMap((g) => g.rules)
        .find((r) => r.alert === 'LinkerdRotatorActiveAnchorRotationDue' && r.labels['severity'] === severity)!;
    for (const [phaseTimeout, leafLifetime] of [['30m', '24h'], ['10m', '2h'], ['1h30m', '48h']] as const) {
      const engine = resolveOptions({ phaseTimeoutMs: parseDuration(phaseTimeout), leafLifetimeMs: parseDuration(leafLifetime) });
      const values = { runner: { rotation: { phaseTimeout, leafLifetime, activeDeadlineSeconds: 6 * 3600 } } };
      expect(by(values, 'critical').expr).toContain(`time() < ${rotationNeedMs(engine) / 1000}`);
      expect(by(values, 'warning').expr).toContain(`time() < ${expiryMarginOf(engine) / 1000}`);
    }
    const given = { runner: { rotation: { expiryMargin: '240h' } } };
    expect(by(given, 'warning').expr).toContain(`time() < ${expiryMarginOf(resolveOptions({ expiryMarginMs: 240 * 3_600_000 })) / 1000}`);
  });

  it('never calls gentle mode\'s one-leaf-lifetime wait in Promote stuck: the threshold is then at least 25h', () => {
    const stuck = (values: Values) => renderedRules(values).groups.flatMap((g) => g.rules).find((r) => r.alert === 'LinkerdRotatorRotationStuck')!;
    expect(stuck({ runner: { rotation: { gentle: true } } }).expr).toContain('> 90000');
    expect(stuck({ runner: { rotation: { gentle: true } } }).annotations['summary']).toContain('25h');
    expect(stuck({ runner: { rotation: { gentle: true } }, monitoring: { prometheusRule: { rotationStuckAfter: '30h' } } }).expr).toContain('> 108000');
    expect(stuck({}).expr).toContain('> 21600');
  });
});

describe('the promtool build module', () => {
  it('pins a Prometheus release and never commits the binary', () => {
    const mod = readFileSync(path.join(chartDir, 'tools/promtool/go.mod'), 'utf8');
    expect(mod).toMatch(/github\.com\/prometheus\/prometheus v0\.316\.0/);
    expect(existsSync(path.join(chartDir, 'tools/promtool/promtool'))).toBe(false);
    const version = spawnSync(promtoolPath, ['--version'], { encoding: 'utf8' });
    expect(version.stdout).toContain('promtool, version 3.16.0');
  });
});
