// The chart against the one table of object names (libs/names OBJECT_NAME_TABLE): the config ConfigMap
// renders one variable per row with a chart value, values.yaml's defaults are the table's, and no
// template or file of the chart spells a default object name that values.yaml should supply.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { OBJECT_NAME_TABLE } from '@linkerd-rotator/names';
import { only, releaseName, releaseNamespace, render, renderText, type Values } from './support/render.js';
import { chartDir } from './support/tools.js';

const RELEASE_NAMESPACE = '.Release.Namespace';
const configMapName = `${releaseName}-linkerd-rotator-config`;
const chartRows = OBJECT_NAME_TABLE.filter((row): row is (typeof OBJECT_NAME_TABLE)[number] & { chartValue: string } => 'chartValue' in row && row.chartValue !== undefined);
/** Rows whose chart value is a key of values.yaml (all but the release namespace). */
const valueRows = chartRows.filter((row) => row.chartValue !== RELEASE_NAMESPACE);
const valuesYaml = parse(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')) as Values;

function valueAt(values: Values, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((node, key) => (node as Values | undefined)?.[key], values);
}

function withValue(values: Values, dotted: string, value: string): Values {
  const keys = dotted.split('.');
  let node = values;
  for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Values;
  node[keys.at(-1)!] = value;
  return values;
}

const configData = (values: Values = {}) => only(render(values), 'ConfigMap', configMapName)['data'] as Record<string, string>;

describe('the config ConfigMap and OBJECT_NAME_TABLE', () => {
  it('renders exactly one variable per table row with a chart value, under its env, holding the values.yaml default', () => {
    const expected = Object.fromEntries(chartRows.map((row) => [row.env, row.chartValue === RELEASE_NAMESPACE ? releaseNamespace : valueAt(valuesYaml, row.chartValue)]));
    expect(configData()).toEqual(expected);
    expect(Object.keys(expected)).toEqual(expect.arrayContaining(['TRUST_ROOT_ISSUER', 'IDENTITY_CLUSTER_ISSUER', 'STATE_NAMESPACE']));
  });

  it("takes each variable from its row's chart value: renamed in values, each shows up under its env", () => {
    const values: Values = {};
    for (const row of valueRows) withValue(values, row.chartValue, `renamed-${row.env.toLowerCase().replace(/_/g, '-')}`);
    const data = configData(values);
    for (const row of valueRows) expect(`${row.env}=${data[row.env]}`).toBe(`${row.env}=renamed-${row.env.toLowerCase().replace(/_/g, '-')}`);
  });

  it("has values.yaml defaults equal to the table's, and no names.* or namespaces.* key without a row", () => {
    const defaults = valueRows.map((row) => `${row.chartValue}=${String(valueAt(valuesYaml, row.chartValue))}`);
    expect(defaults).toEqual(valueRows.map((row) => `${row.chartValue}=${row.default}`));
    const valueKeys = ['names', 'namespaces'].flatMap((section) => Object.keys(valuesYaml[section] as Values).map((key) => `${section}.${key}`));
    expect(valueKeys.sort()).toEqual(valueRows.map((row) => row.chartValue).sort());
  });
});

describe('default object names live in values.yaml only', () => {
  // `lease` defaults to the chart's own name (linkerd-rotator), which labels and helpers rightly spell.
  const chartName = (parse(readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8')) as { name: string }).name;
  const objectRows = valueRows.filter((row) => row.chartValue.startsWith('names.') && row.default !== chartName);
  const asWord = (name: string) => new RegExp(`(?<![-a-z0-9.])${name.replace(/\./g, '\\.')}(?![-a-z0-9])`);

  it('covers the object names a template could hard-code', () => {
    expect(objectRows.map((row) => row.default)).toEqual(expect.arrayContaining(['linkerd-active-anchor', 'linkerd-identity-issuer', 'linkerd-identity-trust-roots', 'linkerd-trust-root-issuer']));
  });

  it('are spelled in no template and no file of the chart (NOTES.txt, rules and dashboard included)', () => {
    const sources = [
      ...readdirSync(path.join(chartDir, 'templates'), { recursive: true, encoding: 'utf8' }).map((f) => path.join('templates', f)),
      ...readdirSync(path.join(chartDir, 'files')).map((f) => path.join('files', f)),
    ].filter((f) => /\.(ya?ml|tpl|txt|json)$/.test(f));
    expect(sources).toEqual(expect.arrayContaining(['templates/configmap.yaml', 'templates/NOTES.txt', 'files/prometheus-rules.yaml']));
    const found = sources.flatMap((f) => {
      const text = readFileSync(path.join(chartDir, f), 'utf8');
      return objectRows.filter((row) => asWord(row.default).test(text)).map((row) => `${f}: ${row.default}`);
    });
    expect(found).toEqual([]);
  });

  it('are gone from every rendered object once values.yaml renames them', () => {
    const values: Values = {
      monitoring: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, dashboard: { enabled: true } },
      networkPolicy: { enabled: true },
      linkerdNamespace: { create: true },
    };
    for (const row of objectRows) withValue(values, row.chartValue, `renamed-${row.key.toLowerCase()}`);
    const manifest = renderText(values);
    expect(objectRows.filter((row) => asWord(row.default).test(manifest)).map((row) => row.default)).toEqual([]);
    // The same check finds them in a default render, so it can fail.
    const defaults = renderText({ monitoring: { prometheusRule: { enabled: true } } });
    expect(objectRows.filter((row) => !asWord(row.default).test(defaults)).map((row) => row.default)).toEqual([]);
  });
});
