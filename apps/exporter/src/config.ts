// Exporter configuration, parsed once at start from flags over environment variables (the chart's
// contract: the flag upper-cased, dashes as underscores) with zod; object names come from libs/names.
import { parseArgs } from 'node:util';
import { MESHED_POD_LABEL } from '@linkerd-rotator/kube';
import { CLUSTER_NAME_PATTERN, DEFAULT_OBJECT_NAMES, nameRowsFor, type ObjectNames } from '@linkerd-rotator/names';
import { z } from 'zod';

/** Every flag the exporter takes besides the object names: flag -> [schema, description]. */
const FLAGS = {
  'metrics-bind-address': [z.string().default('0.0.0.0'), 'address of /metrics, /healthz and /readyz'],
  'metrics-port': [z.coerce.number().int().min(0).max(65535).default(9090), 'port of /metrics, /healthz and /readyz (plain HTTP)'],
  kubeconfig: [z.string().optional(), 'kubeconfig file (default: $KUBECONFIG, else the in-cluster ServiceAccount)'],
  'log-level': [z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'), 'trace, debug, info, warn, error or silent'],
  'exporter-watch-pods': [z.enum(['true', 'false']).default('true'), 'watch meshed pods for the stale-proxy metrics (false drops the cluster-wide pod watch)'],
  'meshed-pod-selector': [z.string().default(MESHED_POD_LABEL), 'label selector of the pods to watch ("" = every pod)'],
  'cluster-name': [
    z.union([z.literal(''), z.string().regex(CLUSTER_NAME_PATTERN, 'must be 1 to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit')]).default(''),
    'label every series cluster="<name>" (the chart\'s fleet.clusterName, docs/multicluster.md; "" = no label)',
  ],
  'webhook-configuration': [z.string().default(''), 'ValidatingWebhookConfiguration whose caBundles are checked against what each webhook serves ("" = no check)'],
} as const;

const NAME_ROWS = nameRowsFor('exporter');

export interface ExporterConfig {
  metricsListen: { address: string; port: number };
  kubeconfig?: string;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';
  names: ObjectNames;
  /** Watch meshed pods (stale-proxy metrics), selected by this label selector ("" = all pods). */
  pods: { watch: boolean; selector: string };
  /** The ValidatingWebhookConfiguration whose caBundles linkerd_rotator_ca_bundle_valid checks; undefined: no check. */
  webhookConfiguration?: string;
  /** The value of the `cluster` label on every series; undefined: no such label. */
  clusterName?: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const NAME_ENV = new Map(NAME_ROWS.map((row) => [row.flag, row.env]));
const envOf = (flag: string) => NAME_ENV.get(flag) ?? flag.replace(/-/g, '_').toUpperCase();

/** Parses flags (`--metrics-port 9090`) over environment (`METRICS_PORT=9090`); throws ConfigError. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ExporterConfig {
  const flags = [...Object.keys(FLAGS), ...NAME_ROWS.map((row) => row.flag)];
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({ args: [...argv], options: Object.fromEntries(flags.map((f) => [f, { type: 'string' as const }])), strict: true, allowPositionals: false })
      .values as Record<string, string | undefined>;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}; run with --help for the flags`);
  }
  const schema = z.object({
    ...(Object.fromEntries(Object.entries(FLAGS).map(([flag, [type]]) => [flag, type])) as { [F in keyof typeof FLAGS]: (typeof FLAGS)[F][0] }),
    ...Object.fromEntries(NAME_ROWS.map((row) => [row.flag, z.string().min(1).default(row.default)])),
  });
  const raw = Object.fromEntries(flags.map((f) => [f, values[f] ?? env[envOf(f)] ?? (f === 'kubeconfig' ? env.KUBECONFIG : undefined)]).filter(([, v]) => v !== undefined));
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`invalid configuration: ${parsed.error.issues.map((i) => `--${String(i.path[0] ?? '')} ${i.message}`).join('; ')}`);
  const c = parsed.data as z.infer<typeof schema> & Record<string, string>;
  return {
    metricsListen: { address: c['metrics-bind-address'], port: c['metrics-port'] },
    ...(c.kubeconfig ? { kubeconfig: c.kubeconfig } : {}),
    logLevel: c['log-level'],
    names: { ...DEFAULT_OBJECT_NAMES, ...Object.fromEntries(NAME_ROWS.map((row) => [row.key, c[row.flag]])) },
    pods: { watch: c['exporter-watch-pods'] === 'true', selector: c['meshed-pod-selector'] },
    ...(c['webhook-configuration'] ? { webhookConfiguration: c['webhook-configuration'] } : {}),
    ...(c['cluster-name'] ? { clusterName: c['cluster-name'] } : {}),
  };
}

/** The flags for --help, each with its environment variable and what it is for. */
export function flagHelp(): string {
  const rows: Array<[string, string]> = [...Object.entries(FLAGS).map(([flag, [, description]]) => [flag, description] as [string, string]), ...NAME_ROWS.map((row) => [row.flag, row.description] as [string, string])];
  return rows.map(([flag, description]) => `  --${flag}  (env ${envOf(flag)})  ${description}`).join('\n');
}
