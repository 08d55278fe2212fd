// Cluster-command configuration: flags over environment variables (one per flag, the chart's
// ConfigMap contract in docs/chart.md; object names from libs/names' table), parsed once with zod.
import os from 'node:os';
import { Option, type Command } from 'commander';
import { parseDuration as parseGoDuration } from '@linkerd-rotator/kube/durations';
import { DEFAULT_OBJECT_NAMES, nameRowsFor, type ObjectNames } from '@linkerd-rotator/names';
import { DEFAULT_OPTIONS, formatDuration, rotationNeedMs, type Strategy } from '@linkerd-rotator/rotation';

export { formatDuration };
import { z } from 'zod';
import { UsageError } from './exit.js';

/**
 * A flag's duration: Go's (`720h`, `1h30m`, `90s`, `500ms`; the one parser, `@linkerd-rotator/kube/durations`,
 * which also reads Linkerd's `-identity-issuance-lifetime`) plus `d` for days, never negative; milliseconds.
 */
export function parseDuration(text: string): number {
  let ms: number | undefined;
  try {
    ms = parseGoDuration(text.trim(), { days: true });
  } catch {
    ms = undefined;
  }
  if (ms === undefined || ms < 0) throw new Error(`expected a duration such as 30m, 720h or 1h30m, found "${text}"`);
  return Math.round(ms);
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

/** The object names the runner takes, from the one table (libs/names): flag, env, default, description. */
const NAME_ROWS = nameRowsFor('runner');

/** The state namespace (the release namespace) defaults to the pod's own, POD_NAMESPACE, then the table's. */
const STATE_NAMESPACE_ROW = NAME_ROWS.find((row) => row.key === 'releaseNamespace');

/** Options every cluster command takes besides the names: `[flag, env, description, default]`. */
const CLUSTER_OPTIONS = [
  ['injector-namespace', 'INJECTOR_NAMESPACE', 'namespace for the dry-run pod of the proxy-injector check (default: a meshed namespace)', undefined],
  ['holder', 'POD_NAME', 'identity of this run on the Lease and Events (default: host name and pid)', undefined],
  ['api-timeout', 'API_TIMEOUT', 'how long to retry an unreachable API server before stopping safely', '2m'],
  ['lease-duration', 'LEASE_DURATION', 'Lease duration; renewed at a third of it', '60s'],
  ['log-level', 'LOG_LEVEL', 'trace, debug, info, warn, error', 'info'],
  ['log-format', 'LOG_FORMAT', 'auto (text on a terminal, JSON otherwise), text or json', 'auto'],
] as const;

type OptionRow = readonly [flag: string, env: string, description: string, fallback: string | undefined];

/** Adds the cluster options (flag or environment variable) to a command: kubeconfig, the names, the rest. */
export function withClusterOptions(command: Command): Command {
  const rows: OptionRow[] = [
    ['kubeconfig', 'KUBECONFIG', 'kubeconfig file (default: in-cluster ServiceAccount)', undefined],
    ...NAME_ROWS.map((row): OptionRow => [row.flag, row.env, row.description, row === STATE_NAMESPACE_ROW ? undefined : row.default]),
    ...CLUSTER_OPTIONS,
  ];
  for (const [flag, env, description, fallback] of rows) {
    const option = new Option(`--${flag} <value>`, description).env(env);
    command.addOption(fallback === undefined ? option : option.default(fallback));
  }
  return command;
}

/** The key commander gives a flag's value: `trust-roots-configmap` -> `trustRootsConfigmap`. */
function optionKey(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

const NamesSchema = z.object(Object.fromEntries(NAME_ROWS.map((row) => [optionKey(row.flag), name])));

const ClusterConfigSchema = z.object({
  kubeconfig: z.string().min(1).optional(),
  injectorNamespace: name.optional(),
  holder: z.string().min(1).max(128),
  apiTimeout: duration.pipe(z.number().min(1000, 'must be at least 1s')),
  leaseDuration: duration.pipe(z.number().min(3000, 'must be at least 3s')),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
  logFormat: z.enum(['auto', 'text', 'json']),
});

export interface ClusterConfig {
  kubeconfig?: string;
  /** The kubeconfig context (`check --fleet` sets one per cluster); its current context when unset. */
  context?: string;
  /** Every object name, `names.releaseNamespace` holding the state ConfigMap and the Lease. */
  names: ObjectNames;
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
  const stateNamespaceKey = optionKey(STATE_NAMESPACE_ROW?.flag ?? 'state-namespace');
  const names = NamesSchema.safeParse({ ...values, [stateNamespaceKey]: values[stateNamespaceKey] ?? env['POD_NAMESPACE'] ?? STATE_NAMESPACE_ROW?.default });
  const parsed = ClusterConfigSchema.safeParse({ ...values, holder: values['holder'] ?? `${os.hostname()}-${process.pid}` });
  if (!names.success || !parsed.success) {
    const issues = [...(names.success ? [] : [problems(names.error)]), ...(parsed.success ? [] : [problems(parsed.error)])];
    throw new UsageError(`invalid configuration: ${issues.join('; ')}`);
  }
  const c = parsed.data;
  return {
    ...(c.kubeconfig ? { kubeconfig: c.kubeconfig } : {}),
    names: { ...DEFAULT_OBJECT_NAMES, ...Object.fromEntries(NAME_ROWS.map((row) => [row.key, names.data[optionKey(row.flag)]])) },
    ...(c.injectorNamespace ? { injectorNamespace: c.injectorNamespace } : {}),
    holder: c.holder,
    apiTimeoutMs: c.apiTimeout,
    leaseDurationMs: c.leaseDuration,
    logLevel: c.logLevel,
    logFormat: c.logFormat,
  };
}

/** The engine's strategies (docs/rotation.md, "Strategies"); `--strategy` takes one of these. */
const STRATEGIES = ['cross-signed', 'restart'] as const satisfies readonly Strategy[];

/**
 * A switch that also comes from an environment variable: the flag alone is true; commander passes the
 * variable's text (`ROLL_AFTER_PROMOTE=false` must mean false, not "set"), so only true/false are taken.
 */
const switchValue = z.union([z.boolean(), z.enum(['true', 'false']).transform((text) => text === 'true')], {
  error: (issue) => `expected true or false, found "${String(issue.input)}"; pass the flag alone, or true or false`,
});

const leafLifetime = duration.pipe(z.number().min(1000, 'must be at least 1s')).default(DEFAULT_OPTIONS.leafLifetimeMs);

const RotationSchema = z.object({
  gentle: z.boolean().default(false),
  force: z.boolean().default(false),
  maxConcurrentRollouts: z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').default(5),
  restartConcurrency: z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').default(DEFAULT_OPTIONS.restartConcurrency),
  phaseTimeout: duration.pipe(z.number().min(1000, 'must be at least 1s')).default(30 * 60_000),
  onlyIfOlderThan: duration.optional(),
  leafLifetime,
  strategy: z.enum(STRATEGIES, { error: (issue) => `expected ${STRATEGIES.join(' or ')}, found "${String(issue.input)}"; restart for a compromised anchor (docs/runner.md, "Strategies")` }).default(DEFAULT_OPTIONS.strategy),
  rollAfterPromote: switchValue.default(DEFAULT_OPTIONS.rollAfterPromote),
  crossSignMargin: duration.default(DEFAULT_OPTIONS.crossSignMarginMs),
  expiryMargin: duration.optional(),
  /** A scheduled run recovers an expiry incident itself (chart value recover.auto; `recover` then needs no --yes). */
  recoverAuto: switchValue.default(false),
  recoverConcurrency: z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').default(DEFAULT_OPTIONS.recoverConcurrency),
  recoverLeafGrace: duration.default(DEFAULT_OPTIONS.recoverLeafGraceMs),
});

export type RotationFlags = z.output<typeof RotationSchema>;

/** A duration as Go prints it, whole seconds: `48h`, `1h30m`, `2h0m30s`, `90s` -> `1m30s`. */
function goStyle(ms: number): string {
  const s = Math.round(ms / 1000);
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  if (h === 0 && m === 0) return `${sec}s`;
  return `${h ? `${h}h` : ''}${m || (h && sec) ? `${m}m` : ''}${sec ? `${sec}s` : ''}`;
}

/**
 * The one rule for --leaf-lifetime against the cluster (issue 14): it must be at least Linkerd
 * identity's issuance lifetime (the snapshot's `identityIssuanceLifetimeMs`, read from the identity
 * Deployment's `-identity-issuance-lifetime`), since gentle mode and cross-signed's old-leaves-expired
 * gate wait one --leaf-lifetime for the leaves the old issuer signed to expire. The problem, or
 * undefined (also when identity's lifetime is unknown). `check` reports it; `rotate` should refuse it.
 */
export function leafLifetimeProblem(leafLifetimeMs: number, identityIssuanceLifetimeMs: number | undefined, names: Pick<ObjectNames, 'linkerdNamespace' | 'identityDeployment'>): string | undefined {
  if (identityIssuanceLifetimeMs === undefined || leafLifetimeMs >= identityIssuanceLifetimeMs) return undefined;
  const identity = goStyle(identityIssuanceLifetimeMs);
  return (
    `expected --leaf-lifetime (LEAF_LIFETIME) ${goStyle(leafLifetimeMs)} to be at least Linkerd identity's issuance lifetime ${identity} ` +
    `(-identity-issuance-lifetime of container identity in Deployment ${names.linkerdNamespace}/${names.identityDeployment}), found it shorter: ` +
    "leaves the old issuer signed would outlive what gentle mode and cross-signed's old-leaves-expired gate wait for, and be refused once the old anchor is retired; " +
    `set --leaf-lifetime (chart: runner.rotation.leafLifetime) to ${identity} or more`
  );
}

const expiryMarginOption = () =>
  new Option(
    '--expiry-margin <duration>',
    `start a rotation once the active anchor ends within this, whatever its age (default: twice 5 x --phase-timeout + --leaf-lifetime + 20s clock skew, ${formatDuration(2 * rotationNeedMs(DEFAULT_OPTIONS))} with the defaults)`,
  ).env('EXPIRY_MARGIN');
const leafLifetimeOption = () => new Option('--leaf-lifetime <duration>', "Linkerd's identity issuanceLifetime (gentle mode and cross-signed wait one)").env('LEAF_LIFETIME');
const rollAfterPromoteOption = () =>
  new Option('--roll-after-promote [true|false]', 'cross-signed: restart the data plane once after promotion and finish in one run, instead of ending the run until every old leaf expired').env('ROLL_AFTER_PROMOTE');

/** Options of `rotate` and `plan`. */
export function withRotationOptions(command: Command): Command {
  return command
    .option('--gentle', 'strategy restart (or cross-signed with --roll-after-promote): after promotion, wait one leaf lifetime instead of restarting the data plane')
    .addOption(new Option('--max-concurrent-rollouts <n>', 'workloads restarting at the same time').env('MAX_CONCURRENT_ROLLOUTS'))
    .addOption(
      new Option('--restart-concurrency <n>', `restart requests (patches) in flight at once within one step; bounds the burst of API writes, not the rollouts (default ${DEFAULT_OPTIONS.restartConcurrency})`).env(
        'RESTART_CONCURRENCY',
      ),
    )
    .addOption(new Option('--phase-timeout <duration>', 'deadline of each awaited condition; a missed one stops safely').env('PHASE_TIMEOUT'))
    .addOption(new Option('--only-if-older-than <duration>', 'start only when the active anchor is older than this (or a prepared anchor is waiting)').env('ONLY_IF_OLDER_THAN'))
    .option('--force', 'start a rotation now, whatever the anchors\' age')
    .addOption(leafLifetimeOption())
    .addOption(new Option('--strategy <strategy>', `how a rotation this run starts keeps the mesh whole: ${STRATEGIES.join(' or ')} (default ${DEFAULT_OPTIONS.strategy}; restart for a compromised anchor)`).env('STRATEGY'))
    .addOption(rollAfterPromoteOption())
    .addOption(
      new Option('--cross-sign-margin <duration>', `cross-signed: restart a pod relying on a cross-signature this long before it ends, and at least --expiry-margin before (default ${formatDuration(DEFAULT_OPTIONS.crossSignMarginMs)})`).env('CROSS_SIGN_MARGIN'),
    )
    .addOption(expiryMarginOption())
    .addOption(new Option('--recover-auto [true|false]', 'recover an expiry incident (expired issuer or anchor, active anchor gone) without --yes; the CronJob sets it from chart value recover.auto').env('RECOVER_AUTO'))
    .addOption(new Option('--recover-concurrency <n>', `recover: workloads restarting at the same time (default ${DEFAULT_OPTIONS.recoverConcurrency})`).env('RECOVER_CONCURRENCY'))
    .addOption(
      new Option('--recover-leaf-grace <duration>', `recover, expired issuer: how long proxies get to renew their leaves before their workloads are restarted (default ${formatDuration(DEFAULT_OPTIONS.recoverLeafGraceMs)})`).env('RECOVER_LEAF_GRACE'),
    );
}

/** Validates the values a schema's keys name among a command's values; throws UsageError naming each bad flag. */
function parseOptionValues<Shape extends z.ZodRawShape>(schema: z.ZodObject<Shape>, values: Record<string, unknown>): z.output<z.ZodObject<Shape>> {
  const defined = Object.fromEntries(Object.keys(schema.shape).flatMap((key) => (values[key] === undefined ? [] : [[key, values[key]]])));
  const parsed = schema.safeParse(defined);
  if (!parsed.success) throw new UsageError(`invalid option: ${problems(parsed.error)}`);
  return parsed.data;
}

/** Validates the rotation options among a command's values; throws UsageError naming each bad flag. */
export function parseRotationFlags(values: Record<string, unknown>): RotationFlags {
  return parseOptionValues(RotationSchema, values);
}

const ParkedSchema = z.object({ leafLifetime, rollAfterPromote: switchValue.default(DEFAULT_OPTIONS.rollAfterPromote), expiryMargin: duration.optional() });

/** What `status` and `check` need to tell when a parked rotation resumes (the run's own leaf lifetime and roll choice) and when a rotation is due by expiry. */
export type ParkedFlags = z.output<typeof ParkedSchema>;

/** Options of `status` and `check`: the same variables as the CronJob's, so "waiting until T" is the run's T. */
export function withParkedOptions(command: Command): Command {
  return command.addOption(leafLifetimeOption()).addOption(rollAfterPromoteOption()).addOption(expiryMarginOption());
}

/** Validates the options of withParkedOptions; throws UsageError naming each bad flag. */
export function parseParkedFlags(values: Record<string, unknown>): ParkedFlags {
  return parseOptionValues(ParkedSchema, values);
}
