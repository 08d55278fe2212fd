// Renders the chart with `helm template` (or lints it) for a set of values and returns the parsed
// objects, or helm's error text for values the chart must refuse.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { chartDir, helmBinary, kubeVersion } from './tools.js';

export const releaseName = 'rot';
export const releaseNamespace = 'linkerd-rotator';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export type Values = Record<string, unknown>;

interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

let helm: string | undefined;

function runHelm(args: string[], values: Values): HelmResult {
  helm ??= helmBinary();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chart-values-'));
  try {
    const valuesFile = path.join(dir, 'values.json');
    writeFileSync(valuesFile, JSON.stringify(values));
    const result = spawnSync(helm, [...args, '-f', valuesFile], { encoding: 'utf8', timeout: 60_000 });
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function templateArgs(extra: string[]): string[] {
  return ['template', releaseName, chartDir, '--namespace', releaseNamespace, '--kube-version', kubeVersion, ...extra];
}

/** The rendered manifest text (hooks and the helm test pod included). */
export function renderText(values: Values = {}): string {
  const result = runHelm(templateArgs([]), values);
  if (result.status !== 0) throw new Error(`helm template failed for values ${JSON.stringify(values)}:\n${result.stderr}`);
  return result.stdout;
}

export function parseObjects(manifest: string): K8sObject[] {
  return parseAllDocuments(manifest)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

export function render(values: Values = {}): K8sObject[] {
  return parseObjects(renderText(values));
}

/** helm's error output for values the chart must refuse; throws when the render succeeds. */
export function renderError(values: Values): string {
  const result = runHelm(templateArgs([]), values);
  if (result.status === 0) throw new Error(`expected helm template to fail for values ${JSON.stringify(values)}, but it rendered`);
  return result.stderr;
}

export function lint(values: Values = {}): HelmResult {
  return runHelm(['lint', chartDir, '--strict', '--namespace', releaseNamespace, '--kube-version', kubeVersion], values);
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

export function only(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = find(objects, kind, name);
  if (found.length !== 1) {
    const have = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new Error(`expected exactly one ${kind}${name ? `/${name}` : ''}, found ${found.length} among: ${have}`);
  }
  return found[0]!;
}
