// Cluster-command configuration: flags over environment variables (one per flag, the chart's
// ConfigMap contract in docs/chart.md), parsed once with zod into a typed value every module uses.
import os from 'node:os';
import { Option, type Command } from 'commander';
import { DEFAULT_ROTATOR_OBJECT_NAMES, type RotatorObjectNames } from '@linkerd-rotator/kube';
import { z } from 'zod';
import { UsageError } from './exit.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Go-style durations (`720h`, `1h30m`, `90s`, `500ms`), plus `d` for days; milliseconds. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(trimmed); m; m = re.exec(trimmed)) {
    total += Number(m[1]) * (UNITS[m[2] as string] as number);
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== trimmed.length) {
    throw new Error(`expected a duration such as 30m, 720h or 1h30m, found "${text}"`);
  }
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', sec || s === 0 ? `${sec}s` : ''].join('');
}

const duration = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const name = z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Kubernetes object name (lower-case letters, digits, "-" and ".")');

/** Options every cluster command takes: `[flag, env, description, default]`. */
const CLUSTER_OPTIONS = [
  ['kubeconfig', 'KUBECONFIG', 'kubeconfig file (default: in-cluster ServiceAccount)', undefined],
  ['trust-namespace', 'TRUST_NAMESPACE', "trust-manager's trust namespace (anchor Secrets)", DEFAULT_ROTATOR_OBJECT_NAMES.trustNamespace],
  ['linkerd-namespace', 'LINKERD_NAMESPACE', "Linkerd's control-plane namespace", DEFAULT_ROTATOR_OBJECT_NAMES.linkerdNamespace],
  ['state-namespace', 'STATE_NAMESPACE', 'namespace of the state ConfigMap and Lease (the release namespace)', undefined],
  ['prepared-anchor-secret', 'PREPARED_ANCHOR_SECRET', 'Secret of the prepared anchor (cert-manager)', DEFAULT_ROTATOR_OBJECT_NAMES.preparedAnchorSecret],
  ['prepared-anchor-certificate', 'PREPARED_ANCHOR_CERTIFICATE', 'Certificate of the prepared anchor', DEFAULT_ROTATOR_OBJECT_NAMES.preparedAnchorCertificate],
  ['active-anchor-secret', 'ACTIVE_ANCHOR_SECRET', 'Secret of the active (signing) anchor', DEFAULT_ROTATOR_OBJECT_NAMES.activeAnchorSecret],
  ['previous-anchor-secret', 'PREVIOUS_ANCHOR_SECRET', 'Secret of the retiring anchor (certificate only)', DEFAULT_ROTATOR_OBJECT_NAMES.previousAnchorSecret],
  ['issuer-secret', 'ISSUER_SECRET', "Linkerd's identity issuer Secret", DEFAULT_ROTATOR_OBJECT_NAMES.issuerSecret],
  ['issuer-certificate', 'ISSUER_CERTIFICATE', "Linkerd's identity issuer Certificate", DEFAULT_ROTATOR_OBJECT_NAMES.issuerCertificate],
  ['trust-roots-configmap', 'TRUST_ROOTS_CONFIGMAP', 'trust-manager target ConfigMap (key ca-bundle.crt)', DEFAULT_ROTATOR_OBJECT_NAMES.trustRootsConfigMap],
  ['state-configmap', 'STATE_CONFIGMAP', 'ConfigMap holding the rotation state', DEFAULT_ROTATOR_OBJECT_NAMES.stateConfigMap],
  ['lease', 'LEASE', 'Lease that keeps two runs apart', DEFAULT_ROTATOR_OBJECT_NAMES.lease],
  ['injector-namespace', 'INJECTOR_NAMESPACE', 'namespace for the dry-run pod of the proxy-injector check (default: a meshed namespace)', undefined],
  ['holder', 'POD_NAME', 'identity of this run on the Lease and Events (default: host name and pid)', undefined],
  ['api-timeout', 'API_TIMEOUT', 'how long to retry an unreachable API server before stopping safely', '2m'],
  ['lease-duration', 'LEASE_DURATION', 'Lease duration; renewed at a third of it', '60s'],
  ['log-level', 'LOG_LEVEL', 'trace, debug, info, warn, error', 'info'],
  ['log-format', 'LOG_FORMAT', 'auto (text on a terminal, JSON otherwise), text or json', 'auto'],
] as const;

/** Adds the cluster options (flag or environment variable) to a command. */
export function withClusterOptions(command: Command): Command {
  for (const [flag, env, description, fallback] of CLUSTER_OPTIONS) {
    const option = new Option(`--${flag} <value>`, description).env(env);
    command.addOption(fallback === undefined ? option : option.default(fallback));
  }
  return command;
}

