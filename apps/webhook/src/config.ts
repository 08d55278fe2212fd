// Webhook configuration, parsed once at start from flags (and the chart's environment variables)
// with zod; every later module receives a typed, validated value.
import { parseArgs } from 'node:util';
import { DEFAULT_TRUST_OBJECT_NAMES, MESHED_POD_LABEL, type TrustObjectNames } from '@linkerd-rotator/kube';
import { DEFAULT_BUNDLE_LIMITS, type BundleLimits } from '@linkerd-rotator/x509';
import { z } from 'zod';
import { NAMESPACE_CONTROLLER } from './decide.js';

const port = z.coerce.number().int().min(0).max(65535);
const positive = z.coerce.number().int().positive();
const name = z.string().min(1);

export const ConfigSchema = z.object({
  tlsCertFile: z.string().min(1, 'is required (path of the serving certificate, PEM)'),
  tlsKeyFile: z.string().min(1, 'is required (path of the serving key, PEM)'),
  tlsReloadIntervalMs: positive.default(5000),
  bindAddress: z.string().default('0.0.0.0'),
  port: port.default(8443),
  metricsBindAddress: z.string().default('0.0.0.0'),
  metricsPort: port.default(8080),
  kubeconfig: z.string().optional(),
  maxRequestBytes: positive.default(3 * 1024 * 1024),
  maxBundleBytes: positive.default(DEFAULT_BUNDLE_LIMITS.maxBytes),
  maxBundleCertificates: positive.default(DEFAULT_BUNDLE_LIMITS.maxCertificates),
  expiryWarningDays: positive.default(DEFAULT_BUNDLE_LIMITS.expiryWarningDays),
  allowDeleteBy: z.string().default(NAMESPACE_CONTROLLER),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  trustNamespace: name.default(DEFAULT_TRUST_OBJECT_NAMES.trustNamespace),
  linkerdNamespace: name.default(DEFAULT_TRUST_OBJECT_NAMES.linkerdNamespace),
  stateNamespace: name.default(DEFAULT_TRUST_OBJECT_NAMES.releaseNamespace),
  preparedAnchorSecret: name.default(DEFAULT_TRUST_OBJECT_NAMES.preparedAnchorSecret),
  activeAnchorSecret: name.default(DEFAULT_TRUST_OBJECT_NAMES.activeAnchorSecret),
  previousAnchorSecret: name.default(DEFAULT_TRUST_OBJECT_NAMES.previousAnchorSecret),
  issuerSecret: name.default(DEFAULT_TRUST_OBJECT_NAMES.issuerSecret),
  trustRootsConfigmap: name.default(DEFAULT_TRUST_OBJECT_NAMES.trustRootsConfigMap),
  trustRootsKey: name.default(DEFAULT_TRUST_OBJECT_NAMES.trustRootsKey),
  stateConfigmap: name.default(DEFAULT_TRUST_OBJECT_NAMES.stateConfigMap),
  exporterWatchPods: z.enum(['true', 'false']).default('true'),
  meshedPodSelector: z.string().default(MESHED_POD_LABEL),
});

export type RawConfig = z.infer<typeof ConfigSchema>;

export interface WebhookConfig {
  tls: { certFile: string; keyFile: string; reloadIntervalMs: number };
  listen: { address: string; port: number };
  metricsListen: { address: string; port: number };
  kubeconfig?: string;
  maxRequestBytes: number;
  limits: BundleLimits;
  allowDeleteBy: string[];
  logLevel: RawConfig['logLevel'];
  names: TrustObjectNames;
  /** The PKI health exporter: watch meshed pods (stale-proxy metrics), selected by this label selector ("" = all pods). */
  exporter?: { watchPods: boolean; meshedPodSelector: string };
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
// docs/chart.md: one variable per flag, the flag upper-cased with dashes as underscores.
const envName = (key: string) => kebab(key).replace(/-/g, '_').toUpperCase();

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses flags (`--tls-cert-file x`) over environment (`TLS_CERT_FILE=x`); throws ConfigError. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): WebhookConfig {
  const keys = Object.keys(ConfigSchema.shape) as Array<keyof RawConfig>;
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: Object.fromEntries(keys.map((k) => [kebab(k), { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | undefined>;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}; run with --help for the flags`);
  }
  const raw: Record<string, string | undefined> = {};
  for (const key of keys) raw[key] = values[kebab(key)] ?? env[envName(key)];
  if (raw.kubeconfig === undefined && env.KUBECONFIG) raw.kubeconfig = env.KUBECONFIG;
  const parsed = ConfigSchema.safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `--${kebab(String(i.path[0] ?? ''))} ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const c = parsed.data;
  return {
    tls: { certFile: c.tlsCertFile, keyFile: c.tlsKeyFile, reloadIntervalMs: c.tlsReloadIntervalMs },
    listen: { address: c.bindAddress, port: c.port },
    metricsListen: { address: c.metricsBindAddress, port: c.metricsPort },
    kubeconfig: c.kubeconfig,
    maxRequestBytes: c.maxRequestBytes,
    limits: { maxBytes: c.maxBundleBytes, maxCertificates: c.maxBundleCertificates, expiryWarningDays: c.expiryWarningDays },
    allowDeleteBy: c.allowDeleteBy.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    logLevel: c.logLevel,
    names: {
      trustNamespace: c.trustNamespace,
      linkerdNamespace: c.linkerdNamespace,
      releaseNamespace: c.stateNamespace,
      preparedAnchorSecret: c.preparedAnchorSecret,
      activeAnchorSecret: c.activeAnchorSecret,
      previousAnchorSecret: c.previousAnchorSecret,
      issuerSecret: c.issuerSecret,
      trustRootsConfigMap: c.trustRootsConfigmap,
      trustRootsKey: c.trustRootsKey,
      stateConfigMap: c.stateConfigmap,
    },
    exporter: { watchPods: c.exporterWatchPods === 'true', meshedPodSelector: c.meshedPodSelector },
  };
}

/** Flag names for --help. */
export function flagHelp(): string {
  return (Object.keys(ConfigSchema.shape) as string[]).map((k) => `  --${kebab(k)}  (env ${envName(k)})`).join('\n');
}
