// `status` and `check`: one read of the cluster (watch caches, the state ConfigMap, the Lease and
// a dry-run to the injector), shown as text or JSON. `status` exits 0 whatever it finds; `check`
// exits 1 when anything needs attention (unlike `linkerd check`, warnings that matter fail it).
import type { Command } from 'commander';
import { Option } from 'commander';
import { expiryMarginOf, parseState, resolveOptions } from '@linkerd-rotator/rotation';
import type { CommandIO } from '../cli.js';
import { parseClusterConfig, parseDuration, parseParkedFlags, withClusterOptions, withParkedOptions, type ParkedFlags } from '../config.js';
import { EXIT, UsageError } from '../exit.js';
import { parkedRotation } from '../parked.js';
import { startWatching, withSession, type Session } from '../session.js';
import { buildReport, DEFAULT_THRESHOLDS, formatReport, type CheckThresholds, type StatusReport } from '../status-report.js';

export async function collectStatus(session: Session, options: { thresholds: CheckThresholds; parkedFlags: ParkedFlags }): Promise<StatusReport> {
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
  return buildReport({
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
}

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
  withParkedOptions(withClusterOptions(command)).action(async (opts: Record<string, unknown>) => {
    if (opts['output'] !== 'text' && opts['output'] !== 'json') throw new UsageError(`--output must be text or json, got ${String(opts['output'])}`);
    const config = parseClusterConfig(opts);
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