const ClusterConfigSchema = z.object({
  kubeconfig: z.string().min(1).optional(),
  trustNamespace: name,
  linkerdNamespace: name,
  stateNamespace: name,
  preparedAnchorSecret: name,
  preparedAnchorCertificate: name,
  activeAnchorSecret: name,
  previousAnchorSecret: name,
  issuerSecret: name,
  issuerCertificate: name,
  trustRootsConfigmap: name,
  stateConfigmap: name,
  lease: name,
  injectorNamespace: name.optional(),
  holder: z.string().min(1).max(128),
  apiTimeout: duration.pipe(z.number().min(1000, 'must be at least 1s')),
  leaseDuration: duration.pipe(z.number().min(3000, 'must be at least 3s')),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
  logFormat: z.enum(['auto', 'text', 'json']),
});

export interface ClusterConfig {
  kubeconfig?: string;
  names: RotatorObjectNames;
  stateNamespace: string;
  injectorNamespace?: string;
  holder: string;
  apiTimeoutMs: number;
  leaseDurationMs: number;
  logLevel: z.infer<typeof ClusterConfigSchema>['logLevel'];
  logFormat: 'auto' | 'text' | 'json';
}

function problems(error: z.ZodError): string {
  return error.issues.map((i) => `--${String(i.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${i.message}`).join('; ');
}

/** Validates the commander values of the cluster options; throws UsageError naming each bad flag. */
export function parseClusterConfig(values: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): ClusterConfig {
  const raw = {
    ...values,
    stateNamespace: values['stateNamespace'] ?? env['POD_NAMESPACE'] ?? 'linkerd-rotator',
    holder: values['holder'] ?? `${os.hostname()}-${process.pid}`,
  };
  const parsed = ClusterConfigSchema.safeParse(raw);
  if (!parsed.success) throw new UsageError(`invalid configuration: ${problems(parsed.error)}`);
  const c = parsed.data;
  return {
    ...(c.kubeconfig ? { kubeconfig: c.kubeconfig } : {}),
    names: {
      ...DEFAULT_ROTATOR_OBJECT_NAMES,
      trustNamespace: c.trustNamespace,
      linkerdNamespace: c.linkerdNamespace,
      releaseNamespace: c.stateNamespace,
      preparedAnchorSecret: c.preparedAnchorSecret,
      preparedAnchorCertificate: c.preparedAnchorCertificate,
      activeAnchorSecret: c.activeAnchorSecret,
      previousAnchorSecret: c.previousAnchorSecret,
      issuerSecret: c.issuerSecret,
      issuerCertificate: c.issuerCertificate,
      trustRootsConfigMap: c.trustRootsConfigmap,
      stateConfigMap: c.stateConfigmap,
      lease: c.lease,
    },
    stateNamespace: c.stateNamespace,
    ...(c.injectorNamespace ? { injectorNamespace: c.injectorNamespace } : {}),
    holder: c.holder,
    apiTimeoutMs: c.apiTimeout,
    leaseDurationMs: c.leaseDuration,
    logLevel: c.logLevel,
    logFormat: c.logFormat,
  };
}

const RotationSchema = z.object({
  gentle: z.boolean().default(false),
  force: z.boolean().default(false),
  maxConcurrentRollouts: z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').default(5),
  phaseTimeout: duration.pipe(z.number().min(1000, 'must be at least 1s')).default(30 * 60_000),
  onlyIfOlderThan: duration.optional(),
  leafLifetime: duration.pipe(z.number().min(1000, 'must be at least 1s')).default(24 * 3_600_000),
});

export type RotationFlags = z.output<typeof RotationSchema>;

/** Options of `rotate` and `plan`. */
export function withRotationOptions(command: Command): Command {
  return command
    .option('--gentle', 'after promotion, wait one leaf lifetime instead of restarting the data plane')
    .addOption(new Option('--max-concurrent-rollouts <n>', 'workloads restarting at the same time').env('MAX_CONCURRENT_ROLLOUTS'))
    .addOption(new Option('--phase-timeout <duration>', 'deadline of each awaited condition; a missed one stops safely').env('PHASE_TIMEOUT'))
    .addOption(new Option('--only-if-older-than <duration>', 'start only when the active anchor is older than this (or a prepared anchor is waiting)').env('ONLY_IF_OLDER_THAN'))
    .option('--force', 'start a rotation now, whatever the anchors\' age')
    .addOption(new Option('--leaf-lifetime <duration>', "Linkerd's identity issuanceLifetime (gentle mode waits one)").env('LEAF_LIFETIME'));
}

const ROTATION_KEYS = ['gentle', 'force', 'maxConcurrentRollouts', 'phaseTimeout', 'onlyIfOlderThan', 'leafLifetime'] as const;

/** Validates the rotation options among a command's values; throws UsageError naming each bad flag. */
export function parseRotationFlags(values: Record<string, unknown>): RotationFlags {
  const defined = Object.fromEntries(ROTATION_KEYS.map((k) => [k, values[k]]).filter(([, v]) => v !== undefined));
  const parsed = RotationSchema.safeParse(defined);
  if (!parsed.success) throw new UsageError(`invalid option: ${problems(parsed.error)}`);
  return parsed.data;
}
