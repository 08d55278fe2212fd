// `status` and `check`: one read of the cluster (watch caches, the state ConfigMap, the Lease and
// a dry-run to the injector), shown as text or JSON. `status` exits 0 whatever it finds; `check`
// exits 1 when anything needs attention (unlike `linkerd check`, warnings that matter fail it).
import type { Command } from 'commander';
import { Option } from 'commander';
import { expiryMarginOf, parseState, resolveOptions, type ClusterSnapshot, type FleetAnchorView, type StoredState } from '@linkerd-rotator/rotation';
import type { CommandIO } from '../cli.js';
import { parseClusterConfig, parseDuration, parseParkedFlags, withClusterOptions, withParkedOptions, type ClusterConfig, type ParkedFlags } from '../config.js';
import { EXIT, UsageError } from '../exit.js';
import { parkedRotation } from '../parked.js';
import { buildFleetReport, fleetContexts, fleetExitCode, formatFleetReport, parseFleetFlags, type FleetFlags } from '../fleet-report.js';
import { kubeConfigOf, readContexts, startWatching, withSession, type Session } from '../session.js';
import { buildReport, DEFAULT_THRESHOLDS, formatReport, type CheckThresholds, type StatusReport } from '../status-report.js';

export async function collectStatus(session: Session, options: { thresholds: CheckThresholds; parkedFlags: ParkedFlags }): Promise<StatusReport> {
  return (await readStatus(session, options)).report;
}

/** One read of the cluster for `status`: the report, and the snapshot and stored state it was built from. */
export async function readStatus(session: Session, options: { thresholds: CheckThresholds; parkedFlags: ParkedFlags }): Promise<{ report: StatusReport; snapshot: ClusterSnapshot; stored?: StoredState }> {
  const { adapter, config } = session;
  const [stored, lease] = await Promise.all([adapter.state.read(), adapter.lease.look()]);
  const parsed = parseState(stored?.data);
  await startWatching(session);
  const snapshot = await adapter.reader.readSnapshot();
  const answer = adapter.reader.injector;
  const decideOptions = resolveOptions({
    names: config.names,
    leafLifetimeMs: options.parkedFlags.leafLifetime,
    rollAfterPromote: options.parkedFlags.rollAfterPromote,
    ...(options.parkedFlags.expiryMargin !== undefined ? { expiryMarginMs: options.parkedFlags.expiryMargin } : {}),
  });
  const parked = parsed.ok ? parkedRotation(snapshot, parsed.state, decideOptions) : undefined;
  const report = buildReport({
    snapshot,
    ...(parsed.ok ? { state: parsed.state } : { stateProblem: parsed.message }),
    ...(lease ? { lease } : {}),
    injector: { ...(answer.namespace ? { namespace: answer.namespace } : {}), ...(answer.problem ? { problem: answer.problem } : {}) },
    names: config.names,
    leafLifetimeMs: options.parkedFlags.leafLifetime,
    expiryMarginMs: expiryMarginOf(decideOptions),
    thresholds: options.thresholds,
    ...(parked ? { parked } : {}),
  });
  return { report, snapshot, ...(stored ? { stored } : {}) };
}

/** `check --fleet`: every context exists before any cluster is read (else exit 2), then all are read at once and compared. */
async function checkFleet(config: ClusterConfig, flags: FleetFlags, io: CommandIO, json: boolean): Promise<number> {
  const contexts = fleetContexts(flags);
  for (const context of contexts) kubeConfigOf({ ...config, context });
  const reads = await readContexts(contexts, { command: 'check', config, io, strictInjector: false }, async (session) => {
    await startWatching(session);
    return session.adapter.reader.readSnapshot();
  });
  const views = reads.map((r): FleetAnchorView => ('value' in r ? { cluster: r.context, reachable: true, snapshot: r.value } : { cluster: r.context, reachable: false, error: r.error }));
  const report = buildFleetReport(flags, views);
  io.out(json ? `${JSON.stringify(report)}\n` : formatFleetReport(report));
  return fleetExitCode(report);
}

const collect = (value: string, previous: string[]) => [...previous, value];

function register(name: 'status' | 'check', cli: { program: Command; io: CommandIO; setExitCode: (code: number) => void }): void {
  const { program, io, setExitCode } = cli;
  const command = program
    .command(name)
    .description(
      name === 'status'
        ? 'show the rotation phase, anchors and their expiry, bundles per namespace, issuer chain, injector and stale proxies'
        : 'like status, but exit 1 when something needs attention (expiring anchor or issuer, bundle without the active anchor, stale proxies outside a rotation, a stuck rotation)',
    )
    .option('--output <format>', 'text or json', 'text')
    .option('--verbose', 'list every stale pod')
    .addOption(new Option('--anchor-min-validity <duration>', 'an anchor expiring sooner is a problem').default('720h'))
    .addOption(new Option('--issuer-min-validity <duration>', 'the identity issuer expiring sooner is a problem').default('12h'))
    .addOption(new Option('--stuck-after <duration>', 'a rotation phase older than this, with no run holding the Lease, is stuck').default('6h'));
  if (name === 'check') {
    command
      .option('--fleet', 'compare the anchors of a fleet sharing one trust anchor (docs/multicluster.md): the active anchor and its cross-signature X, every trust bundle and the prepared anchor of each cluster, against the primary')
      .option('--primary <context>', 'with --fleet: the kubeconfig context of the primary cluster, which the others are compared with')
      .option('--member <context>', 'with --fleet: the kubeconfig context of a member cluster (repeat for each)', collect, []);
  }
  withParkedOptions(withClusterOptions(command)).action(async (opts: Record<string, unknown>) => {
    if (opts['output'] !== 'text' && opts['output'] !== 'json') throw new UsageError(`--output must be text or json, got ${String(opts['output'])}`);
    const config = parseClusterConfig(opts);
    const fleet = name === 'check' ? parseFleetFlags(opts) : undefined;
    if (fleet) {
      setExitCode(await checkFleet(config, fleet, io, opts['output'] === 'json'));
      return;
    }
    const parkedFlags = parseParkedFlags(opts);
    const duration = (flag: string, key: string) => {
      try {
        return parseDuration(String(opts[key]));
      } catch (err) {
        throw new UsageError(`--${flag} ${(err as Error).message}`);
      }
    };
    const thresholds: CheckThresholds = {
      anchorMinValidityMs: opts['anchorMinValidity'] ? duration('anchor-min-validity', 'anchorMinValidity') : DEFAULT_THRESHOLDS.anchorMinValidityMs,
      issuerMinValidityMs: opts['issuerMinValidity'] ? duration('issuer-min-validity', 'issuerMinValidity') : DEFAULT_THRESHOLDS.issuerMinValidityMs,
      stuckAfterMs: opts['stuckAfter'] ? duration('stuck-after', 'stuckAfter') : DEFAULT_THRESHOLDS.stuckAfterMs,
    };
    const code = await withSession({ command: name, config, io, strictInjector: false }, async (session) => {
      const report = await collectStatus(session, { thresholds, parkedFlags });
      io.out(opts['output'] === 'json' ? `${JSON.stringify(report)}\n` : formatReport(report, opts['verbose'] === true));
      if (name === 'status') return EXIT.ok;
      return report.findings.some((f) => f.severity === 'problem') ? EXIT.stopped : EXIT.ok;
    });
    setExitCode(code);
  });
}

export function registerStatus(program: Command, io: CommandIO, setExitCode: (code: number) => void): void {
  register('status', { program, io, setExitCode });
}

export function registerCheck(program: Command, io: CommandIO, setExitCode: (code: number) => void): void {
  register('check', { program, io, setExitCode });
}
