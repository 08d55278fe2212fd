// Webhook configuration, parsed once at start from flags (and the chart's environment variables)
// with zod; every later module receives a typed, validated value. Object names come from libs/names.
import { parseArgs } from 'node:util';
import { DEFAULT_OBJECT_NAMES, nameRowsFor, type ObjectNameKey, type ObjectNames } from '@linkerd-rotator/names';
import { DEFAULT_BUNDLE_LIMITS, type BundleLimits } from '@linkerd-rotator/x509';
import { z } from 'zod';
import { NAMESPACE_CONTROLLER, trustManagerUser } from './decide.js';

const port = z.coerce.number().int().min(0).max(65535);
const positive = z.coerce.number().int().positive();
const NAME_ROWS = nameRowsFor('webhook');

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
  // Empty: trust-manager's ServiceAccount in the trust namespace (trustManagerUser).
  allowOwnerReferencesBy: z.string().optional(),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  ...(Object.fromEntries(NAME_ROWS.map((row) => [row.key, z.string().min(1).default(row.default)])) as Record<ObjectNameKey, z.ZodDefault<z.ZodString>>),
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
  /** Users allowed to change the trust-roots ConfigMap's ownerReferences (trust-manager). */
  allowOwnerReferencesBy: string[];
  logLevel: RawConfig['logLevel'];
  names: ObjectNames;
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
// docs/chart.md: one variable per flag, the flag upper-cased with dashes as underscores; names as libs/names says.
const flagOf = (key: string) => NAME_ROWS.find((row) => row.key === key)?.flag ?? kebab(key);
const envOf = (key: string) => NAME_ROWS.find((row) => row.key === key)?.env ?? kebab(key).replace(/-/g, '_').toUpperCase();

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
      options: Object.fromEntries(keys.map((k) => [flagOf(k), { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | undefined>;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}; run with --help for the flags`);
  }
  const raw: Record<string, string | undefined> = {};
  for (const key of keys) raw[key] = values[flagOf(key)] ?? env[envOf(key)];
  if (raw.kubeconfig === undefined && env.KUBECONFIG) raw.kubeconfig = env.KUBECONFIG;
  const parsed = ConfigSchema.safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `--${flagOf(String(i.path[0] ?? ''))} ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const c = parsed.data;
  const names: ObjectNames = { ...DEFAULT_OBJECT_NAMES, ...Object.fromEntries(NAME_ROWS.map((row) => [row.key, c[row.key]])) };
  return {
    tls: { certFile: c.tlsCertFile, keyFile: c.tlsKeyFile, reloadIntervalMs: c.tlsReloadIntervalMs },
    listen: { address: c.bindAddress, port: c.port },
    metricsListen: { address: c.metricsBindAddress, port: c.metricsPort },
    kubeconfig: c.kubeconfig,
    maxRequestBytes: c.maxRequestBytes,
    limits: { maxBytes: c.maxBundleBytes, maxCertificates: c.maxBundleCertificates, expiryWarningDays: c.expiryWarningDays },
    allowDeleteBy: users(c.allowDeleteBy),
    allowOwnerReferencesBy: c.allowOwnerReferencesBy === undefined || users(c.allowOwnerReferencesBy).length === 0 ? [trustManagerUser(names.trustNamespace)] : users(c.allowOwnerReferencesBy),
    logLevel: c.logLevel,
    names,
  };
}

const users = (list: string): string[] => list.split(',').map((s) => s.trim()).filter((s) => s !== '');

/** Flag names for --help. */
export function flagHelp(): string {
  return (Object.keys(ConfigSchema.shape) as string[]).map((k) => `  --${flagOf(k)}  (env ${envOf(k)})`).join('\n');
}
