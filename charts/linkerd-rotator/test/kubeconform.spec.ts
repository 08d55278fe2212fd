// Validates every object the chart renders, for several value sets, against the Kubernetes 1.37
// schemas and the cert-manager, trust-manager and prometheus-operator CRD schemas with kubeconform.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureSchemas, schemaLocationTemplate } from './support/kube-schemas.js';
import { parseObjects, renderText, type Values } from './support/render.js';
import { kubeconformBinary, kubeVersion } from './support/tools.js';

interface Verdict {
  filename: string;
  kind: string;
  name: string;
  status: 'statusValid' | 'statusInvalid' | 'statusError' | 'statusSkipped' | 'statusEmpty';
  msg: string;
}

function kubeconform(manifest: string): Verdict[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kubeconform-'));
  try {
    const file = path.join(dir, 'manifest.yaml');
    writeFileSync(file, manifest);
    const result = spawnSync(
      kubeconformBinary(),
      ['-strict', '-verbose', '-output', 'json', '-kubernetes-version', kubeVersion, '-schema-location', path.join(ensureSchemas(), schemaLocationTemplate), file],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (!result.stdout) throw new Error(`kubeconform printed nothing (exit ${result.status}): ${result.stderr}`);
    return (JSON.parse(result.stdout) as { resources: Verdict[] }).resources;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const everything: Values = {
  monitoring: { serviceMonitor: { enabled: true, relabelings: [{ action: 'replace', targetLabel: 'cluster', replacement: 'a' }] }, prometheusRule: { enabled: true }, dashboard: { enabled: true } },
  networkPolicy: { enabled: true, metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], egress: [{ ports: [{ port: 6443, protocol: 'TCP' }] }] },
  linkerdNamespace: { create: true },
  imagePullSecrets: [{ name: 'registry' }],
  webhook: { tolerations: [{ key: 'infra', operator: 'Exists', effect: 'NoSchedule' }], topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { a: 'b' } } }], servingCertificate: { ipAddresses: ['127.0.0.1'] } },
  runner: { rotation: { timeZone: 'Etc/UTC', gentle: true }, resources: { requests: { cpu: 0.1, memory: '64Mi' }, limits: { memory: '1Gi' } } },
  exporter: {
    image: { repository: 'registry.example/exporter', digest: `sha256:${'b'.repeat(64)}`, pullPolicy: 'Always' },
    tolerations: [{ key: 'infra', operator: 'Exists', effect: 'NoSchedule' }],
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['infra'] }] }] } } },
    nodeSelector: { pool: 'infra' },
    priorityClassName: 'system-cluster-critical',
    podAnnotations: { a: 'b' },
    podLabels: { team: 'platform' },
    watchPods: false,
  },
};

describe('kubeconform (Kubernetes 1.37 and CRD schemas, strict)', () => {
  it.each<[string, Values]>([
    ['default values', {}],
    ['every optional object on', everything],
    ['ClusterBundle, webhook by URL, namespaced dry runs', { pki: { bundle: { kind: 'ClusterBundle' } }, webhook: { clientConfig: { mode: 'url', url: 'https://127.0.0.1:9443/validate' }, caBundle: 'Q0E=' }, rbac: { podDryRun: { mode: 'namespaces', namespaces: ['shop'] } } }],
    ['no exporter and no webhook (the webhook needs the exporter), network policies on', { exporter: { enabled: false }, webhook: { enabled: false }, networkPolicy: { enabled: true } }],
    ['a fleet member (issue 17)', { fleet: { role: 'member', clusterName: 'west' }, pki: { trustAnchor: { enabled: false } } }],
    ['adoption: PKI off, no webhook', { pki: { rootIssuer: { enabled: false }, trustAnchor: { enabled: false }, identityIssuer: { enabled: false }, issuerCertificate: { enabled: false }, bundle: { enabled: false } }, webhook: { enabled: false } }],
  ])('accepts every object rendered with %s', (_name, values) => {
    const manifest = renderText(values);
    const verdicts = kubeconform(manifest);
    expect(verdicts).toHaveLength(parseObjects(manifest).length);
    expect(verdicts.filter((v) => v.status !== 'statusValid').map((v) => `${v.kind}/${v.name}: ${v.status} ${v.msg}`)).toEqual([]);
  });

  it('rejects what the API server would reject (unknown fields, wrong types, bad enums), so a pass means something', () => {
    const broken = [
      renderText({}).replace('concurrencyPolicy: Forbid', 'concurrencyPolicy: Forbid\n  concurrency: 1'),
      'apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: x}\nspec: {secretName: s, issuerRef: {name: i}, privateKey: {algorithm: DSA}}',
      'apiVersion: trust.cert-manager.io/v1alpha1\nkind: Bundle\nmetadata: {name: x}\nspec: {sources: [{secret: {name: a, key: k}}], target: {configMap: {key: k}, namespaceSelectr: {}}}',
      'apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {endpoints: [{port: 9090}], selector: {}}',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two, selector: {}, template: {spec: {containers: []}}}',
    ].join('\n---\n');
    const invalid = kubeconform(broken).filter((v) => v.status === 'statusInvalid');
    expect(invalid.map((v) => v.kind).sort()).toEqual(['Bundle', 'Certificate', 'CronJob', 'Deployment', 'ServiceMonitor']);
    expect(invalid.find((v) => v.kind === 'CronJob')?.msg).toContain("additional properties 'concurrency' not allowed");
  });
});
